import json

import onnx
import pytest
import torch

from dcgan_runtime.metadata import KEY, Metadata
from export.__main__ import main as export_main
from export.fold import fold_batchnorm, recalibrate_batchnorm
from export.formats import select
from export.torchscript_export import load_torchscript
from support import randomise_bn
from train.checkpoint import load_checkpoint, save_checkpoint
from train.model import Generator


@pytest.mark.parametrize("size,channels", [(32, 1), (64, 3)])
def test_fold_is_exact(size, channels):
    torch.manual_seed(0)
    g = randomise_bn(Generator(nz=20, ngf=16, channels=channels, image_size=size))
    folded = fold_batchnorm(g)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    z = torch.randn(7, 20, 1, 1)
    with torch.no_grad():
        assert (g(z) - folded(z)).abs().max() <= 1e-5
    assert g.training is False and isinstance(g.main[1], torch.nn.BatchNorm2d)  # the original is untouched


def test_recalibration_recomputes_statistics():
    torch.manual_seed(0)
    g = randomise_bn(Generator(nz=20, ngf=8, channels=3, image_size=32))
    r = recalibrate_batchnorm(g, batches=4)
    bn_g, bn_r = g.main[1], r.main[1]
    assert not torch.allclose(bn_g.running_mean, bn_r.running_mean)
    # the recomputed mean is the batch mean of the conv output over 4 x 64 latents
    z = torch.randn(4 * 64, 20, 1, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pre = g.main[0](z)
    assert torch.allclose(bn_r.running_mean, pre.mean(dim=(0, 2, 3)), atol=1e-5)
    with pytest.raises(ValueError):
        recalibrate_batchnorm(g, 0)


def test_formats_table_validates():
    assert [f.filename for f in select("torchscript, onnx", ["fp32"])] == ["generator.onnx", "generator.torchscript"]
    assert [f.filename for f in select("onnx", ["fp32", "fp16", "int8", "bf16"])] == [
        "generator.onnx",
        "generator.fp16.onnx",
        "generator.int8.onnx",
        "generator.bf16.onnx",
    ]
    for bad in ("", "onnx,tflite"):
        with pytest.raises(ValueError, match="--formats"):
            select(bad, ["fp32"])
    with pytest.raises(ValueError, match="--int8 is a variant of the onnx format: include onnx in --formats"):
        select("torchscript", ["fp32", "int8"])


def test_export_writes_checked_files(exported, tiny_run):
    model = onnx.load(str(exported / "generator.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert not list(exported.glob("*.data"))  # self-contained
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [100, 1, 1]
    assert model.graph.input[0].name == "z" and model.graph.output[0].name == "image"
    props = {p.key: p.value for p in model.metadata_props}
    module, ts_json = load_torchscript(exported / "generator.torchscript")
    assert props[KEY] == ts_json  # one document, identical in both files
    meta = Metadata.from_json(ts_json)
    assert (meta.latent_dim, meta.image_size, meta.channels, meta.training_steps) == (100, 32, 3, 4)
    assert meta.bn_folded and not meta.bn_recalibrated and len(meta.weights_sha256) == 64
    assert meta.training_config["ngf"] == 8
    report = json.loads((exported / "parity.json").read_text())
    assert report["passed"] and {r["format"] for r in report["formats"]} == {
        "generator.onnx",
        "generator.torchscript",
        "generator.fp16.onnx",
        "generator.int8.onnx",
        "generator.bf16.onnx",
    }
    fp32 = [r for r in report["formats"] if r["precision"] == "fp32"]
    assert all(r["max_abs"] <= 1e-5 and [b["batch_size"] for b in r["batches"]] == [1, 3, 64] for r in fp32)


def test_torchscript_any_batch_without_project_code(exported, tiny_run):
    module, _ = load_torchscript(exported / "generator.torchscript")
    state = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    g = Generator(100, 8, 3, 32)
    g.load_state_dict(state["generator_ema"])  # what export ships: the run's average of G
    g.eval()
    for bs in (1, 3, 64):
        z = torch.randn(bs, 100, 1, 1)
        with torch.no_grad():
            assert (module(z) - g(z)).abs().max() <= 1e-5


def test_fp16_file_keeps_fp32_io(exported):
    model = onnx.load(str(exported / "generator.fp16.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    props = {p.key: p.value for p in model.metadata_props}
    assert Metadata.from_json(props[KEY]).precision == "fp16"


def test_parity_with_randomised_bn_and_recalibration(tiny_run, tmp_path):
    state = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    g = Generator(100, 8, 3, 32)
    g.load_state_dict(state["generator_ema"])
    state["generator_ema"] = randomise_bn(g, seed=5).state_dict()  # the weights export takes
    ckpt = tmp_path / "random_bn.pt"
    save_checkpoint(ckpt, {k: v for k, v in state.items() if k not in ("format", "version")})
    out = tmp_path / "out"
    assert export_main([str(ckpt), "--outdir", str(out), "--recalibrate-bn", "2"]) == 0
    report = json.loads((out / "parity.json").read_text())
    assert report["passed"] and report["bn_recalibrated"]
    assert all(r["max_abs"] <= 1e-5 for r in report["formats"])


def test_refusals(tmp_path, tiny_run, exported, capsys):
    assert export_main([str(tmp_path / "missing.pt"), "--outdir", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x02junk")
    assert export_main([str(corrupt), "--outdir", str(tmp_path / "o")]) == 1
    assert "corrupt" in capsys.readouterr().err
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)
    assert export_main([str(foreign), "--outdir", str(tmp_path / "o")]) == 1
    assert "not a DCGAN checkpoint" in capsys.readouterr().err
    assert export_main([str(tmp_path), "--outdir", str(tmp_path / "o")]) == 1  # a folder with no run
    assert export_main([str(tiny_run), "--outdir", str(exported)]) == 2  # holds files, no --force
    assert "--force" in capsys.readouterr().err
    assert export_main([str(tiny_run), "--outdir", str(tmp_path / "o"), "--opset", "13"]) == 2
    assert export_main([str(tiny_run), "--outdir", str(tmp_path / "o"), "--formats", "tflite"]) == 2
    assert not (tmp_path / "o").exists()  # nothing written on refusal


def test_latent_projection_is_exact():
    from export.rewrite import project_first_layer

    torch.manual_seed(1)
    folded = fold_batchnorm(randomise_bn(Generator(nz=20, ngf=16, channels=3, image_size=64)))
    projected = project_first_layer(folded)
    z = torch.randn(9, 20, 1, 1)
    with torch.no_grad():
        assert (projected(z) - folded(z)).abs().max() <= 1e-5


def test_onnx_graph_starts_with_a_matrix_product(onnx_model):
    ops = [n.op_type for n in onnx.load(str(onnx_model)).graph.node]
    assert ops.count("ConvTranspose") == 3 and ("Gemm" in ops or "MatMul" in ops)  # 32x32: 1 projection + 3 convT


def test_torchscript_loads_with_torch_alone(exported):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('train', 'export', 'dcgan_runtime'):\n"
        "    sys.modules[name] = None  # the project is unimportable\n"
        "import torch\n"
        "extra = {'dcgan': ''}\n"
        f"m = torch.jit.load({str(exported / 'generator.torchscript')!r}, _extra_files=extra)\n"
        "print(tuple(m(torch.zeros(3, 100, 1, 1)).shape), len(extra['dcgan']) > 100)"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(3, 3, 32, 32) True"


def test_export_fails_loudly_when_parity_fails(tiny_run, tmp_path, monkeypatch, capsys):
    from export import parity

    monkeypatch.setitem(parity.TOLERANCE, "fp32", 0.0)  # nothing can pass a zero tolerance
    assert export_main([str(tiny_run), "--outdir", str(tmp_path / "o"), "--formats", "onnx"]) == 1
    assert "parity failed" in capsys.readouterr().err
    assert json.loads((tmp_path / "o" / "parity.json").read_text())["passed"] is False
