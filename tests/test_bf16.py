"""The bf16 path: `python -m export --bf16`, `precision="bf16"` on OpenVINO where the CPU has the units,
and one clear refusal where it has not (the units are read from /proc/cpuinfo; tests cap them by
handing the engine another CPU's flags)."""

import importlib.util
import json
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest

from dcgan_runtime import Generator
from dcgan_runtime.cli import main
from dcgan_runtime.engine import openvino_cpu
from dcgan_runtime.errors import MetadataError, ProviderError
from dcgan_runtime.metadata import KEY, Metadata

WHY = openvino_cpu.unavailable()
runs_here = pytest.mark.skipif(WHY is not None, reason=f"bf16 does not run on this machine: {WHY}")
AVX2_EPYC = ("AMD EPYC 7B13", frozenset({"avx", "avx2", "fma", "sse4_2"}))  # no AVX-512, no bf16 units


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(4.0 / max(float(((a.astype(np.float64) - b) ** 2).mean()), 1e-30)))


def test_bf16_file_is_plain_convolutions_with_fp32_weights(exported):
    model = onnx.load(str(exported / "generator.bf16.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert "ConvTranspose" not in ops and {"Conv", "Gemm", "Tanh"} <= ops
    weights = [t for t in model.graph.initializer if t.data_type != onnx.TensorProto.INT64]  # INT64: shapes
    assert weights and {t.data_type for t in weights} == {onnx.TensorProto.FLOAT}
    meta = Metadata.from_json({p.key: p.value for p in model.metadata_props}[KEY])
    assert meta.precision == "bf16" and "bf16" in meta.quantization["scheme"]
    row = next(r for r in json.loads((exported / "parity.json").read_text())["formats"] if r["precision"] == "bf16")
    assert row["passed"] and row["rewrite_max_abs"] <= 1e-5
    if WHY is None:  # computed in bf16 here: PSNR against the PyTorch model, the same image in any batch
        assert row["psnr_db"] >= 40 and row["batch_invariant"] and row["latents"] == 1024
    else:  # the graph checked in fp32, and the row says why bf16 was not run
        assert row["bf16_run"] is False and row["why"] == WHY and row["max_abs"] <= 1e-5


@runs_here
def test_bf16_runs_on_openvino_and_says_so(exported):
    g = Generator.load(exported, device="cpu", precision="bf16", threads=2)
    assert g.providers == ["OpenVINO CPU"] and g.metadata.precision == "bf16"
    assert "bf16 on OpenVINO CPU" in g.plan.describe()
    fp32 = Generator.load(exported, device="cpu").generate(seeds=range(64), output="float")
    got = g.generate(seeds=range(64), output="float")
    assert psnr(got, fp32) >= 40 and not np.array_equal(got, fp32)  # bf16 ran, close to fp32
    for bs in (1, 7, 64):  # the seed contract: a seed names an image whatever the batch
        assert np.array_equal(g.generate(seeds=range(64), batch_size=bs, output="float"), got)
    with ThreadPoolExecutor(4) as pool:  # one Generator, many callers: pooled infer requests
        outs = list(pool.map(lambda s: g.generate(seeds=range(s, s + 8), output="float"), range(0, 64, 8)))
    assert np.array_equal(np.concatenate(outs), got)
    again = pickle.loads(pickle.dumps(g))
    assert again.providers == ["OpenVINO CPU"] and np.array_equal(again.generate(seeds=[3], output="float"), got[3:4])
    direct = Generator.load(exported / "generator.bf16.onnx")  # the file itself: its metadata picks the engine
    assert direct.providers == ["OpenVINO CPU"]
    g.close()
    with pytest.raises(ValueError, match="nothing to tune|no CPU plan"):
        direct.tune()


@runs_here
def test_cli_generate_and_bench_in_bf16(exported, tmp_path, capsys):
    assert main(["generate", str(exported), "--precision", "bf16", "--seeds", "0-3", "--outdir", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "00000").iterdir()) == [f"seed{i:04d}.png" for i in range(4)]
    capsys.readouterr()
    assert main(["bench", str(exported), "--precision", "fp32,bf16", "--batch-sizes", "1,4", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "OpenVINO" in out.splitlines()[0] and "bf16  providers OpenVINO CPU" in out
    assert main(["info", str(exported / "generator.bf16.onnx")]) == 0
    assert "bf16 on OpenVINO CPU" in capsys.readouterr().out


def test_bf16_refused_on_a_cpu_without_the_units(exported, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(openvino_cpu, "cpu_info", lambda: AVX2_EPYC)
    with pytest.raises(ProviderError, match=r"AMX or AVX512-BF16.*AMD EPYC 7B13.*avx avx2.*precision='fp32'"):
        Generator.load(exported, precision="bf16")
    assert main(["generate", str(exported), "--precision", "bf16", "--seeds", "0", "--outdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "AMX or AVX512-BF16" in err


def test_bf16_without_openvino_names_the_extra(exported, monkeypatch):
    monkeypatch.setattr(openvino_cpu, "bf16_units", lambda: ["amx_bf16"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(ProviderError, match=r"pip install 'dcgan\[openvino\]'"):
        Generator.load(exported, precision="bf16")


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"device": "cuda"}, ProviderError, "runs on the CPU through OpenVINO"),
        ({"providers": ["CPUExecutionProvider"]}, ProviderError, "providers="),
        ({"tune": True}, ValueError, "one OpenVINO model"),
    ],
)
def test_bf16_refuses_what_it_cannot_honour(exported, kwargs, error, match):
    with pytest.raises(error, match=match):
        Generator.load(exported, precision="bf16", **kwargs)


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO is not installed ([openvino])")
def test_only_bf16_files_open_on_the_bf16_engine(exported):
    with pytest.raises(MetadataError, match="int8 weights, not bf16"):
        openvino_cpu.read(exported / "generator.int8.onnx")


def test_precision_auto_is_measured_cached_and_loaded(exported, tmp_path, monkeypatch, capsys):
    from dcgan_runtime.engine import precision

    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    g = Generator.load(exported, precision="auto", threads=2)  # nothing measured yet: fp32, said in the log
    assert g.metadata.precision == "fp32"
    assert main(["tune", str(exported), "--precision", "auto", "--threads", "2", "--seconds", "0.2"]) == 0
    out = capsys.readouterr().out
    chosen = out.strip().splitlines()[-1].split()[2]
    assert chosen in ("fp32", "int8", "bf16") and f"{chosen}" in out and "images/s" in out
    assert ("bf16      not measured" in out) == (WHY is not None)  # skipped with its reason where it cannot run
    cached = json.loads(next((tmp_path / "cache" / "tune").glob("precision-*.json")).read_text())
    assert cached["precision"] == chosen and set(cached["images_per_s"]) >= {"fp32", "int8"}
    assert Generator.load(exported, precision="auto", threads=2).metadata.precision == chosen
    assert Generator.load(exported, precision="auto", threads=1).metadata.precision == "fp32"  # per thread count
    with pytest.raises(ValueError, match="takes a local export folder"):
        Generator.load(exported / "generator.onnx", precision="auto")
    assert precision.decide({"fp32": {1: [1.0, 1.0, 1.0]}, "int8": {1: [0.5, 0.5, 2.0]}}) == "fp32"  # 2 of 3 rounds


def test_triton_repository_refuses_the_bf16_file(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(openvino_cpu, "unavailable", lambda: None)  # load it whatever this CPU has
    monkeypatch.setattr(openvino_cpu, "Compiled", lambda model, threads, path: _NoRun())
    monkeypatch.setattr(openvino_cpu, "read", lambda path: (None, _bf16_meta(exported)))
    assert main(["triton", str(exported), "--precision", "bf16", "--out", str(tmp_path / "repo")]) == 2
    err = capsys.readouterr().err
    assert "Triton's onnxruntime backend would run it in fp32" in err and not (tmp_path / "repo").exists()


class _NoRun:
    def get_providers(self) -> list[str]:
        return [openvino_cpu.NAME]


def _bf16_meta(exported) -> Metadata:
    model = onnx.load(str(exported / "generator.bf16.onnx"), load_external_data=False)
    return Metadata.from_json({p.key: p.value for p in model.metadata_props}[KEY])
