"""The bad-input matrix: every public entry point, CLI and Python API, against the inputs users get wrong.

Each CLI case checks the exit code (2 usage error, 1 failure), a one-line error naming the problem,
no traceback, and no partial output. Each API case checks the documented exception type.
"""
from __future__ import annotations

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
    out = {"missing": d / "missing.onnx", "empty_dir": d / "empty", "text": d / "text.onnx",
           "empty_file": d / "empty.onnx", "truncated": d / "truncated.onnx", "foreign": d / "foreign.onnx",
           "fixed_batch": d / "fixed.onnx", "future": d / "future.onnx", "ckpt_corrupt": d / "corrupt.pt",
           "ckpt_foreign": d / "foreign.pt", "not_a_dir": d / "file", "png": d / "exists.png", "run": tiny_run, "model": onnx_model}
    out["empty_dir"].mkdir()
    out["text"].write_text("not a model")
    out["empty_file"].write_bytes(b"")
    out["truncated"].write_bytes(onnx_model.read_bytes()[:3000])
    out["not_a_dir"].write_text("a file")
    out["png"].write_bytes(b"an existing output")
    add = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "add",
                            [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "ab"],
                            [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(add), str(out["foreign"]))  # valid ONNX, not a DCGAN generator
    m = onnx.load(str(onnx_model))
    for t in (m.graph.input[0], m.graph.output[0]):
        t.type.tensor_type.shape.dim[0].dim_value = 4  # a fixed batch of 4
    onnx.save(m, str(out["fixed_batch"]))
    m = onnx.load(str(onnx_model))
    prop = next(p for p in m.metadata_props if p.key == "dcgan")
    prop.value = prop.value.replace('"format_version": 1', '"format_version": 2')
    onnx.save(m, str(out["future"]))
    out["ckpt_corrupt"].write_bytes(b"PK\x03\x04garbage")
    torch.save({"state_dict": {}}, out["ckpt_foreign"])
    return out


# ------------------------------------------------------------------ CLIs

TRAIN = ["train", "--data", "toyfaces", "--num-images", "32", "--image-size", "32", "--ngf", "8", "--ndf", "8",
         "--batch-size", "16", "--dry-run", "--quiet", "--out", "{out}"]
CLI_CASES = [
    # (id, argv, exit code, words the error must contain)
    ("train: wrong type", TRAIN + ["--batch-size", "abc"], 2, "invalid int value"),
    ("train: unsupported size", TRAIN + ["--image-size", "48"], 2, "invalid choice"),
    ("train: negative lr", TRAIN + ["--lr", "-1"], 2, "lr must be"),
    ("train: seed out of range", TRAIN + ["--seed", str(2**32)], 2, "seed must be"),
    ("train: zero images", TRAIN + ["--num-images", "0"], 2, "num_images must be"),
    ("train: negative steps", TRAIN + ["--max-steps", "-1"], 2, "max_steps must be"),
    ("train: missing data", TRAIN + ["--data", "{missing}"], 2, "does not exist"),
    ("train: empty data folder", TRAIN + ["--data", "{empty_dir}"], 2, "no images"),
    ("train: data file not images", TRAIN + ["--data", "{text}"], 2, "neither an IDX file"),
    ("train: batch larger than data", TRAIN + ["--batch-size", "64"], 2, "fewer than --batch-size"),
    ("train: cuda without a GPU", TRAIN + ["--device", "cuda"], 2, "no CUDA GPU"),
    ("train: resume with no run", TRAIN + ["--resume"], 1, "no usable checkpoint"),
    ("train: run dir is a file", [a.replace("{out}", "{not_a_dir}/run") for a in TRAIN], 1, "cannot write the run directory"),
    ("export: missing checkpoint", ["export", "{missing}", "--outdir", "{out}"], 1, "does not exist"),
    ("export: corrupt checkpoint", ["export", "{ckpt_corrupt}", "--outdir", "{out}"], 1, "corrupt"),
    ("export: foreign checkpoint", ["export", "{ckpt_foreign}", "--outdir", "{out}"], 1, "not a DCGAN checkpoint"),
    ("export: folder without a run", ["export", "{empty_dir}", "--outdir", "{out}"], 1, "no checkpoints/last.pt"),
    ("export: outdir holds files", ["export", "{run}", "--outdir", "{run}"], 2, "--force"),
    ("export: old opset", ["export", "{run}", "--outdir", "{out}", "--opset", "11"], 2, "--opset"),
    ("export: opset not a number", ["export", "{run}", "--outdir", "{out}", "--opset", "x"], 2, "invalid int"),
    ("export: unknown format", ["export", "{run}", "--outdir", "{out}", "--formats", "tflite"], 2, "--formats"),
    ("export: fp16 without onnx", ["export", "{run}", "--outdir", "{out}", "--formats", "torchscript", "--fp16"], 2, "--fp16"),
    ("export: negative recalibration", ["export", "{run}", "--outdir", "{out}", "--recalibrate-bn", "-1"], 2, "--recalibrate-bn"),
    ("dcgan: missing model", ["dcgan", "info", "{missing}"], 1, "does not exist"),
    ("dcgan: empty model file", ["dcgan", "info", "{empty_file}"], 1, "cannot load"),
    ("dcgan: text file", ["dcgan", "info", "{text}"], 1, "cannot load"),
    ("dcgan: truncated model", ["dcgan", "info", "{truncated}"], 1, "cannot load"),
    ("dcgan: not a DCGAN generator", ["dcgan", "info", "{foreign}"], 1, "no 'dcgan' metadata"),
    ("dcgan: fixed batch size", ["dcgan", "info", "{fixed_batch}"], 1, "fixed batch size"),
    ("dcgan: future metadata", ["dcgan", "info", "{future}"], 1, "newer than this runtime"),
    ("dcgan: seeds not numbers", ["dcgan", "generate", "{model}", "--seeds", "a-b", "--out", "{out}/g.png"], 2, "--seeds"),
    ("dcgan: seed out of range", ["dcgan", "generate", "{model}", "--seeds", str(2**32), "--out", "{out}/g.png"], 2, "outside"),
    ("dcgan: negative seed", ["dcgan", "generate", "{model}", "--seeds", "-1", "--out", "{out}/g.png"], 2, "outside"),
    ("dcgan: huge seed range", ["dcgan", "generate", "{model}", "--seeds", "0-999999", "--out", "{out}/g.png"], 2, "longer than"),
    ("dcgan: grid mismatch", ["dcgan", "generate", "{model}", "--seeds", "0-3", "--grid", "3x3", "--out", "{out}/g.png"], 2, "holds 9"),
    ("dcgan: bad grid", ["dcgan", "generate", "{model}", "--seeds", "0-3", "--grid", "4by1", "--out", "{out}/g.png"], 2, "COLSxROWS"),
    ("dcgan: no output", ["dcgan", "generate", "{model}"], 2, "--out"),
    ("dcgan: unknown suffix", ["dcgan", "generate", "{model}", "--out", "{out}/g.tiff"], 2, "must end in"),
    ("dcgan: output exists", ["dcgan", "generate", "{model}", "--seeds", "0", "--out", "{png}"], 2, "exists"),
    ("dcgan: output under a file", ["dcgan", "generate", "{model}", "--seeds", "0", "--out", "{not_a_dir}/g.png"], 1, "error"),
    ("dcgan: batch size 0", ["dcgan", "generate", "{model}", "--batch-size", "0", "--out", "{out}/g.png"], 2, "batch_size"),
    ("dcgan: threads 0", ["dcgan", "info", "{model}", "--threads", "0"], 2, "--threads"),
    ("dcgan: unknown device", ["dcgan", "info", "{model}", "--device", "tpu"], 2, "device must be"),
    ("dcgan: cuda not installed", ["dcgan", "info", "{model}", "--device", "cuda"], 1, "dcgan[gpu]"),
    ("dcgan: one seed to walk", ["dcgan", "interpolate", "{model}", "--seeds", "3", "--out", "{out}/w.gif"], 2, "two seeds"),
    ("dcgan: steps < 2", ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--steps", "1", "--out", "{out}/w.gif"], 2, "--steps"),
    ("dcgan: steps not a number", ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--steps", "x", "--out", "{out}/w.gif"], 2, "invalid int"),
    ("dcgan: zero fps", ["dcgan", "interpolate", "{model}", "--seeds", "3,4", "--fps", "0", "--out", "{out}/w.gif"], 2, "fps"),
    ("dcgan: no plus term", ["dcgan", "arithmetic", "{model}", "--minus", "1", "--out", "{out}/a.png"], 2, "--plus"),
    ("dcgan: batch sizes", ["dcgan", "bench", "{model}", "--batch-sizes", "0,8"], 2, "positive"),
]


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr). `dcgan` runs in a fresh process (it is cheap); train and export run
    in-process to spare a torch import per case: an uncaught exception there fails the test."""
    if argv[0] == "dcgan":
        r = subprocess.run([sys.executable, "-m", "dcgan_runtime", *argv[1:]], capture_output=True, text=True,
                           timeout=120)
        return r.returncode, r.stderr
    from export.__main__ import main as export_main
    from train.__main__ import main as train_main

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
    ("load: threads 0", lambda f, g: Generator.load(f["model"], threads=0), ValueError, "threads"),
    ("load: threads of a wrong type", lambda f, g: Generator.load(f["model"], threads="2"), ValueError, "threads"),
    ("load: unknown device", lambda f, g: Generator.load(f["model"], device="gpu"), ValueError, "device"),
    ("generate: n=0", lambda f, g: g.generate(0), ValueError, "positive"),
    ("generate: n negative", lambda f, g: g.generate(-3), ValueError, "positive"),
    ("generate: n a float", lambda f, g: g.generate(2.5), ValueError, "positive integer"),
    ("generate: huge n", lambda f, g: g.generate(10**9), ValueError, "per call"),
    ("generate: seed out of range", lambda f, g: g.generate(1, seed=2**32), ValueError, "outside"),
    ("generate: seed a string", lambda f, g: g.generate(seeds=["7"]), ValueError, "integer"),
    ("generate: seeds a string", lambda f, g: g.generate(seeds="7"), ValueError, "sequence"),
    ("generate: no seeds", lambda f, g: g.generate(seeds=[]), ValueError, "empty"),
    ("generate: n and seeds disagree", lambda f, g: g.generate(3, seeds=[1, 2]), ValueError, "not both"),
    ("decode: NaN", lambda f, g: g.decode(np.full((2, 100), np.nan, np.float32)), ValueError, "NaN"),
    ("decode: inf", lambda f, g: g.decode(np.full((2, 100), np.inf, np.float32)), ValueError, "infinite"),
    ("decode: wrong length", lambda f, g: g.decode(np.zeros((2, 64), np.float32)), ValueError, "shape"),
    ("decode: integers", lambda f, g: g.decode(np.zeros((2, 100), np.int32)), ValueError, "floating"),
    ("decode: empty", lambda f, g: g.decode(np.zeros((0, 100), np.float32)), ValueError, "N >= 1"),
    ("decode: strings", lambda f, g: g.decode([["a"] * 100]), ValueError, "floating"),
    ("decode: bad output", lambda f, g: g.decode(np.zeros((1, 100), np.float32), output="png"), ValueError, "output"),
    ("decode: batch too big", lambda f, g: g.decode(np.zeros((1, 100), np.float32), batch_size=10**6), ValueError, "batch_size"),
    ("interpolate: steps 1", lambda f, g: g.interpolate(np.zeros(100), np.ones(100), steps=1), ValueError, "steps"),
    ("interpolate: bad method", lambda f, g: g.interpolate(np.zeros(100), np.ones(100), method="x"), ValueError, "method"),
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
