"""Measure a generator's images without downloaded networks: `python -m train.analysis.evaluate SOURCE`.

SOURCE is a run directory, a checkpoint, or an exported .onnx file. Every metric is printed beside
its reference floor and ceiling, computed the same way: real images against held-out real images
(the best reachable) and an untrained generator of the same architecture (the worst).

Real sets: Fashion-MNIST uses its train split as the pool and t10k as held-out; toy faces use the
training faces and fresh faces of the next seed; an image folder is split in two seeded halves
(both were seen in training, so the memorisation baseline is "distance between distinct images").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dcgan_runtime.files import atomic_write
from train.analysis import metrics
from train.analysis.decoders import load_decoder, sampler, torch_decoder
from train.checkpoint import CheckpointError
from train.config import TrainConfig
from train.data import DataError, fit_grey, load_dataset, read_idx
from train.model import build_generator, weights_init

EXAMPLES = """examples:
  python -m train.analysis.evaluate runs/fmnist                        # the run's last checkpoint, 1000 samples
  python -m train.analysis.evaluate runs/fmnist/export/generator.onnx --n 2000 --json eval.json
  python -m train.analysis.evaluate runs/faces --data toyfaces
"""


def real_sets(cfg: TrainConfig, data: str, n: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(pool, held-out) uint8 NCHW, and whether Fashion-MNIST's in-domain features apply."""
    path = Path(data)
    if data != "toyfaces" and path.is_dir() and list(path.glob("t10k-images-idx3-ubyte*")):

        def split(name: str) -> np.ndarray:
            images = read_idx(next(path.glob(f"{name}-images-idx3-ubyte*")))
            return fit_grey(images, cfg.image_size, cfg.channels).numpy()

        return split("train"), split("t10k")[:n], cfg.image_size == 32 and cfg.channels == 1
    if data == "toyfaces":
        pool = load_dataset("toyfaces", cfg.image_size, cfg.channels, cfg.num_images, cfg.seed).images.numpy()
        fresh = load_dataset("toyfaces", cfg.image_size, cfg.channels, n, cfg.seed + 1).images.numpy()
        return pool, fresh, False
    images = load_dataset(data, cfg.image_size, cfg.channels).images.numpy()
    perm = np.random.RandomState(0).permutation(len(images))
    half = len(images) // 2
    return images[perm[:half]], images[perm[half:]][:n], False


def nn_median(queries: np.ndarray, pool: np.ndarray) -> float:
    """Median distance from 500 queries to their nearest image in the training pool."""
    return round(float(np.median(metrics.nearest_neighbour_distances(queries[:500], pool))), 4)


def score(fake: np.ndarray, pool: np.ndarray, heldout: np.ndarray, features=None, nn: float | None = None) -> dict:
    """Every metric of `fake` against the real sets (fake and heldout have the same size)."""
    out = {
        "swd_x1e3": metrics.swd(fake, heldout),
        "ms_ssim": metrics.ms_ssim_diversity(fake),
        "nn_distance_median": nn_median(fake, pool) if nn is None else nn,
    }
    if features is not None:
        net, real_features = features
        from train.analysis.features import embed

        f = embed(net, fake)
        out["frechet_distance"] = round(metrics.frechet_distance(real_features, f), 3)
        out.update(metrics.precision_recall(real_features, f))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.analysis.evaluate",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="run directory, checkpoint, or generator.onnx")
    p.add_argument("--data", help="real data to compare with (default: what the model trained on)")
    p.add_argument("--n", type=int, default=1000, help="generated and held-out images per set (default 1000)")
    p.add_argument(
        "--seed", type=int, default=0, help="latent draw for the generated set (vary it to see metric noise)"
    )
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    if not 64 <= a.n <= 20_000 or not 0 <= a.seed < 2**32:
        print(f"error: --n must be in 64..20000 and --seed in 0..2**32-1, got {a.n} and {a.seed}", file=sys.stderr)
        return 2
    try:
        decode, cfg, label = load_decoder(Path(a.source))
        sample = sampler(decode, cfg.nz)
        pool, heldout, in_domain = real_sets(cfg, a.data or cfg.data, a.n)
    except (CheckpointError, DataError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    n = min(a.n, len(heldout), len(pool))  # the ceiling row draws n of the pool without replacement
    features, accuracy = None, None
    if in_domain:
        from train.analysis.features import embed, load_classifier

        net, accuracy = load_classifier(Path(a.data or cfg.data))
        features = (net, embed(net, heldout[:n]))
    torch.manual_seed(12345)
    untrained = sampler(torch_decoder(build_generator(cfg).apply(weights_init).eval()), cfg.nz)
    rng = np.random.RandomState(1)
    heldout_nn = nn_median(heldout, pool)  # the ceiling's memorisation figure: real images the model never saw
    rows = {
        "real vs held-out real (ceiling)": score(
            pool[rng.choice(len(pool), n, replace=False)], pool, heldout[:n], features, nn=heldout_nn
        ),
        label: score(sample(n, seed=a.seed), pool, heldout[:n], features),
        "untrained generator (floor)": score(untrained(n, seed=0), pool, heldout[:n], features),
    }
    report = {
        "source": str(a.source),
        "data": a.data or cfg.data,
        "n": n,
        "seed": a.seed,
        "classifier_test_accuracy": accuracy,
        "rows": rows,
    }
    keys = ["swd_x1e3", "ms_ssim", "nn_distance_median"] + (
        ["frechet_distance", "precision", "recall"] if in_domain else []
    )
    print(f"{'':36}" + "".join(f"{k:>20}" for k in keys))
    for name, r in rows.items():
        cells = [r["swd_x1e3"]["mean"] if k == "swd_x1e3" else r[k] for k in keys]
        print(f"{name:36}" + "".join(f"{c:>20}" for c in cells))
    print(
        "nn_distance_median: median RMS pixel distance to the nearest training image (the ceiling row: held-out"
        " real images); generated images much closer than held-out ones would be memorised"
    )
    if accuracy is not None:
        print(f"feature extractor: Fashion-MNIST classifier, test accuracy {accuracy:.2%}")
    if a.json:
        atomic_write(Path(a.json), json.dumps(report, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
