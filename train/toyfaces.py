"""Toy faces: the built-in data set, procedurally drawn cartoon faces with known attributes.

Face `i` of seed `s` is drawn from `numpy.random.RandomState([s, i])`, so a face never depends on
how many others are drawn. Every face carries its attributes (the data set's API): later work
checks the DCGAN paper's latent arithmetic against them.

>>> faces = make_toyfaces(4, seed=0, image_size=64)
>>> faces.images.shape, faces.images.dtype
((4, 64, 64, 3), dtype('uint8'))
>>> {"glasses", "hair", "smiling"} <= set(faces.attributes)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

HAIR = {
    "black": (30, 25, 25),
    "brown": (110, 65, 30),
    "blonde": (225, 190, 100),
    "red": (180, 60, 30),
    "grey": (160, 160, 165),
}
SKIN = {"light": (250, 220, 195), "tan": (225, 180, 140), "brown": (170, 115, 80), "dark": (105, 70, 50)}
BACKGROUND = {
    "sky": (135, 185, 230),
    "mint": (170, 220, 180),
    "peach": (245, 200, 170),
    "lilac": (200, 180, 225),
    "white": (240, 240, 240),
}
ATTRIBUTE_VALUES = {"hair": tuple(HAIR), "skin": tuple(SKIN), "background": tuple(BACKGROUND)}


@dataclass(frozen=True)
class ToyFaces:
    images: np.ndarray  # uint8 (N, H, W, C)
    attributes: dict[str, np.ndarray]  # per image: smiling, glasses (bool); hair, skin, background (str); dx, dy, scale


def draw_face(seed: int, index: int, image_size: int = 64) -> tuple[Image.Image, dict]:
    """One RGB face and its attributes, drawn at 4x and downsampled (anti-aliased)."""
    rng = np.random.RandomState([seed, index])
    a = {
        "smiling": bool(rng.rand() < 0.5),
        "glasses": bool(rng.rand() < 0.5),
        "hair": ATTRIBUTE_VALUES["hair"][rng.randint(len(HAIR))],
        "skin": ATTRIBUTE_VALUES["skin"][rng.randint(len(SKIN))],
        "background": ATTRIBUTE_VALUES["background"][rng.randint(len(BACKGROUND))],
        "dx": float(rng.uniform(-0.06, 0.06)),
        "dy": float(rng.uniform(-0.05, 0.05)),
        "scale": float(rng.uniform(0.88, 1.08)),
    }
    r = 4 * image_size  # render size
    img = Image.new("RGB", (r, r), BACKGROUND[a["background"]])
    d = ImageDraw.Draw(img)
    cx, cy, s = (0.5 + a["dx"]) * r, (0.54 + a["dy"]) * r, a["scale"] * r

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:  # face-relative units -> pixels
        return [cx + x0 * s, cy + y0 * s, cx + x1 * s, cy + y1 * s]

    hair, skin = HAIR[a["hair"]], SKIN[a["skin"]]
    d.ellipse(box(-0.36, -0.46, 0.36, 0.22), fill=hair)  # hair behind the head
    d.ellipse(box(-0.40, -0.02, -0.26, 0.14), fill=skin)  # ears
    d.ellipse(box(0.26, -0.02, 0.40, 0.14), fill=skin)
    d.ellipse(box(-0.30, -0.34, 0.30, 0.40), fill=skin)  # head
    d.chord(box(-0.31, -0.40, 0.31, 0.02), 180, 360, fill=hair)  # fringe
    for ex in (-0.12, 0.12):  # eyes
        d.ellipse(box(ex - 0.055, 0.02, ex + 0.055, 0.10), fill=(250, 250, 250))
        d.ellipse(box(ex - 0.025, 0.035, ex + 0.025, 0.085), fill=(40, 30, 30))
    if a["glasses"]:
        w = max(1, round(0.022 * s))
        for ex in (-0.12, 0.12):
            d.ellipse(box(ex - 0.095, -0.015, ex + 0.095, 0.135), outline=(20, 20, 20), width=w)
        d.line(box(-0.025, 0.05, 0.025, 0.05), fill=(20, 20, 20), width=w)
    d.line(box(0.0, 0.10, -0.02, 0.19), fill=tuple(int(c * 0.75) for c in skin), width=max(1, round(0.02 * s)))  # nose
    if a["smiling"]:
        d.chord(box(-0.13, 0.16, 0.13, 0.32), 0, 180, fill=(150, 30, 40))  # open smile
        d.chord(box(-0.10, 0.16, 0.10, 0.22), 0, 180, fill=(250, 250, 250))  # teeth
    else:
        d.line(box(-0.09, 0.255, 0.09, 0.255), fill=(120, 40, 40), width=max(1, round(0.025 * s)))
    return img.resize((image_size, image_size), Image.Resampling.BOX), a


def make_toyfaces(n: int, seed: int = 0, image_size: int = 64, channels: int = 3) -> ToyFaces:
    """`n` faces as uint8 (N, H, W, channels) plus their attributes, deterministic from `seed`."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    images = np.empty((n, image_size, image_size, channels), np.uint8)
    rows = []
    for i in range(n):
        img, attrs = draw_face(seed, i, image_size)
        if channels == 1:
            img = img.convert("L")
        images[i] = np.asarray(img).reshape(image_size, image_size, channels)
        rows.append(attrs)
    attributes = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return ToyFaces(images, attributes)
