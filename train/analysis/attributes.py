"""Attribute classifiers the project trains itself (no downloads), to label generated faces.

Toy faces: smiling, glasses and hair colour, learnt from the data set's own attributes on faces of
one seed and tested on faces of another. Real faces (faces-london): smiling (from the file name) and
gender (from info.csv), with accuracy measured on people held out of training (5 folds by person,
so no test face's owner was seen), then one model trained on everyone. Both are cached under
$DCGAN_CACHE (default ~/.cache/dcgan) with their held-out accuracy.

>>> net = AttributeNet({"smiling": 2, "glasses": 2}, image_size=32)
>>> {k: v.shape for k, v in predict(net, np.zeros((1, 3, 32, 32), np.uint8)).items()}
{'smiling': (1, 2), 'glasses': (1, 2)}
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dcgan_runtime.files import cache_dir
from train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from train.data import DataError, load_image, to_model_range
from train.toyfaces import ATTRIBUTE_VALUES, make_toyfaces

TOY_HEADS = {"smiling": 2, "glasses": 2, "hair": len(ATTRIBUTE_VALUES["hair"])}
REAL_HEADS = {"smiling": 2, "male": 2}
TOY_TRAIN_SEED, TOY_TEST_SEED = 101, 102  # the GAN's faces come from seed 0: the classifier never saw them


class AttributeNet(nn.Module):
    """(N, C, S, S) images in [-1, 1] -> one logit vector per attribute head."""

    def __init__(self, heads: dict[str, int], channels: int = 3, image_size: int = 64):
        super().__init__()
        self.spec = {"heads": dict(heads), "channels": channels, "image_size": image_size}  # rebuilds it from a cache
        layers, c = [nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU()], 32  # 32 x S/2 x S/2
        for width in (64, 128):  # 64 x S/4 x S/4, then 128 x S/8 x S/8
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            c = width
        side = image_size // 8
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * side * side, 128), nn.ReLU(), nn.Dropout(0.3))
        self.heads = nn.ModuleDict({name: nn.Linear(128, n) for name, n in heads.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(x)
        return {name: head(h) for name, head in self.heads.items()}


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 3 pixels (both keep every attribute)."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    dy, dx = (int(v) for v in torch.randint(-3, 4, (2,), generator=gen))
    return torch.roll(x, (dy, dx), (2, 3))


def fit(
    net: AttributeNet,
    images: np.ndarray,
    labels: dict[str, np.ndarray],
    epochs: int,
    seed: int = 0,
    batch_size: int = 64,
) -> AttributeNet:
    """Train on uint8 NCHW images with integer labels per head (Adam, cross-entropy summed over heads)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(images)
    y = {k: torch.from_numpy(np.asarray(v, np.int64)) for k, v in labels.items()}
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    net.train()
    for epoch in range(epochs):
        perm = torch.from_numpy(np.random.RandomState([seed, epoch]).permutation(len(x)))
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            out = net(_augment(to_model_range(x[idx]), gen))
            loss = sum(nn.functional.cross_entropy(out[k], y[k][idx]) for k in out)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def predict(net: AttributeNet, images: np.ndarray) -> dict[str, np.ndarray]:
    """uint8 NCHW images -> class probabilities per head, float (N, classes)."""
    net.eval()
    outs = [net(to_model_range(torch.from_numpy(images[i : i + 500]))) for i in range(0, len(images), 500)]
    return {k: torch.cat([o[k] for o in outs]).softmax(1).numpy() for k in net.heads}


def accuracy(net: AttributeNet, images: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, float]:
    probs = predict(net, images)
    return {k: round(float((probs[k].argmax(1) == np.asarray(labels[k])).mean()), 4) for k in labels}


def _cached(name: str, build):
    """(net, report) from the cache, or build() -> (net, report) saved there."""
    path = cache_dir() / name
    try:
        state = load_checkpoint(path)
        net = AttributeNet(**state["spec"])
        net.load_state_dict(state["model"])
        return net.eval(), state["report"]
    except (CheckpointError, KeyError, RuntimeError):
        pass
    net, report = build()
    save_checkpoint(path, {"model": net.state_dict(), "spec": net.spec, "report": report})
    return net, report


def toy_labels(attributes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    hair = {v: i for i, v in enumerate(ATTRIBUTE_VALUES["hair"])}
    return {
        "smiling": attributes["smiling"].astype(int),
        "glasses": attributes["glasses"].astype(int),
        "hair": np.array([hair[h] for h in attributes["hair"]]),
    }


def toy_classifier(
    image_size: int = 64, channels: int = 3, n_train: int = 2000, epochs: int = 3
) -> tuple[AttributeNet, dict]:
    """Smiling / glasses / hair for toy faces; report = held-out accuracy on faces of another seed."""

    def build():
        train = make_toyfaces(n_train, TOY_TRAIN_SEED, image_size, channels)
        test = make_toyfaces(max(200, n_train // 2), TOY_TEST_SEED, image_size, channels)
        net = fit(
            AttributeNet(TOY_HEADS, channels, image_size),
            train.images.transpose(0, 3, 1, 2).copy(),
            toy_labels(train.attributes),
            epochs,
        )
        acc = accuracy(net, test.images.transpose(0, 3, 1, 2).copy(), toy_labels(test.attributes))
        return net, {
            "held_out_accuracy": acc,
            "held_out": f"{len(test.images):,} toy faces of seed {TOY_TEST_SEED}",
            "train_images": n_train,
        }

    return _cached(f"toyface_attributes_{image_size}_{channels}_n{n_train}_e{epochs}.pt", build)


def face_photos(root: Path, image_size: int) -> list[Path]:
    """The faces-london photos: in root/<image_size>/ when that folder exists, else in root."""
    folder = root / str(image_size) if (root / str(image_size)).is_dir() else root
    return sorted(folder.glob("*_front_*_*.png"))


def real_faces(root: Path, image_size: int = 64) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """faces-london: uint8 NCHW images, labels {smiling, male}, and the person id of each image."""
    root = Path(root)
    info = root / "info.csv" if (root / "info.csv").is_file() else root.parent / "info.csv"
    if not info.is_file():
        raise DataError(f"no info.csv in {str(root)!r} or its parent: expected the faces-london folder")
    with info.open(newline="") as f:
        gender = {row["face_id"]: row["face_gender"] for row in csv.DictReader(f)}
    images, smiling, male, person = [], [], [], []
    for path in face_photos(root, image_size):
        mood, _, face_id, _ = path.stem.split("_")
        if face_id not in gender:
            raise DataError(f"{path.name}: person {face_id} is not in {info}")
        images.append(load_image(path, image_size, 3))
        smiling.append(int(mood == "smiling"))
        male.append(int(gender[face_id] == "male"))
        person.append(int(face_id))
    if not images:
        raise DataError(f"no neutral_/smiling_front_<id>_NN.png images in {str(root)!r} or its {image_size}/ folder")
    return np.stack(images), {"smiling": np.array(smiling), "male": np.array(male)}, np.array(person)


def real_face_classifier(
    root: Path, image_size: int = 64, epochs: int = 40, folds: int = 5
) -> tuple[AttributeNet, dict]:
    """Smiling / male for real faces; report = accuracy on held-out people (k-fold by person)."""

    def build():
        images, labels, person = real_faces(root, image_size)
        people = np.random.RandomState(0).permutation(np.unique(person))
        correct = {k: 0 for k in REAL_HEADS}
        for fold in range(folds):
            test = np.isin(person, people[fold::folds])
            net = fit(
                AttributeNet(REAL_HEADS, 3, image_size),
                images[~test],
                {k: v[~test] for k, v in labels.items()},
                epochs,
                fold,
            )
            for k, acc in accuracy(net, images[test], {k: v[test] for k, v in labels.items()}).items():
                correct[k] += acc * int(test.sum())
        report = {
            "held_out_accuracy": {k: round(float(c) / len(images), 4) for k, c in correct.items()},
            "held_out": f"{folds}-fold by person over {len(images)} photos of {len(people)} people",
        }
        return fit(AttributeNet(REAL_HEADS, 3, image_size), images, labels, epochs, folds), report

    files = hashlib.sha256(
        "".join(f"{p.name}:{p.stat().st_size};" for p in face_photos(Path(root), image_size)).encode()
    ).hexdigest()[:12]  # a different photo set gets its own classifier
    return _cached(f"realface_attributes_{image_size}_e{epochs}_f{folds}_{files}.pt", build)
