"""Names a failing run from the numbers it logs: the discriminator winning, the samples collapsing,
the SWD running away from its best.

`Watch.observe` takes each metrics.jsonl row in turn (the step's scalars, and on sample steps the
SWD and the grid's spread) and returns a `Failure` when one of three rules first holds; it is a
pure function of the rows, so a run's log replays to the same verdicts (tests do). Thresholds were
set on logged runs that failed and runs that learned (docs/train.md, "When training fails"):

- **d-wins**: D(G(z)) has averaged under 0.05 over the last 200 steps while D(x) stays above 0.8,
  and the SWD has not improved in those steps. D tells every fake apart; G's loss saturates and its
  gradient carries little (pure noise at step 200 on a 4k-image set with the paper's recipe). A run
  whose SWD still improves while D wins is left alone: measured runs recover from that.
- **collapse**: the fixed-noise grid's spread (its images' distance from their mean, over the real
  images') has been under 0.25 at two grids in a row, after step 500: the 64 seeds draw one image.
- **runaway**: the SWD of the last three grids has each been above twice the best (and the best at
  least 300 steps old): the run learned, then lost it.
- **saturated** (adaptive augmentation only): the augmentation probability p has averaged 0.95 or more
  over the last 200 steps while D(x) stays above 0.8: the controller has nowhere left to go, D tells
  even augmented images apart, and augmentations applied to nearly every image leak into the samples.

Each rule reports once, and again only after it has clearly cleared (D(G(z)) back above 0.1, the
spread above 0.5, the SWD back under 1.5x its best): a run at the edge is named once, not every step.

>>> w = Watch()
>>> rows = [{"step": s, "d_x": 0.99, "d_g_z": 0.001, "loss_g": 9.0} for s in range(1, 301)]
>>> [f.kind for f in map(w.observe, rows) if f]
['d-wins']
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

WINDOW = 200  # steps behind the d-wins rule
D_WINS_FAKE, D_WINS_REAL = 0.05, 0.8  # mean D(G(z)) below, mean D(x) above
COLLAPSE_SPREAD, COLLAPSE_AFTER, COLLAPSE_GRIDS = 0.25, 500, 2
RUNAWAY_RATIO, RUNAWAY_GRIDS, RUNAWAY_AGE = 2.0, 3, 300
SATURATED_P, SATURATED_REAL = 0.95, 0.8  # mean augment p at least, mean D(x) above, over WINDOW steps
CLEARED = {"d-wins": 0.1, "collapse": 0.5, "runaway": 1.5, "saturated": 0.8}  # ... p under (saturated)

ADVICE = {
    "d-wins": "try --recipe adaptive or small (DiffAugment: D sees augmented images), or a lower --lr-d",
    "collapse": "try --recipe adaptive or small, or resume from checkpoints/best.pt with a lower --lr",
    "runaway": "export checkpoints/best.pt (kept by SWD); to go on, --on-collapse rewind or a lower --lr-d",
    "saturated": "try --g-lr-max 2 (G's learning rate rises while D stays ahead: the adaptive recipe's answer), "
    "drop the ops that leak (cutout's squares show in the samples first) or add --r1 1; a lower --lr-d made it "
    "worse (docs/train.md)",
}
ANSWERED = (  # saturated, where the run's rows show G's learning rate already answering it (g_lr_scale)
    "the recipe answers with G's learning rate, rising up to --g-lr-max times --lr while D stays ahead "
    "(g_lr_scale in metrics.jsonl); if the samples show the augmentations, drop the ops that leak (cutout first)"
)


@dataclass(frozen=True)
class Failure:
    kind: str  # d-wins, collapse, runaway or saturated
    step: int
    message: str  # one line: what happened, in the run's numbers, and what to try

    def row(self) -> dict[str, Any]:
        """The metrics.jsonl line that records it."""
        return {"step": self.step, "event": self.kind, "message": self.message}


class Watch:
    """Feed it every logged row; it returns a Failure the first time a rule holds (see the module)."""

    def __init__(self) -> None:
        self.fake: deque[float] = deque(maxlen=WINDOW)
        self.real: deque[float] = deque(maxlen=WINDOW)
        self.loss_g: deque[float] = deque(maxlen=WINDOW)
        self.p: deque[float] = deque(maxlen=WINDOW)  # adaptive augmentation's probability, where it runs
        self.spreads: deque[float] = deque(maxlen=COLLAPSE_GRIDS)
        self.swds: deque[tuple[int, float]] = deque(maxlen=RUNAWAY_GRIDS)  # the latest grids' (step, SWD)
        self.best: tuple[int, float] | None = None  # the best (step, SWD) before those
        self.active: set[str] = set()  # rules that hold now (reported already)

    def observe(self, row: dict[str, Any]) -> Failure | None:
        if "d_g_z" not in row:  # an event line, not a step
            return None
        step = int(row["step"])
        self.fake.append(float(row["d_g_z"]))
        self.real.append(float(row["d_x"]))
        self.loss_g.append(float(row["loss_g"]))
        if "augment_p" in row:
            self.p.append(float(row["augment_p"]))
        answered = "g_lr_scale" in row
        if "spread" in row:
            self.spreads.append(float(row["spread"]))
        if "swd" in row:
            if len(self.swds) == RUNAWAY_GRIDS:
                old = self.swds[0]
                self.best = old if self.best is None or old[1] < self.best[1] else self.best
            self.swds.append((step, float(row["swd"])))
        self.active -= {kind for kind in self.active if self._cleared(kind)}
        found = None
        rules = (
            ("d-wins", self._d_wins),
            ("collapse", self._collapse),
            ("runaway", self._runaway),
            ("saturated", self._saturated),
        )
        for kind, rule in rules:
            message = rule(step)
            if message is not None and kind not in self.active:
                self.active.add(kind)
                advice = ANSWERED if kind == "saturated" and answered else ADVICE[kind]
                found = found or Failure(kind, step, f"{message}; {advice}")
        return found

    @property
    def top(self) -> tuple[int, float] | None:
        """The best (step, SWD) of all: the best before the latest grids, or one of them."""
        seen = ([self.best] if self.best else []) + list(self.swds)
        return min(seen, key=lambda s: s[1]) if seen else None

    def _cleared(self, kind: str) -> bool:
        """Whether a reported rule has clearly stopped holding (hysteresis: no report every other step)."""
        if kind == "d-wins":
            return sum(self.fake) / len(self.fake) > CLEARED[kind]
        if kind == "collapse":
            return bool(self.spreads) and self.spreads[-1] > CLEARED[kind]
        if kind == "saturated":
            return sum(self.p) / max(len(self.p), 1) < CLEARED[kind]
        return self.best is not None and self.swds[-1][1] < CLEARED[kind] * self.best[1]

    def _d_wins(self, step: int) -> str | None:
        if len(self.fake) < WINDOW:
            return None
        fake, real = sum(self.fake) / WINDOW, sum(self.real) / WINDOW
        if fake >= D_WINS_FAKE or real <= D_WINS_REAL or (self.top is not None and self.top[0] > step - WINDOW):
            return None
        return (
            f"the discriminator has won by step {step}: D(G(z)) {fake:.3f} and D(x) {real:.2f} on average over "
            f"{WINDOW} steps (loss_g {sum(self.loss_g) / WINDOW:.1f}) and the SWD no better"
            + (f" than {self.top[1]:.1f} at step {self.top[0]}" if self.top else "")
        )

    def _collapse(self, step: int) -> str | None:
        recent = list(self.spreads)
        if step < COLLAPSE_AFTER or len(recent) < COLLAPSE_GRIDS or max(recent) >= COLLAPSE_SPREAD:
            return None
        return (
            f"mode collapse by step {step}: the sample grid's spread is {recent[-1]:.2f} of the real images' "
            f"(under {COLLAPSE_SPREAD} at {COLLAPSE_GRIDS} grids in a row): the seeds draw nearly one image"
        )

    def _saturated(self, step: int) -> str | None:
        if len(self.p) < WINDOW:
            return None
        p, real = sum(self.p) / WINDOW, sum(self.real) / len(self.real)
        if p < SATURATED_P or real <= SATURATED_REAL:
            return None
        return (
            f"augmentation is saturated by step {step}: its probability p averaged {p:.2f} over {WINDOW} steps "
            f"while D(x) stayed {real:.2f}: D tells even augmented images apart, and augmentations on nearly "
            "every image leak into the samples"
        )

    def _runaway(self, step: int) -> str | None:
        if self.best is None or len(self.swds) < RUNAWAY_GRIDS:
            return None
        best_step, best = self.best
        recent = [s for _, s in self.swds]
        if step - best_step < RUNAWAY_AGE or min(recent) <= RUNAWAY_RATIO * best:
            return None
        return (
            f"quality is running away at step {step}: SWD {recent[-1]:.1f} is above {RUNAWAY_RATIO:g}x its best, "
            f"{best:.1f} at step {best_step}, for {RUNAWAY_GRIDS} grids"
        )

    def state_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint, so `--resume` watches on as if never stopped."""
        return {
            "fake": list(self.fake),
            "real": list(self.real),
            "loss_g": list(self.loss_g),
            "p": list(self.p),
            "spreads": list(self.spreads),
            "swds": [list(s) for s in self.swds],
            "best": list(self.best) if self.best else [],
            "active": sorted(self.active),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.fake.extend(float(v) for v in state["fake"])
        self.real.extend(float(v) for v in state["real"])
        self.loss_g.extend(float(v) for v in state["loss_g"])
        self.p.extend(float(v) for v in state.get("p", []))  # checkpoints before this rule have none
        self.spreads.extend(float(v) for v in state["spreads"])
        self.swds.extend((int(s), float(v)) for s, v in state["swds"])
        self.best = (int(state["best"][0]), float(state["best"][1])) if state["best"] else None
        self.active = {str(k) for k in state["active"]}


def replay(rows: list[dict[str, Any]]) -> list[Failure]:
    """Every failure a run's logged rows name, in order (a metrics.jsonl read back)."""
    watch = Watch()
    return [f for f in map(watch.observe, rows) if f]
