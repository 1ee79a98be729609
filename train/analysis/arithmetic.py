"""The DCGAN paper's latent arithmetic and interpolation, measured: `python -m train.analysis.arithmetic SOURCE`.

SOURCE is an exported generator.onnx (decoded by dcgan_runtime) or a run directory / checkpoint
(decoded by PyTorch); the latent math is dcgan_runtime's either way. Faces are labelled by a
classifier the project trains (train.analysis.attributes): toy faces by their drawn attributes, the
faces-london photos by smile and gender.

1. A pool of samples (seeds 0..pool-1) is generated and labelled.
2. Each trial of an experiment draws k exemplars per concept at random among the pool samples
   classified as that concept (or, with --candidates N, the N most confident ones); the paper
   averaged three chosen by hand.
3. The result, the sum of the plus concepts' mean latents minus the minus ones', is decoded and
   labelled: a success when every attribute of the target concept is recognised. The same result
   rescaled to the typical latent norm sqrt(nz) is scored too (a mean of k latents is short).
4. Baselines: random latents (the target's share of the pool) and the same arithmetic done on the
   exemplars' pixels, the paper's own comparison.
Interpolation: along slerp and lerp paths between random latents, how often each attribute changes
at most once, and the perceptual path length in pixel space (StyleGAN's PPL with pixel MSE).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dcgan_runtime import latent
from dcgan_runtime.files import atomic_write
from dcgan_runtime.images import make_grid, save_gif, save_image, to_uint8
from train.analysis.decoders import Decode, load_decoder
from train.checkpoint import CheckpointError
from train.data import DataError
from train.swd import pixels

Classify = Callable[[np.ndarray], dict]  # uint8 NCHW -> {attribute: (N, classes) probabilities}


@dataclass(frozen=True)
class Experiment:
    name: str  # file-name friendly
    terms: tuple[tuple[int, dict], ...]  # (+1 or -1, concept {attribute: class}) in the order written
    target: dict  # the concept the result should show

    def __str__(self) -> str:
        text = " ".join(f"{'+' if s > 0 else '-'} {describe(c)}" for s, c in self.terms)
        return f"{text.lstrip('+ ')} = {describe(self.target)}"


def describe(concept: dict) -> str:
    words = {
        ("smiling", 1): "smiling",
        ("smiling", 0): "neutral",
        ("glasses", 1): "with glasses",
        ("glasses", 0): "without glasses",
        ("male", 1): "man",
        ("male", 0): "woman",
    }
    return " ".join(words.get(kv, f"{kv[0]}={kv[1]}") for kv in concept.items())


TOY = (
    Experiment(
        "smile",
        ((1, {"smiling": 1, "glasses": 1}), (-1, {"smiling": 0, "glasses": 1}), (1, {"smiling": 0, "glasses": 0})),
        {"smiling": 1, "glasses": 0},
    ),
    Experiment(
        "glasses",
        ((1, {"smiling": 0, "glasses": 1}), (-1, {"smiling": 0, "glasses": 0}), (1, {"smiling": 1, "glasses": 0})),
        {"smiling": 1, "glasses": 1},
    ),
)
REAL = (
    Experiment(
        "smiling_man",
        ((1, {"smiling": 1, "male": 0}), (-1, {"smiling": 0, "male": 0}), (1, {"smiling": 0, "male": 1})),
        {"smiling": 1, "male": 1},
    ),
)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate.

    >>> [round(v, 3) for v in wilson(5, 10)]
    [0.237, 0.763]
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, float((centre - half) / (1 + z * z / n))), min(1.0, float((centre + half) / (1 + z * z / n)))


def rate(hits: np.ndarray) -> dict:
    n, s = len(hits), int(np.sum(hits))
    lo, hi = wilson(s, n)
    return {"rate": round(s / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)], "successes": s, "n": n}


def confidence(probs: dict, concept: dict) -> np.ndarray:
    """Joint probability, per sample, of every attribute in `concept` (attributes taken as independent)."""
    return np.prod([probs[a][:, v] for a, v in concept.items()], axis=0)


def matches(probs: dict, concept: dict) -> np.ndarray:
    """Whether each sample's most likely class is the concept's, for every attribute."""
    return np.all([probs[a].argmax(1) == v for a, v in concept.items()], axis=0)


def pick_exemplars(
    conf: np.ndarray, member: np.ndarray, k: int, trials: int, rng: np.random.RandomState, what: str = "", top: int = 0
) -> np.ndarray:
    """(trials, k) pool indices: each trial draws k distinct pool samples classified as the concept,
    among all of them (top=0) or the `top` ones the classifier is most confident about."""
    ranked = np.flatnonzero(member)[np.argsort(-conf[member], kind="stable")][: top or None]
    if len(ranked) < k:
        raise ValueError(
            f"only {len(ranked)} pool samples look {what or 'like the concept'}, fewer than k={k}: "
            "grow --pool or lower k"
        )
    return np.stack([rng.choice(ranked, k, replace=False) for _ in range(trials)])


def run_experiment(
    exp: Experiment,
    pool_z: np.ndarray,
    pool_x: np.ndarray,
    pool_probs: dict,
    k: int,
    trials: int,
    decode: Decode,
    classify: Classify,
    seed: int = 0,
    top: int = 0,
) -> dict:
    """Success rates of latent and pixel arithmetic over `trials` exemplar draws, and the first draw's picks."""
    rng = np.random.RandomState([seed, k])
    picks = [
        pick_exemplars(confidence(pool_probs, c), matches(pool_probs, c), k, trials, rng, describe(c), top)
        for _, c in exp.terms
    ]
    z = np.stack(
        [
            latent.arithmetic(
                plus=[pool_z[p[t]] for (s, _), p in zip(exp.terms, picks) if s > 0],
                minus=[pool_z[p[t]] for (s, _), p in zip(exp.terms, picks) if s < 0],
            )
            for t in range(trials)
        ]
    )
    pixel_sum = sum(s * pool_x[p].mean(1) for (s, _), p in zip(exp.terms, picks))  # (trials, C, H, W)
    # a mean of k Gaussian latents is short (norm ~ sqrt(dim / k)); the rescaled variant restores the
    # norm the generator was trained on, sqrt(dim)
    rescaled = z * np.sqrt(z.shape[1]) / np.linalg.norm(z, axis=1, keepdims=True)
    scores = {}
    for name, x in (
        ("latent", decode(z)),
        ("latent_rescaled", decode(rescaled)),
        ("pixels", np.clip(pixel_sum, -1, 1)),
    ):
        probs = classify(pixels(x))
        scores[name] = {
            **rate(matches(probs, exp.target)),  # and each target attribute on its own:
            "per_attribute": {a: round(float(matches(probs, {a: v}).mean()), 4) for a, v in exp.target.items()},
        }
    return {"k": k, "trials": trials, **scores, "first_trial": [p[0].tolist() for p in picks], "first_result": z[0]}


def changes(labels: np.ndarray) -> np.ndarray:
    """(paths, steps) class labels -> how many times each path's label changes.

    >>> changes(np.array([[0, 0, 1, 1], [0, 1, 0, 1]])).tolist()
    [1, 3]
    """
    return (np.diff(labels, axis=1) != 0).sum(1)


def interpolation(
    decode: Decode, classify: Classify, z0: np.ndarray, z1: np.ndarray, steps: int, eps: float = 1e-3, seed: int = 0
) -> dict:
    """Per method: share of paths whose attributes change at most once, and pixel-space path length."""
    rng = np.random.RandomState(seed)
    t = rng.uniform(0, 1 - eps, len(z0))
    out = {}
    for method in ("slerp", "lerp"):
        walk = np.concatenate([latent.interpolate(a, b, steps, method) for a, b in zip(z0, z1)])
        probs = classify(pixels(decode(walk)))
        smooth = {a: rate(changes(p.argmax(1).reshape(len(z0), steps)) <= 1) for a, p in probs.items()}
        f = latent.slerp if method == "slerp" else latent.lerp
        ends = np.concatenate([f(a, b, np.array([ti, ti + eps])) for a, b, ti in zip(z0, z1, t)])
        x = decode(ends).astype(np.float64)
        ppl = ((x[1::2] - x[0::2]) ** 2).mean(axis=(1, 2, 3)) / eps**2
        lo, hi = np.percentile(ppl, [1, 99])
        out[method] = {
            "at_most_one_change": smooth,
            "ppl_pixel_mse": {
                "mean_1_99": round(float(ppl[(ppl >= lo) & (ppl <= hi)].mean()), 2),
                "median": round(float(np.median(ppl)), 2),
            },
        }
    return out


def figure(exp: Experiment, res: dict, pool_z: np.ndarray, pool_x: np.ndarray, decode: Decode, path: Path) -> None:
    """The paper's layout: per term its exemplars and the image of their mean latent; the result and
    8 neighbours (noise 0.25); last, the same arithmetic on pixels."""
    width = max(9, len(res["first_trial"][0]) + 1)  # 9: the result and its 8 neighbours
    blank = np.ones_like(pool_x[:1])  # white, like the grid lines
    rows = []
    for picks in res["first_trial"]:
        row = np.concatenate([pool_x[picks], decode(pool_z[picks].mean(0, keepdims=True))])
        rows.append(np.concatenate([row] + [blank] * (width - len(row))))
    result = decode(latent.neighbours(res["first_result"], 8, 0.25, seed=0))
    rows.append(np.concatenate([result] + [blank] * (width - len(result))))
    pixel_sum = sum(s * pool_x[p].mean(0, keepdims=True) for (s, _), p in zip(exp.terms, res["first_trial"]))
    rows.append(np.concatenate([np.clip(pixel_sum, -1, 1)] + [blank] * (width - 1)))
    save_image(make_grid(to_uint8(np.concatenate(rows)), nrow=width), path, force=True)


def walks_gif(decode: Decode, z0: np.ndarray, z1: np.ndarray, steps: int, path: Path) -> None:
    """A few slerp walks side by side, one GIF frame per step (there and back)."""
    frames = np.stack([decode(latent.interpolate(a, b, steps)) for a, b in zip(z0, z1)], 1)  # (steps, walks, C, H, W)
    grids = [make_grid(to_uint8(f), nrow=len(z0)) for f in np.concatenate([frames, frames[::-1]])]
    save_gif(np.stack(grids), path, fps=12, force=True)


def classifier_for(data: str, cfg, n_train: int):
    """(classify, experiments, classifier report, training photos or None) for the data the model learnt."""
    from train.analysis.attributes import predict, real_face_classifier, real_faces, toy_classifier

    if data == "toyfaces":
        net, report = toy_classifier(cfg.image_size, cfg.channels, n_train)
        return (lambda x: predict(net, x)), TOY, report, None
    if cfg.channels != 3:
        raise ValueError("real-face experiments need an RGB generator (channels 3)")
    net, report = real_face_classifier(Path(data), cfg.image_size)
    return (lambda x: predict(net, x)), REAL, report, real_faces(Path(data), cfg.image_size)[0]


EXAMPLES = """examples:
  python -m train.analysis.arithmetic runs/demo/export/generator.onnx --out runs/demo/arithmetic
  python -m train.analysis.arithmetic runs/faces-london --out runs/faces-london/arithmetic --k 3,5 --pool 4000
  (toy faces are labelled by a classifier trained on toy faces; a faces-london model by smile and
   gender classifiers trained on the photos, found through the model's data path or --data)
"""


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    try:
        ks = [int(v) for v in a.k.split(",")]
        if (
            min(ks) < 1
            or a.pool < 10
            or a.trials < 1
            or a.pairs < 2
            or a.steps < 2
            or a.classifier_images < 10
            or (a.candidates and a.candidates < max(ks))
            or a.candidates < 0
        ):
            raise ValueError
    except ValueError:
        print(
            "error: --k takes positive integers (e.g. 3,10); --pool >= 10, --trials >= 1, --pairs >= 2, "
            "--steps >= 2, --classifier-images >= 10, --candidates 0 or >= the largest k",
            file=sys.stderr,
        )
        return 2
    try:
        decode, cfg, label = load_decoder(Path(a.source))
        classify, experiments, classifier, photos = classifier_for(a.data or cfg.data, cfg, a.classifier_images)
    except (CheckpointError, DataError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pool_z = latent.latents_from_seeds(range(a.pool), cfg.nz)
    pool_x = decode(pool_z)
    pool_probs = classify(pixels(pool_x))
    report = {
        "source": a.source,
        "model": label,
        "data": a.data or cfg.data,
        "classifier": classifier,
        "pool": a.pool,
        "candidates": a.candidates,
        "experiments": {},
    }
    print(f"classifier held-out accuracy: {classifier['held_out_accuracy']} ({classifier['held_out']})")
    for exp in experiments:
        report["experiments"][exp.name] = _experiment(a, exp, ks, pool_z, pool_x, pool_probs, decode, classify, out)
    z0, z1 = latent.latents_from_seed(a.pairs, 1, cfg.nz), latent.latents_from_seed(a.pairs, 2, cfg.nz)
    report["interpolation"] = {"pairs": a.pairs, "steps": a.steps, **interpolation(decode, classify, z0, z1, a.steps)}
    for method in ("slerp", "lerp"):
        r = report["interpolation"][method]
        smooth = ", ".join(f"{k} {v['rate']:.1%}" for k, v in r["at_most_one_change"].items())
        print(f"\n{method}: paths with at most one change: {smooth}; pixel PPL {r['ppl_pixel_mse']}")
    walks_gif(decode, z0[:6], z1[:6], a.steps, out / "walks.gif")
    if photos is not None:
        report["memorisation"] = _memorisation(pool_x, photos)
        print(f"\nmemorisation (RMS pixel distance to the nearest training photo): {report['memorisation']}")
    atomic_write(out / "arithmetic.json", json.dumps(report, indent=2).encode())
    print(f"\nwrote {out / 'arithmetic.json'}, the figures arithmetic_<experiment>.png and walks.gif")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train.analysis.arithmetic",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="generator.onnx, a run directory, or a checkpoint")
    p.add_argument("--out", required=True, help="folder for arithmetic.json and the figures")
    p.add_argument("--data", help="toyfaces or the faces-london folder (default: what the model trained on)")
    p.add_argument(
        "--pool", type=int, default=2000, help="samples to pick exemplars from (seeds 0..pool-1, default 2000)"
    )
    p.add_argument(
        "--k", default="3,10", help="exemplars per concept, comma-separated (default 3,10; the paper used 3)"
    )
    p.add_argument("--trials", type=int, default=200, help="exemplar draws per experiment and k (default 200)")
    p.add_argument(
        "--candidates",
        type=int,
        default=0,
        help="draw exemplars among this many most confident members of each concept (default 0: all)",
    )
    p.add_argument("--pairs", type=int, default=200, help="interpolation paths per method (default 200)")
    p.add_argument("--steps", type=int, default=16, help="images per interpolation path (default 16)")
    p.add_argument(
        "--classifier-images", type=int, default=2000, help="toy faces that train the classifier (default 2000)"
    )
    return p


def _experiment(
    a: argparse.Namespace, exp: Any, ks: list[int], pool_z: np.ndarray, pool_x: np.ndarray, pool_probs: np.ndarray,
    decode: Any, classify: Any, out: Path,
) -> dict[str, Any]:  # fmt: skip
    """One experiment at each k: its rates, printed as they come, and the figure at the first k."""
    entry: dict[str, Any] = {"formula": str(exp), "random_latents": rate(matches(pool_probs, exp.target)), "by_k": []}
    print(f"\n{exp}\n  random latents: {fmt(entry['random_latents'])}")
    for k in ks:
        try:
            res = run_experiment(exp, pool_z, pool_x, pool_probs, k, a.trials, decode, classify, top=a.candidates)
        except ValueError as e:
            print(f"  k={k}: skipped: {e}")
            continue
        if k == ks[0]:
            figure(exp, res, pool_z, pool_x, decode, out / f"arithmetic_{exp.name}.png")
        entry["by_k"].append(
            {key: res[key] for key in ("k", "trials", "latent", "latent_rescaled", "pixels", "first_trial")}
        )
        print(
            f"  k={k:<3} latents: {fmt(res['latent'])}\n        rescaled to norm sqrt(nz): "
            f"{fmt(res['latent_rescaled'])}\n        pixels: {fmt(res['pixels'])}"
        )
    return entry


def _memorisation(pool_x: np.ndarray, photos: np.ndarray) -> dict[str, float]:
    """Median RMS pixel distance from samples to their nearest training photo, beside the photos' own."""
    from train.analysis.metrics import nearest_neighbour_distances

    fake = pixels(pool_x[:500])
    real = [nearest_neighbour_distances(photos[i : i + 1], np.delete(photos, i, 0))[0] for i in range(len(photos))]
    return {
        "median_nn_distance_samples_to_photos": round(float(np.median(nearest_neighbour_distances(fake, photos))), 4),
        "median_nn_distance_between_photos": round(float(np.median(real)), 4),
    }


def fmt(r: dict) -> str:
    each = ", ".join(f"{a} {v:.0%}" for a, v in r.get("per_attribute", {}).items())
    return f"{r['rate']:.1%} [{r['ci95'][0]:.1%}, {r['ci95'][1]:.1%}] of {r['n']}" + (f" ({each})" if each else "")


if __name__ == "__main__":
    sys.exit(main())
