"""GPU parity: exported files on CUDA against the unfolded PyTorch model on CPU, same numpy latents.

`python -m benchmarks.gpu_parity EXPORT_DIR CHECKPOINT` prints one row per backend; exit 1 if a
backend exceeds its tolerance. Needs a CUDA GPU (onnxruntime CUDA rows need onnxruntime-gpu).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from dcgan_runtime.latent import latents_from_seeds
from train.checkpoint import load_checkpoint
from train.config import TrainConfig
from train.model import build_generator

TOL = {"fp32": 1e-4, "tf32": 5e-3, "fp16": 2e-2}  # TF32 keeps 10 mantissa bits: looser, stated


def main(export_dir: str, checkpoint: str) -> int:
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to check")
        return 1
    from export.torchscript_export import load_torchscript

    state = load_checkpoint(checkpoint)
    cfg = TrainConfig.from_dict(state["config"])
    g = build_generator(cfg)
    g.load_state_dict(state.get("generator_ema", state["generator"]))  # what export ships
    g.eval()
    z = latents_from_seeds(range(64), cfg.nz).reshape(64, cfg.nz, 1, 1)
    with torch.no_grad():
        want = g(torch.from_numpy(z)).numpy()
    rows = []
    torch.backends.cudnn.allow_tf32 = False  # full fp32: the GPU must agree with the CPU closely
    with torch.no_grad():
        rows.append(("PyTorch eager CUDA (fp32, TF32 off)", "fp32", g.cuda()(torch.from_numpy(z).cuda()).cpu().numpy()))
    # A traced graph records cuDNN's TF32 switch (aten::_convolution's allow_tf32, on by default in
    # PyTorch) when it is traced, so the TorchScript file runs its convolutions in TF32 on CUDA.
    module, _ = load_torchscript(Path(export_dir) / "generator.torchscript", map_location="cuda")
    with torch.no_grad():
        rows.append(("TorchScript CUDA (TF32 convolutions)", "tf32", module(torch.from_numpy(z).cuda()).cpu().numpy()))
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        from dcgan_runtime import Generator

        for name, prec in (("generator.onnx", "fp32"), ("generator.fp16.onnx", "fp16")):
            path = Path(export_dir) / name
            if path.exists():
                rg = Generator.load(path, device="cuda")
                rows.append((f"onnxruntime CUDA {name}", prec, rg.decode(z, output="float")))
    else:
        print(f"onnxruntime {ort.__version__} has no CUDA provider here (CPU build): onnxruntime CUDA rows not run")
    print(f"GPU {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"{'backend':<42}{'max |diff|':>12}{'tolerance':>11}")
    ok = True
    for name, prec, got in rows:
        diff = float(np.abs(got - want).max())
        ok &= diff <= TOL[prec]
        print(f"{name:<42}{diff:>12.2e}{TOL[prec]:>11.0e}  {'ok' if diff <= TOL[prec] else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
