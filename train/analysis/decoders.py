"""Decoders for the analysis commands: one callable z -> images for a run, a checkpoint or an .onnx file.

>>> decode, cfg, label = load_decoder(Path("runs/demo"))        # doctest: +SKIP
>>> decode(np.zeros((2, cfg.nz), np.float32)).shape               # doctest: +SKIP
(2, 3, 64, 64)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dcgan_runtime.latent import latents_from_seed
from train.checkpoint import load_generator
from train.config import TrainConfig
from train.swd import pixels

Decode = Callable[[np.ndarray], np.ndarray]


def load_decoder(source: Path) -> tuple[Decode, TrainConfig, str]:
    """(decode(z (N, nz) float32) -> float32 NCHW in [-1, 1], its TrainConfig, a label) for a run,
    checkpoint (G's moving average where the run kept one, as export and the training SWD use) or
    exported .onnx file (run through dcgan_runtime)."""
    if source.suffix == ".onnx":
        from dcgan_runtime import Generator, ModelError  # only for .onnx: needs onnxruntime

        try:
            g = Generator.load(source, device="cpu")
        except ModelError as e:
            raise ValueError(str(e)) from None
        cfg = TrainConfig.from_dict(g.metadata.training_config)
        return (lambda z: g.decode(z, output="float")), cfg, f"ONNX {source.name}"
    state, cfg, net = load_generator(source)  # G's average where the run kept one: what export ships
    average = " (G's average)" if "generator_ema" in state else ""
    return torch_decoder(net.eval()), cfg, f"PyTorch step {state['step']}{average}"


def torch_decoder(net: torch.nn.Module) -> Decode:
    nz = net.main[0].in_channels

    @torch.no_grad()
    def decode(z: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(np.ascontiguousarray(z, np.float32))
        return torch.cat([net(z[i : i + 256].view(-1, nz, 1, 1)) for i in range(0, len(z), 256)]).numpy()

    return decode


def sampler(decode: Decode, nz: int) -> Callable[..., np.ndarray]:
    """sample(n, seed) -> uint8 NCHW from latents drawn by the runtime's rule (one RandomState(seed) draw)."""

    def sample(n: int, seed: int = 0) -> np.ndarray:
        return pixels(decode(latents_from_seed(n, seed, nz)))

    return sample
