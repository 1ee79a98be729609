"""An in-domain feature extractor for Fashion-MNIST: a small CNN the project trains on the labels.

FID needs an Inception network downloaded at run time; this needs nothing but the data. Trained once
(2 epochs, about a minute on 2 CPU cores), cached under $DCGAN_CACHE or ~/.cache/dcgan, and reported
with its test accuracy. Features are the 128-d penultimate layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from dcgan_runtime.files import cache_dir
from train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from train.data import fit_grey, read_idx, to_model_range


class FashionNet(nn.Module):
    """32x32 grey -> 10 classes; `features` gives the 128-d embedding."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 32 x 16 x 16
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 64 x 8 x 8
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 128 x 4 x 4
            nn.Flatten(),
            nn.Linear(128 * 16, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def fashion_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 1, 32, 32), padded from 28x28, and int labels, for split 'train' or 't10k'."""
    images = read_idx(next(Path(root).glob(f"{split}-images-idx3-ubyte*")))
    labels = read_idx(next(Path(root).glob(f"{split}-labels-idx1-ubyte*")), ndim=1)
    return fit_grey(images, 32, 1).numpy(), labels.astype(np.int64)


def load_classifier(root: Path, epochs: int = 2, seed: int = 0, train_images: int = 60_000) -> tuple[FashionNet, float]:
    """The cached classifier and its test accuracy, training it first if there is no valid cache."""
    path = cache_dir() / f"fashion_classifier_e{epochs}_s{seed}_n{train_images}.pt"
    net = FashionNet()
    try:
        state = load_checkpoint(path)
        net.load_state_dict(state["model"])
        return net.eval(), state["test_accuracy"]
    except (CheckpointError, KeyError, RuntimeError):
        pass
    torch.manual_seed(seed)
    x, y = fashion_split(root, "train")
    x, y = x[:train_images], y[:train_images]
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for epoch in range(epochs):
        perm = np.random.RandomState([seed, epoch]).permutation(len(x))
        for i in range(0, len(x), 256):
            idx = perm[i : i + 256]
            loss = nn.functional.cross_entropy(net(to_model_range(torch.from_numpy(x[idx]))), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    xt, yt = fashion_split(root, "t10k")
    net.eval()
    with torch.no_grad():
        pred = torch.cat(
            [net(to_model_range(torch.from_numpy(xt[i : i + 1000]))).argmax(1) for i in range(0, len(xt), 1000)]
        )
    accuracy = round(float((pred.numpy() == yt).mean()), 4)
    save_checkpoint(path, {"model": net.state_dict(), "test_accuracy": accuracy, "epochs": epochs})
    return net, accuracy


@torch.no_grad()
def embed(net: FashionNet, images: np.ndarray) -> np.ndarray:
    """uint8 (N, 1, 32, 32) -> float32 (N, 128) features."""
    return torch.cat(
        [net.features(to_model_range(torch.from_numpy(images[i : i + 1000]))) for i in range(0, len(images), 1000)]
    ).numpy()
