"""The bad-input matrix: every public entry point, CLI and Python API, against the inputs users get wrong.

Each CLI case checks the exit code (2 usage error, 1 failure), a one-line error naming the problem,
no traceback, and no partial output. Each API case checks the documented exception type.
"""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from dcgan_runtime import Generator, MetadataError, ModelError

# ------------------------------------------------------------------ broken and foreign files


@pytest.fixture(scope="module")
def files(tmp_path_factory, onnx_model, tiny_run) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    out = {
        "missing": d / "missing.onnx",
        "empty_dir": d / "empty",
        "text": d / "text.onnx",
        "empty_file": d / "empty.onnx",
        "truncated": d / "truncated.onnx",
        "foreign": d / "foreign.onnx",
        "fixed_batch": d / "fixed.onnx",
        "future": d / "future.onnx",
        "liar": d / "liar.onnx",
        "ckpt_corrupt": d / "corrupt.pt",
        "ckpt_foreign": d / "foreign.pt",
        "not_a_dir": d / "file",
        "png": d / "exists.png",
        "run": tiny_run,
        "model": onnx_model,
    }
    out["empty_dir"].mkdir()
    out["text"].write_text("not a model")
    out["empty_file"].write_bytes(b"")
    out["truncated"].write_bytes(onnx_model.read_bytes()[:3000])
    out["not_a_dir"].write_text("a file")
    out["png"].write_bytes(b"an existing output")
    add = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])],
        "add",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(add), str(out["foreign"]))  # valid ONNX, not a DCGAN generator
    m = onnx.load(str(onnx_model))
    for t in (m.graph.input[0], m.graph.output[0]):
        t.type.tensor_type.shape.dim[0].dim_value = 4  # a fixed batch of 4
    onnx.save(m, str(out["fixed_batch"]))
    m = onnx.load(str(onnx_model))
    prop = next(p for p in m.metadata_props if p.key == "dcgan")
    prop.value = prop.value.replace('"format_version": 1', '"format_version": 2')
    onnx.save(m, str(out["future"]))
    m = onnx.load(str(onnx_model))
    prop = next(p for p in m.metadata_props if p.key == "dcgan")
    prop.value = prop.value.replace('"latent_dim": 100', '"latent_dim": 64')  # the graph still takes 100
    onnx.save(m, str(out["liar"]))
    out["ckpt_corrupt"].write_bytes(b"PK\x03\x04garbage")
    torch.save({"state_dict": {}}, out["ckpt_foreign"])
    bad_checkpoints(tiny_run, d, out)
    bad_metadata(onnx_model, d, out)
    bad_idx(d, out)
    return out


def with_metadata(src: Path, dst: Path, edit) -> None:
    """Copy an ONNX file with its dcgan metadata text changed by `edit`."""
    m = onnx.load(str(src))
    prop = next(p for p in m.metadata_props if p.key == "dcgan")
    prop.value = edit(prop.value)
    onnx.save(m, str(dst))


def bad_metadata(onnx_model: Path, d: Path, out: dict) -> None:
    def field(name, value):
        return lambda text: json.dumps({**json.loads(text), name: value})

    for key, edit in {
        "meta_float_size": field("image_size", 32.0),
        "meta_list_quant": field("quantization", [1, 2]),
        "meta_deep": lambda text: text[:-1] + ', "training_config": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "meta_escape": field("dataset", "\x1b[2J\x1b[31mcleared"),
    }.items():
        out[key] = d / f"{key}.onnx"
        with_metadata(onnx_model, out[key], edit)
    # a graph that computes 32x32 but declares (and promises in its metadata) 64x64: only running it tells
    m = onnx.load(str(onnx_model))
    for dim in m.graph.output[0].type.tensor_type.shape.dim[2:]:
        dim.dim_value = 64
    prop = next(p for p in m.metadata_props if p.key == "dcgan")
    prop.value = json.dumps({**json.loads(prop.value), "image_size": 64})
    out["meta_wrong_output"] = d / "meta_wrong_output.onnx"
    onnx.save(m, str(out["meta_wrong_output"]))


def bad_checkpoints(run: Path, d: Path, out: dict) -> None:
    from train.checkpoint import load_checkpoint, save_checkpoint

    good = load_checkpoint(run / "checkpoints" / "last.pt")
    cases = {
        "ckpt_float_size": {**good, "config": {**good["config"], "image_size": 32.0}},
        "ckpt_string_nz": {**good, "config": {**good["config"], "nz": "100"}},
        "ckpt_string_step": {**good, "step": "abc"},
        "ckpt_no_config": {k: v for k, v in good.items() if k != "config"},
        "ckpt_wrong_arch": {**good, "config": {**good["config"], "ngf": 16}},  # the weights are ngf 8
    }
    for key, state in cases.items():
        out[key] = d / f"{key}.pt"
        save_checkpoint(out[key], {k: v for k, v in state.items() if k not in ("format", "version")})


def bad_idx(d: Path, out: dict) -> None:
    head = b"\x00\x00\x08\x03"
    files = {
        "idx_short_header": head + b"\x00\x00",
        "idx_zero_size": head + struct.pack(">3I", 5, 0, 28),
        "idx_truncated_gzip": gzip.compress(head + struct.pack(">3I", 100, 28, 28) + np.random.bytes(78_400))[:40_000],
        "idx_bad_gzip": b"\x1f\x8b" + b"not gzip at all" * 4,
        # 1 MB of gzip that declares 10 GB of pixels: refused from the header, nothing allocated
        "idx_huge_declared": gzip.compress(head + struct.pack(">3I", 10_000_000, 1000, 1000) + bytes(10**6)),
    }
    for key, data in files.items():
        out[key] = d / f"{key}-images-idx3-ubyte"
        out[key].write_bytes(data)


# ------------------------------------------------------------------ CLIs

TRAIN = (
    "train --data toyfaces --num-images 32 --image-size 32 --ngf 8 --ndf 8 --batch-size 16 --dry-run --quiet "
    "--out {out}"
).split()
CLI_CASES = [
    # (id, argv, exit code, words the error must contain)
    ("train: wrong type", TRAIN + ["--batch-size", "abc"], 2, "invalid int value"),
    ("train: unsupported size", TRAIN + ["--image-size", "48"], 2, "invalid choice"),
    ("train: negative lr", TRAIN + ["--lr", "-1"], 2, "lr must be"),
    ("train: seed out of range", TRAIN + ["--seed", str(2**32)], 2, "seed must be"),
    ("train: zero images", TRAIN + ["--num-images", "0"], 2, "--num-images must be"),
    ("train: negative steps", TRAIN + ["--max-steps", "-1"], 2, "--max-steps must be"),
    ("train: missing data", TRAIN + ["--data", "{missing}"], 2, "does not exist"),
    ("train: empty data folder", TRAIN + ["--data", "{empty_dir}"], 2, "no images"),
    ("train: data file not images", TRAIN + ["--data", "{text}"], 2, "neither an IDX file"),
    ("train: batch larger than data", TRAIN + ["--batch-size", "64"], 2, "fewer than --batch-size"),
    ("train: cuda without a GPU", TRAIN + ["--device", "cuda"], 2, "no CUDA GPU"),
    ("train: resume with no run", TRAIN + ["--resume"], 1, "no usable checkpoint"),
    (
        "train: run dir is a file",
        [a.replace("{out}", "{not_a_dir}/run") for a in TRAIN],
        1,
        "cannot write the run directory",
    ),
    ("export: missing checkpoint", ["export", "{missing}", "--outdir", "{out}"], 1, "does not exist"),
    ("export: corrupt checkpoint", ["export", "{ckpt_corrupt}", "--outdir", "{out}"], 1, "corrupt"),
    ("export: foreign checkpoint", ["export", "{ckpt_foreign}", "--outdir", "{out}"], 1, "not a DCGAN checkpoint"),
    ("export: folder without a run", ["export", "{empty_dir}", "--outdir", "{out}"], 1, "no checkpoints/last.pt"),
    ("export: outdir holds files", ["export", "{run}", "--outdir", "{run}"], 2, "--force"),
    ("export: old opset", ["export", "{run}", "--outdir", "{out}", "--opset", "11"], 2, "--opset"),
    ("export: opset not a number", ["export", "{run}", "--outdir", "{out}", "--opset", "x"], 2, "invalid int"),
    ("export: unknown format", ["export", "{run}", "--outdir", "{out}", "--formats", "tflite"], 2, "--formats"),
    (
        "export: fp16 without onnx",
        ["export", "{run}", "--outdir", "{out}", "--formats", "torchscript", "--fp16"],
        2,
        "--fp16",
    ),
    (
        "export: negative recalibration",
        ["export", "{run}", "--outdir", "{out}", "--recalibrate-bn", "-1"],
        2,
        "--recalibrate-bn",
    ),
    ("dcgan: missing model", ["dcgan", "info", "{missing}"], 1, "does not exist"),
    ("dcgan: empty model file", ["dcgan", "info", "{empty_file}"], 1, "cannot load"),
    ("dcgan: text file", ["dcgan", "info", "{text}"], 1, "cannot load"),
    ("dcgan: truncated model", ["dcgan", "info", "{truncated}"], 1, "cannot load"),
    ("dcgan: not a DCGAN generator", ["dcgan", "info", "{foreign}"], 1, "no 'dcgan' metadata"),
    ("dcgan: fixed batch size", ["dcgan", "info", "{fixed_batch}"], 1, "fixed batch size"),
    ("dcgan: future metadata", ["dcgan", "info", "{future}"], 1, "newer than this runtime"),
    (
        "dcgan: seeds not numbers",
        ["dcgan", "generate", "{model}", "--seeds", "a-b", "--out", "{out}/g.png"],
        2,
        "--seeds",
    ),
    (
        "dcgan: seed out of range",
        ["dcgan", "generate", "{model}", "--seeds", str(2**32), "--out", "{out}/g.png"],
        2,
        "outside",
    ),
    ("dcgan: negative seed", ["dcgan", "generate", "{model}", "--seeds", "-1", "--out", "{out}/g.png"], 2, "outside"),
    (
        "dcgan: huge seed range",
        ["dcgan", "generate", "{model}", "--seeds", "0-999999", "--out", "{out}/g.png"],
        2,
        "longer than",
    ),
    (
        "dcgan: grid mismatch",
        ["dcgan", "generate", "{model}", "--seeds", "0-3", "--grid", "3x3", "--out", "{out}/g.png"],
        2,
        "holds 9",
    ),
    (
        "dcgan: bad grid",
        ["dcgan", "generate", "{model}", "--seeds", "0-3", "--grid", "4by1", "--out", "{out}/g.png"],
        2,
        "COLSxROWS",
    ),
    ("dcgan: no output", ["dcgan", "generate", "{model}"], 2, "--out"),
    ("dcgan: unknown suffix", ["dcgan", "generate", "{model}", "--out", "{out}/g.tiff"], 2, "must end in"),
    ("dcgan: output exists", ["dcgan", "generate", "{model}", "--seeds", "0", "--out", "{png}"], 2, "exists"),
    (
        "dcgan: output under a file",
        ["dcgan", "generate", "{model}", "--seeds", "0", "--out", "{not_a_dir}/g.png"],
        1,
        "error",
    ),
    (
        "dcgan: batch size 0",
        ["dcgan", "generate", "{model}", "--batch-size", "0", "--out", "{out}/g.png"],
        2,
        "--batch-size must be in 1..4096, got 0",
    ),
    ("dcgan: threads 0", ["dcgan", "info", "{model}", "--threads", "0"], 2, "--threads"),
    (
        "dcgan: tune on 100,000 threads",
        ["dcgan", "tune", "{model}", "--threads", "100000"],
        2,
        "--threads must be in 1..1024, got 100000",
    ),
    ("dcgan: unknown device", ["dcgan", "info", "{model}", "--device", "tpu"], 2, "device must be"),
    ("dcgan: cuda not installed", ["dcgan", "info", "{model}", "--device", "cuda"], 1, "dcgan[gpu]"),
    (
        "dcgan: one seed to walk",
        ["dcgan", "interpolate", "{model}", "--seeds", "3", "--out", "{out}/w.gif"],
        2,
        "two seeds",
    ),
    (
        "dcgan: steps < 2",
        ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--steps", "1", "--out", "{out}/w.gif"],
        2,
        "--steps",
    ),
    (
        "dcgan: steps not a number",
        ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--steps", "x", "--out", "{out}/w.gif"],
        2,
        "--steps must be an integer in 2..10000, got 'x'",
    ),
    (
        "dcgan: zero fps",
        ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--fps", "0", "--out", "{out}/w.gif"],
        2,
        "fps",
    ),
    ("dcgan: no plus term", ["dcgan", "arithmetic", "{model}", "--minus", "1", "--out", "{out}/a.png"], 2, "--plus"),
    ("dcgan: batch sizes", ["dcgan", "bench", "{model}", "--batch-sizes", "0,8"], 2, "positive"),
    # round two: the cases a careless user hits next
    ("train: IDX header cut short", TRAIN + ["--data", "{idx_short_header}"], 2, "truncated inside its header"),
    ("train: IDX of 0x28 images", TRAIN + ["--data", "{idx_zero_size}"], 2, "at least 1"),
    ("train: IDX gzip cut short", TRAIN + ["--data", "{idx_truncated_gzip}"], 2, "damaged gzip"),
    ("train: IDX not really gzip", TRAIN + ["--data", "{idx_bad_gzip}"], 2, "damaged gzip"),
    ("train: IDX declaring 10 GB", TRAIN + ["--data", "{idx_huge_declared}"], 2, "MiB in all"),
    ("export: config of a wrong type", ["export", "{ckpt_float_size}", "--outdir", "{out}"], 1, "image_size must be"),
    ("export: nz a string", ["export", "{ckpt_string_nz}", "--outdir", "{out}"], 1, "nz must be"),
    ("export: step a string", ["export", "{ckpt_string_step}", "--outdir", "{out}"], 1, "expected an integer"),
    ("export: no config", ["export", "{ckpt_no_config}", "--outdir", "{out}"], 1, "no training config"),
    ("export: weights of another width", ["export", "{ckpt_wrong_arch}", "--outdir", "{out}"], 1, "do not match"),
    ("export: replace a run directory", ["export", "{run}", "--outdir", "{run}", "--force"], 2, "not an export"),
    ("dcgan: metadata size a float", ["dcgan", "info", "{meta_float_size}"], 1, "image_size must be an integer"),
    ("dcgan: metadata block a list", ["dcgan", "info", "{meta_list_quant}"], 1, "quantization must be"),
    ("dcgan: metadata nested deep", ["dcgan", "info", "{meta_deep}"], 1, "nested too deeply"),
    (
        "dcgan: wrong real output",
        ["dcgan", "generate", "{meta_wrong_output}", "--out", "{out}/g.png"],
        1,
        "does not match its dcgan metadata",
    ),
    (
        "dcgan: fps 1e-9",
        ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--fps", "1e-9", "--out", "{out}/w.gif"],
        2,
        "--fps",
    ),
    (
        "dcgan: fps nan",
        ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--fps", "nan", "--out", "{out}/w.gif"],
        2,
        "--fps",
    ),
    (
        "dcgan: 100M steps",
        ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--steps", "100000000", "--out", "{out}/w.gif"],
        2,
        "--steps",
    ),
    (
        "dcgan: steps x seeds",
        ["dcgan", "interpolate", "{model}", "--seeds", "0-999", "--steps", "64", "--out", "{out}/w.gif"],
        2,
        "frames",
    ),
    (
        "dcgan: 200,000 seeds in two ranges",
        ["dcgan", "generate", "{model}", "--seeds", "0-99999,0-99999", "--out", "{out}/g.png"],
        2,
        "200,000 seeds",
    ),
    (
        "dcgan: a grid of a billion",
        ["dcgan", "generate", "{model}", "--seeds", "0", "--grid", "100000x10000", "--out", "{out}/g.png"],
        2,
        "--grid",
    ),
    (
        "dcgan: noise nan",
        ["dcgan", "arithmetic", "{model}", "--plus", "1", "--noise", "nan", "--out", "{out}/a.png"],
        2,
        "--noise",
    ),
    ("dcgan: batch sizes too big", ["dcgan", "bench", "{model}", "--batch-sizes", "1,99999999"], 2, "up to 4,096"),
]


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr). `dcgan` runs in a fresh process (it is cheap); train and export run
    in-process to spare a torch import per case: an uncaught exception there fails the test."""
    if argv[0] == "dcgan":
        r = subprocess.run(
            [sys.executable, "-m", "dcgan_runtime", *argv[1:]], capture_output=True, text=True, timeout=120
        )
        return r.returncode, r.stderr
    from export.__main__ import main as export_main
    from train.cli import main as train_main

    capsys.readouterr()
    try:
        code = {"train": train_main, "export": export_main}[argv[0]](argv[1:])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(case, files, tmp_path, capsys):
    _, argv, code, words = case
    out = tmp_path / "out"
    argv = [a.format(out=out, **files) for a in argv]
    watched = [Path(files["model"]).parent, files["text"].parent]  # the model's folder and the bad files' folder
    before = [set(d.iterdir()) for d in watched]
    assert files["png"].exists()
    returncode, stderr = run_cli(argv, capsys)
    assert returncode == code, stderr
    assert words in stderr, stderr
    assert "Traceback" not in stderr
    assert not out.exists() or not any(out.iterdir())  # nothing half-written
    assert [set(d.iterdir()) for d in watched] == before
    assert files["png"].read_bytes() == b"an existing output"  # never overwritten without --force


# ------------------------------------------------------------------ Python API


@pytest.fixture(scope="module")
def g(onnx_model):
    return Generator.load(onnx_model, device="cpu")


API_CASES = [
    ("load: path of a wrong type", lambda f, g: Generator.load(123), ValueError, "str or os.PathLike"),
    ("load: missing", lambda f, g: Generator.load(f["missing"]), ModelError, "does not exist"),
    ("load: not ONNX", lambda f, g: Generator.load(f["text"]), ModelError, "cannot load"),
    ("load: truncated", lambda f, g: Generator.load(f["truncated"]), ModelError, "cannot load"),
    ("load: foreign ONNX", lambda f, g: Generator.load(f["foreign"]), MetadataError, "no 'dcgan' metadata"),
    ("load: fixed batch", lambda f, g: Generator.load(f["fixed_batch"]), ModelError, "fixed batch size"),
    ("load: future version", lambda f, g: Generator.load(f["future"]), MetadataError, "newer"),
    (
        "load: metadata that lies",
        lambda f, g: Generator.load(f["liar"]),
        ModelError,
        "does not match its dcgan metadata",
    ),
    ("load: threads 0", lambda f, g: Generator.load(f["model"], threads=0), ValueError, "threads"),
    ("load: threads of a wrong type", lambda f, g: Generator.load(f["model"], threads="2"), ValueError, "threads"),
    ("load: 100,000 threads", lambda f, g: Generator.load(f["model"], threads=100_000), ValueError, "1..1024"),
    ("load: unknown device", lambda f, g: Generator.load(f["model"], device="gpu"), ValueError, "device"),
    ("generate: n=0", lambda f, g: g.generate(0), ValueError, "positive"),
    ("generate: n negative", lambda f, g: g.generate(-3), ValueError, "positive"),
    ("generate: n a float", lambda f, g: g.generate(2.5), ValueError, "positive integer"),
    ("generate: huge n", lambda f, g: g.generate(10**9), ValueError, "per call"),
    ("generate: seed out of range", lambda f, g: g.generate(1, seed=2**32), ValueError, "outside"),
    ("generate: negative seed in seeds", lambda f, g: g.generate(seeds=[-1]), ValueError, "outside"),
    ("generate: seeds out of range", lambda f, g: g.generate(seeds=[2**32]), ValueError, "outside"),
    ("generate: seed a string", lambda f, g: g.generate(seeds=["7"]), ValueError, "integer"),
    ("generate: seeds a string", lambda f, g: g.generate(seeds="7"), ValueError, "sequence"),
    ("generate: no seeds", lambda f, g: g.generate(seeds=[]), ValueError, "empty"),
    ("generate: n and seeds disagree", lambda f, g: g.generate(3, seeds=[1, 2]), ValueError, "not both"),
    ("decode: NaN", lambda f, g: g.decode(np.full((2, 100), np.nan, np.float32)), ValueError, "NaN"),
    ("decode: beyond float32", lambda f, g: g.decode(np.full((1, 100), 1e39)), ValueError, "float32's range"),
    ("decode: a string", lambda f, g: g.decode("1"), ValueError, "array of floats"),
    ("decode: a list of strings", lambda f, g: g.decode([["1"] * 100]), ValueError, "floating"),
    ("load: metadata size a float", lambda f, g: Generator.load(f["meta_float_size"]), MetadataError, "integer"),
    ("load: metadata block a list", lambda f, g: Generator.load(f["meta_list_quant"]), MetadataError, "JSON object"),
    ("load: metadata nested deep", lambda f, g: Generator.load(f["meta_deep"]), MetadataError, "nested too deeply"),
    (
        "decode: a graph computing another size",
        lambda f, g: Generator.load(f["meta_wrong_output"]).generate(2),
        ModelError,
        "does not match its dcgan metadata",
    ),
    ("decode: inf", lambda f, g: g.decode(np.full((2, 100), np.inf, np.float32)), ValueError, "infinite"),
    ("decode: wrong length", lambda f, g: g.decode(np.zeros((2, 64), np.float32)), ValueError, "shape"),
    ("decode: integers", lambda f, g: g.decode(np.zeros((2, 100), np.int32)), ValueError, "floating"),
    ("decode: empty", lambda f, g: g.decode(np.zeros((0, 100), np.float32)), ValueError, "N >= 1"),
    ("decode: strings", lambda f, g: g.decode([["a"] * 100]), ValueError, "floating"),
    ("decode: bad output", lambda f, g: g.decode(np.zeros((1, 100), np.float32), output="png"), ValueError, "output"),
    (
        "decode: batch size 0",
        lambda f, g: g.decode(np.zeros((1, 100), np.float32), batch_size=0),
        ValueError,
        "batch_size",
    ),
    (
        "decode: batch too big",
        lambda f, g: g.decode(np.zeros((1, 100), np.float32), batch_size=10**6),
        ValueError,
        "batch_size",
    ),
    ("interpolate: steps 1", lambda f, g: g.interpolate(np.zeros(100), np.ones(100), steps=1), ValueError, "steps"),
    (
        "interpolate: bad method",
        lambda f, g: g.interpolate(np.zeros(100), np.ones(100), method="x"),
        ValueError,
        "method",
    ),
    ("interpolate: NaN endpoint", lambda f, g: g.interpolate(np.full(100, np.nan), np.ones(100)), ValueError, "NaN"),
    ("arithmetic: nothing to add", lambda f, g: g.arithmetic(plus=[]), ValueError, "at least one"),
    ("arithmetic: wrong length", lambda f, g: g.arithmetic(plus=[np.zeros((3, 5))]), ValueError, "shape"),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(case, files, g):
    _, call, exc, words = case
    with pytest.raises(exc, match=words.replace("(", r"\(").replace("[", r"\[")):
        call(files, g)


def test_train_and_export_api_bad_input():
    from export.fold import recalibrate_batchnorm
    from export.formats import select
    from train.config import TrainConfig
    from train.data import DataError, load_dataset
    from train.model import Generator as TorchGenerator

    with pytest.raises(ValueError, match="image_size"):
        TrainConfig(image_size=100)
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("/no/such/folder", 32, 3)
    with pytest.raises(ValueError, match="--formats"):
        select("onnx,onnx2", ["fp32"])
    with pytest.raises(ValueError, match="at least 1 batch"):
        recalibrate_batchnorm(TorchGenerator(nz=4, ngf=4, image_size=32), 0)


# ------------------------------------------------------------------ round two: what a single table cannot show


@pytest.mark.parametrize("damage", [b"", b"garbage, not a checkpoint"])
def test_resume_falls_back_past_an_empty_or_garbage_last_pt(tmp_path, damage, capsys):
    from support import train_tiny
    from train.checkpoint import load_checkpoint

    assert train_tiny(tmp_path, "--max-steps", "4", "--checkpoint-every", "2", "--num-images", "48") == 0
    (tmp_path / "checkpoints" / "last.pt").write_bytes(damage)
    capsys.readouterr()
    assert train_tiny(tmp_path, "--max-steps", "6", "--num-images", "48", "--resume") == 0
    assert "warning: skipping a bad checkpoint" in capsys.readouterr().err  # one line, not Python's format
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 6


def test_resume_refuses_a_checkpoint_without_its_rng_state(tmp_path):
    from support import train_tiny
    from train.checkpoint import CheckpointError, check_resumable, load_checkpoint

    assert train_tiny(tmp_path, "--max-steps", "2", "--num-images", "48") == 0
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    with pytest.raises(CheckpointError, match="RNG state"):
        check_resumable({**state, "rng": {}}, "last.pt")
    with pytest.raises(CheckpointError, match="optimiser"):
        check_resumable({k: v for k, v in state.items() if k != "optim"}, "last.pt")
    assert "adaptive" in state["optim"]  # 48 images: the adaptive recipe
    good = state["optim"]["adaptive"]
    for damaged in ({}, {**good, "p": "x"}, {**good, "p": 2.0}, {**good, "seen": 4}, {**good, "seen": 1.5}):
        with pytest.raises(CheckpointError, match="damaged adaptive augmentation state"):
            check_resumable({**state, "optim": {**state["optim"], "adaptive": damaged}}, "last.pt")
    dropped = {k: v for k, v in state["optim"].items() if k != "adaptive"}
    with pytest.raises(CheckpointError, match="missing or damaged adaptive"):
        check_resumable({**state, "optim": dropped}, "last.pt")


def test_export_force_replaces_the_whole_previous_export(tiny_run, tmp_path):
    from export.__main__ import main as export_main

    out = tmp_path / "export"
    assert export_main([str(tiny_run), "--outdir", str(out), "--formats", "onnx", "--int8"]) == 0
    assert (out / "generator.int8.onnx").exists()
    assert export_main([str(tiny_run), "--outdir", str(out), "--formats", "onnx", "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "generator.onnx",
        "parity.json",
        "sample.png",
    ]  # nothing old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no staging or old folders left


def test_export_on_a_full_disk_is_one_line_and_keeps_the_old_export(tiny_run, tmp_path, monkeypatch, capsys):
    from export import onnx_export
    from export.__main__ import main as export_main

    out = tmp_path / "export"
    assert export_main([str(tiny_run), "--outdir", str(out), "--formats", "onnx"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(path, data, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx_export, "atomic_write", full)
    capsys.readouterr()
    assert export_main([str(tiny_run), "--outdir", str(out), "--formats", "onnx", "--force"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_16_bit_png_decodes_to_its_real_grey_levels(tmp_path):
    from PIL import Image

    from train.data import load_image

    grey = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0..65520
    Image.fromarray(grey).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    img = load_image(tmp_path / "g16.png", 64, 1)
    assert abs(float(img.mean()) - float((grey / 257).mean())) < 1.0  # not clipped to white


def test_a_huge_image_is_skipped_from_its_header_not_decoded(tmp_path):
    from PIL import Image

    from train.data import MAX_PIXELS, load_dataset

    Image.new("L", (8000, 8000)).save(tmp_path / "huge.png")  # 64M pixels, under Pillow's own bomb limit
    assert 8000 * 8000 > MAX_PIXELS
    for i in range(2):
        Image.new("RGB", (40, 40), (i * 100, 0, 0)).save(tmp_path / f"ok{i}.png")
    with pytest.warns(UserWarning, match="skipped 1 of 3 .*more than"):
        ds = load_dataset(str(tmp_path), 32, 3)
    assert len(ds) == 2 and ds.skipped == 1


def test_no_overwrite_holds_between_racing_writers(tmp_path):
    import threading

    from dcgan_runtime.files import atomic_write

    target, results = tmp_path / "same.png", []
    barrier = threading.Barrier(8)

    def write(i):
        barrier.wait()
        try:
            atomic_write(target, bytes([i]) * 100, overwrite=False)
            results.append(i)
        except FileExistsError:
            pass

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and target.read_bytes() == bytes([results[0]]) * 100
    assert [p.name for p in tmp_path.iterdir()] == ["same.png"]  # no temp files left


def test_two_generate_commands_racing_for_one_name(onnx_model, tmp_path):
    out = tmp_path / "g.png"
    cmd = [sys.executable, "-m", "dcgan_runtime", "generate", str(onnx_model), "--seeds", "0-63", "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes[0] == 0 and codes[1] in (1, 2), results  # one wrote; the other said the file exists
    assert sum("wrote" in r[1] for r in results) == 1
    assert any("exists" in r[2] for r in results)


def test_outputs_get_the_permissions_a_plain_write_gives(onnx_model, tmp_path):
    import os

    from dcgan_runtime.cli import main

    old = os.umask(0o022)
    try:
        assert main(["generate", str(onnx_model), "--seeds", "0-3", "--out", str(tmp_path / "g.png")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "g.png").stat().st_mode & 0o777 == 0o644


def test_info_escapes_control_characters_in_metadata(files):
    r = subprocess.run(
        [sys.executable, "-m", "dcgan_runtime", "info", str(files["meta_escape"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "\x1b" not in r.stdout and "\\x1b[2J" in r.stdout


def test_onnxruntime_failures_while_running_are_model_errors(onnx_model):
    g = Generator.load(onnx_model, device="cpu", threads=1)

    def out_of_memory(binding):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate 274877906944 bytes")

    g.session.run_with_iobinding = out_of_memory
    with pytest.raises(ModelError, match="could not run .*Failed to allocate"):
        g.generate(2)
