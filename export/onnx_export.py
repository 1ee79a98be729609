"""ONNX export: one self-contained file, dynamic batch, the `dcgan` metadata, checked."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from dcgan_runtime.files import atomic_write
from dcgan_runtime.metadata import KEY, Metadata

MIN_OPSET = 18


class HalfPrecision(nn.Module):
    """fp16 weights and arithmetic inside, fp32 in and out: the GPU file keeps the fp32 contract."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.half()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z.half()).float()


def to_onnx(model: nn.Module, meta: Metadata, opset: int) -> onnx.ModelProto:
    """Trace `model` (eval, BN folded) to an ONNX model with input `z` (N, nz, 1, 1) and output `image`."""
    if opset < MIN_OPSET:
        raise ValueError(f"--opset must be {MIN_OPSET} or later, got {opset}")
    z = torch.zeros(2, meta.latent_dim, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress chatter
        program = torch.onnx.export(
            model,
            (z,),
            None,
            input_names=[meta.input_name],
            output_names=[meta.output_name],
            dynamic_shapes={"z": {0: torch.export.Dim("batch")}},
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    left = [n.name for n in proto.graph.node if n.op_type == "BatchNormalization"]
    if left:
        raise RuntimeError(f"BatchNormalization nodes left after folding: {left}")
    attach_metadata(proto, meta)
    return proto


def attach_metadata(proto: onnx.ModelProto, meta: Metadata) -> None:
    """Replace the model's metadata with the `dcgan` JSON, name the producer, and run the full checker."""
    del proto.metadata_props[:]
    proto.metadata_props.add(key=KEY, value=meta.to_json())
    proto.producer_name, proto.doc_string = (
        "dcgan-export",
        "DCGAN generator: z (N, nz, 1, 1) -> image (N, C, H, W) in [-1, 1]",
    )
    onnx.checker.check_model(proto, full_check=True)


def save_onnx(proto: onnx.ModelProto, path: Path) -> None:
    """One file, weights inside (no external .data), written atomically."""
    data = proto.SerializeToString()
    if len(data) >= 2**31:
        raise ValueError("model exceeds protobuf's 2 GB limit for a single-file ONNX model")
    atomic_write(path, data)
