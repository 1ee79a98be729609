"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) and instance noise for D's inputs.

D sees every image, real and fake, through the same random colour change, translation and cutout;
the ops are differentiable, so G's gradients pass through them, and G learns the data, not the
augmented data. The ops follow the authors' DiffAugment_pytorch.py (mit-han-lab/data-efficient-gans):
brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]; translation up to 1/8 of the side with
zero (mid-grey) fill; one cutout square of half the side.

Every random number is drawn on the CPU from torch's global generator for the whole (global)
batch, then each process keeps its share: the draws are the same on any device and any number of
ranks, and `--resume` restores them with the RNG state.

Adaptive strength (`Adaptive`, after ADA, Karras et al. 2020): each op then acts on each image with
probability p, and p follows how sure D is of the real images, r = E[sign D(x)]: up while r is
above the target (D is memorising the data), down while it is below. A data set big or easy enough
that D never overfits keeps p near 0, the paper's recipe; one that D memorises gets p near 1.
Where D stays ahead even at p = 1 (augmentation saturated), the same controller goes on past 1 and
raises G's learning rate instead, up to `g_lr_max` times its own (two time scales, G the faster),
and takes that back first when D falls behind.

>>> torch.manual_seed(0) and None
>>> x = torch.zeros(4, 3, 16, 16)
>>> tuple(diff_augment(x, "color,translation,cutout", 4, slice(0, 4)).shape)
(4, 3, 16, 16)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def diff_augment(x: torch.Tensor, policy: str, batch: int, part: slice, p: float | None = None) -> torch.Tensor:
    """`x` (this rank's `part` of a global batch of `batch`, NCHW in [-1, 1]) through `policy`'s ops:
    all of them (p None), or each on each image with probability p (drawn whatever p is, so the
    random stream does not depend on it)."""
    if x.shape[0] != part.stop - part.start or part.stop > batch:
        raise ValueError(f"a batch of {x.shape[0]} images does not fit the part {part} of {batch}")
    for name in (op for op in policy.split(",") if op):  # TrainConfig checked the names
        if p is None:
            x = _OPS[name](x, batch, part)
        else:
            skip = _uniform(batch, part, x) >= p
            done = _OPS[name](x, batch, part)
            x = done if p >= 1 else torch.where(skip, x, done)
    return x


class Adaptive:
    """The augmentation probability p, moved every `interval` steps by `interval` x batch / `images`
    towards D's real-image sign mean `target` (0.6 in ADA): 0 to 1 in `images` images at most. Past
    p = 1 the same level becomes G's learning-rate scale, 1 up to `g_lr_max` at the same pace.

    >>> ada = Adaptive(target=0.6, batch=64)
    >>> for _ in range(8):
    ...     ada.observe(1.0)  # D sure of every real image: p rises
    >>> round(ada.p, 4), ada.g_scale
    (0.0256, 1.0)
    >>> ada = Adaptive(target=0.6, batch=64, g_lr_max=2.0)
    >>> for _ in range(2_000):
    ...     ada.observe(1.0)  # D stays sure at full augmentation: G speeds up, to its cap
    >>> ada.p, ada.g_scale
    (1.0, 2.0)
    """

    def __init__(self, target: float, batch: int, images: int = 20_000, interval: int = 4, g_lr_max: float = 1.0):
        self.target, self.batch, self.images, self.interval = target, batch, images, interval
        self.g_lr_max, self.top = g_lr_max, max(g_lr_max, 1.0)  # top: where the level stops
        self.level, self.signs, self.seen = 0.0, 0.0, 0  # level: p up to 1, then 1 + G's extra scale

    @property
    def p(self) -> float:
        """Each op's probability of acting on an image."""
        return min(self.level, 1.0)

    @property
    def g_scale(self) -> float:
        """G's learning rate over the configured one: above 1 only while D stays ahead at p = 1."""
        return max(self.level, 1.0)

    def observe(self, sign_mean: float) -> None:
        """One step's E[sign D(x)] over the global batch (the ranks' mean)."""
        self.signs, self.seen = self.signs + sign_mean, self.seen + 1
        if self.seen == self.interval:
            step = self.interval * self.batch / self.images
            direction = 1.0 if self.signs / self.seen > self.target else -1.0
            self.level = min(max(self.level + direction * step, 0.0), self.top)
            self.signs, self.seen = 0.0, 0

    def state_dict(self) -> dict[str, float]:
        return {"p": self.p, "level": self.level, "signs": self.signs, "seen": self.seen}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Raises KeyError, TypeError or ValueError for a state this class did not write (one written
        before G's learning-rate stage existed has no "level": p is all of it)."""
        p, signs, seen = float(state["p"]), float(state["signs"]), state["seen"]
        level = float(state.get("level", p))
        fits = 0 <= level <= self.top and p == min(level, 1.0)
        if not (fits and abs(signs) <= self.interval and isinstance(seen, int) and 0 <= seen < self.interval):
            raise ValueError(f"not an adaptive augmentation state: {state!r}")
        self.level, self.signs, self.seen = level, signs, seen


def instance_noise(x: torch.Tensor, sigma: float, batch: int, part: slice) -> torch.Tensor:
    """`x` plus N(0, sigma^2) per pixel (Sonderby et al. 2017), drawn for the global batch on the CPU."""
    if sigma == 0:
        return x
    noise = torch.randn(batch, *x.shape[1:])[part]
    return x + sigma * noise.to(x.device, x.dtype)


def _uniform(batch: int, part: slice, like: torch.Tensor) -> torch.Tensor:
    """U[0, 1) per image of the global batch, this rank's rows, shaped to broadcast over NCHW."""
    return torch.rand(batch, 1, 1, 1)[part].to(like.device, like.dtype)


def _color(x: torch.Tensor, batch: int, part: slice) -> torch.Tensor:
    x = x + (_uniform(batch, part, x) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(batch, part, x) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(batch, part, x) + 0.5) + mean  # contrast


def _offsets(low: int, high: int, batch: int, part: slice, device: torch.device) -> torch.Tensor:
    """An integer in [low, high) per image of the global batch, this rank's, shaped (n, 1, 1)."""
    return torch.randint(low, high, (batch, 1, 1))[part].to(device)


def _translation(x: torch.Tensor, batch: int, part: slice, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = _offsets(-sh, sh + 1, batch, part, x.device)
    tx = _offsets(-sw, sw + 1, batch, part, x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    gy = torch.clamp(gy + ty + 1, 0, h + 1)  # indices into the zero-padded image: outside reads the padding
    gx = torch.clamp(gx + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, batch: int, part: slice, ratio: float = 0.5) -> torch.Tensor:
    _, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = _offsets(0, h + (1 - ch % 2), batch, part, x.device) - ch // 2  # the square's top-left corner
    ox = _offsets(0, w + (1 - cw % 2), batch, part, x.device) - cw // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= oy) & (ys < oy + ch) & (xs >= ox) & (xs < ox + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}
