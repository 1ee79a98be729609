"""Figures made of a generator's images, for the command line and notebooks alike.

>>> sheet = arithmetic_sheet(g, plus=[[1, 2, 3], [7, 8, 9]], minus=[[4, 5, 6]])   # doctest: +SKIP
>>> save_image(sheet, "arithmetic.png")                                            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dcgan_runtime.engine.protocol import Decoder
from dcgan_runtime.images import make_grid

NEIGHBOURS = 8


def arithmetic_sheet(
    g: Decoder, plus: Sequence[Sequence[int]], minus: Sequence[Sequence[int]] = (), noise: float = 0.25
) -> np.ndarray:
    """Latent arithmetic as one picture (uint8 HWC): a row per term (its seeds' samples, then the sample of
    their mean latent), and last the result of mean(plus...) - mean(minus...) among 8 noisy neighbours."""
    terms = [list(s) for s in (*plus, *minus)]
    result = g.arithmetic(
        plus=[g.latents(seeds=s) for s in terms[: len(plus)]],
        minus=[g.latents(seeds=s) for s in terms[len(plus) :]],
        neighbours=NEIGHBOURS,
        noise=noise,
    )
    width = max(NEIGHBOURS + 1, max(len(s) + 1 for s in terms))
    blank = np.full((1, *g.metadata.image_shape), 255, np.uint8)
    rows = []
    for seeds in terms:
        z = g.latents(seeds=seeds)
        row = np.concatenate([g.decode(z), g.decode(z.mean(0, keepdims=True))])
        rows.append(np.concatenate([row] + [blank] * (width - len(row))))
    rows.append(np.concatenate([result] + [blank] * (width - len(result))))
    return make_grid(np.concatenate(rows), nrow=width)
