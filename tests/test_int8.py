"""The int8 path: the exact phase rewrite, the quantized export, and the runtime loading it."""

import json

import numpy as np
import onnx
import pytest
import torch

from dcgan_runtime import Generator
from dcgan_runtime.errors import MetadataError, ModelError
from dcgan_runtime.metadata import KEY, Metadata
from export.__main__ import main as export_main
from export.fold import fold_batchnorm
from export.rewrite import FORMS, PhaseConv, phase_decompose, phase_kernel, project_first_layer
from support import randomise_bn
from train.model import Generator as TorchGenerator


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("size,channels", [(32, 1), (64, 3), (128, 3)])
def test_phase_rewrite_is_exact(form, size, channels):
    torch.manual_seed(0)
    g = randomise_bn(TorchGenerator(nz=20, ngf=8, channels=channels, image_size=size))
    rewritten = phase_decompose(project_first_layer(fold_batchnorm(g)), form)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in rewritten.modules())
    z = torch.randn(5, 20, 1, 1)
    with torch.no_grad():
        assert (rewritten(z) - g(z)).abs().max() <= 1e-5


def test_phase_kernel_places_each_tap_once():
    w = torch.arange(16.0).view(1, 1, 4, 4) + 1  # every tap distinct
    for form in FORMS:
        k = phase_kernel(w, form)
        assert sorted(k[k != 0].tolist()) == list(range(1, 17))  # 4 phases x 4 taps cover the kernel exactly
    assert phase_kernel(w, "2x2")[0, 0].tolist() == [[16.0, 14.0], [8.0, 6.0]]  # phase (0, 0): rows 3,1 x cols 3,1


def test_phase_conv_refuses_other_layers():
    with pytest.raises(ValueError, match="kernel 4, stride 2, padding 1"):
        PhaseConv(torch.nn.ConvTranspose2d(4, 4, 3, 2, 1), torch.nn.ReLU())
    with pytest.raises(ValueError, match="form must be"):
        PhaseConv(torch.nn.ConvTranspose2d(4, 4, 4, 2, 1), torch.nn.ReLU(), form="5x5")


def test_int8_file_is_quantized_and_checked(exported):
    model = onnx.load(str(exported / "generator.int8.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= ops
    assert "ConvTranspose" not in ops and "Tanh" in ops
    assert any(t.data_type == onnx.TensorProto.INT8 for t in model.graph.initializer)
    meta = Metadata.from_json({p.key: p.value for p in model.metadata_props}[KEY])
    fp32 = Metadata.from_json({p.key: p.value for p in onnx.load(str(exported / "generator.onnx")).metadata_props}[KEY])
    assert meta.precision == "int8" and meta.quantization["calibration_latents"] == 256
    assert {**meta.__dict__, "precision": "fp32", "quantization": {}} == fp32.__dict__  # otherwise the same document
    row = next(r for r in json.loads((exported / "parity.json").read_text())["formats"] if r["precision"] == "int8")
    assert row["passed"] and row["psnr_db"] >= 35 and row["latents"] == 1024 and row["batch_invariant"]
    assert row["rewrite_max_abs"] <= 1e-5 and row["uint8_levels_off"]["<=8"] > 0.99


def test_runtime_loads_int8_by_folder_and_precision(exported):
    g = Generator.load(exported, precision="int8", device="cpu")
    assert g.path.name == "generator.int8.onnx" and g.metadata.precision == "int8"
    assert Generator.load(exported, device="cpu").path.name == "generator.onnx"
    whole = g.generate(seeds=range(12))
    parts = np.concatenate(
        [g.generate(seeds=range(i, i + 5), batch_size=2) for i in (0, 5)] + [g.generate(seeds=[10, 11])]
    )
    assert np.array_equal(whole, parts)  # integer arithmetic: batching cannot change a pixel
    fp32 = Generator.load(exported, device="cpu").generate(seeds=range(12))
    assert np.abs(whole.astype(int) - fp32).mean() < 2  # close to fp32 (grey levels), not equal to it
    with pytest.raises(MetadataError, match="holds int8 weights, not fp32"):
        Generator.load(exported / "generator.int8.onnx", precision="fp32")
    with pytest.raises(ValueError, match="precision must be"):
        Generator.load(exported, precision="int4")


def test_missing_variant_says_how_to_export_it(tmp_path):
    with pytest.raises(ModelError, match="--int8"):
        Generator.load(tmp_path, precision="int8")


def test_cli_info_and_generate_with_precision(exported, tmp_path, capsys):
    from dcgan_runtime.cli import main

    assert main(["info", str(exported), "--precision", "int8"]) == 0
    out = capsys.readouterr().out
    assert "int8" in out and "calibration_latents: 256" in out
    assert (
        main(["generate", str(exported), "--precision", "int8", "--seeds", "0-3", "--out", str(tmp_path / "g.png")])
        == 0
    )
    assert (tmp_path / "g.png").is_file()
    assert main(["info", str(exported / "generator.onnx"), "--precision", "int8"]) == 1
    assert "holds fp32 weights, not int8" in capsys.readouterr().err


def test_int8_refusals(tiny_run, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert export_main([str(tiny_run), "--outdir", out, "--int8", "--calibration", "0"]) == 2
    assert "--calibration" in capsys.readouterr().err
    assert export_main([str(tiny_run), "--outdir", out, "--int8", "--formats", "torchscript"]) == 2
    assert "include onnx" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
