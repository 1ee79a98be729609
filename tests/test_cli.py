import json
import subprocess
import sys

from PIL import Image

from dcgan_runtime.cli import main


def test_generate_grid_and_outdir(onnx_model, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert (
        main(
            [
                "generate",
                str(onnx_model),
                "--seeds",
                "0-7",
                "--grid",
                "4x2",
                "--out",
                str(out),
                "--outdir",
                str(tmp_path / "imgs"),
            ]
        )
        == 0
    )
    assert Image.open(out).size == (4 * 34 + 2, 2 * 34 + 2)  # 32 px images, 2 px padding
    assert sorted(p.name for p in (tmp_path / "imgs" / "00000").iterdir())[:2] == ["seed0000.png", "seed0001.png"]
    assert Image.open(tmp_path / "imgs" / "00000" / "seed0007.png").size == (32, 32)  # shard 0: seeds 0-999
    assert main(["generate", str(onnx_model), "--seeds", "0-7", "--out", str(out)]) == 2  # exists
    assert "--force" in capsys.readouterr().err
    assert main(["generate", str(onnx_model), "--seeds", "0-7", "--out", str(out), "--force"]) == 0


def test_interpolate_gif_frames(onnx_model, tmp_path):
    out = tmp_path / "walk.gif"
    assert main(["interpolate", str(onnx_model), "--seeds", "3,7", "--steps", "5", "--out", str(out)]) == 0
    assert Image.open(out).n_frames == 5
    loop = tmp_path / "loop.gif"
    assert main(["interpolate", str(onnx_model), "--seeds", "1,2,3", "--steps", "4", "--out", str(loop)]) == 0
    assert Image.open(loop).n_frames == 3 * 3  # three legs of 4 frames sharing their joins
    strip = tmp_path / "strip.png"
    assert (
        main(
            ["interpolate", str(onnx_model), "--seeds", "3,7", "--steps", "4", "--method", "lerp", "--out", str(strip)]
        )
        == 0
    )
    assert Image.open(strip).size == (4 * 34 + 2, 36)


def test_arithmetic_figure(onnx_model, tmp_path):
    out = tmp_path / "a.png"
    assert (
        main(
            ["arithmetic", str(onnx_model), "--plus", "1,2,3", "--minus", "4,5,6", "--plus", "7,8,9", "--out", str(out)]
        )
        == 0
    )
    assert Image.open(out).size == (9 * 34 + 2, 4 * 34 + 2)  # 3 term rows + the result row


def test_info_and_bench(onnx_model, capsys):
    assert main(["info", str(onnx_model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["active_providers"] == ["CPUExecutionProvider"] and info["metadata"]["image_size"] == 32
    assert main(["bench", str(onnx_model), "--batch-sizes", "1,4", "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split()[0] == "1" and lines[-1].split()[0] == "4"


def test_help_has_runnable_examples():
    r = subprocess.run([sys.executable, "-m", "dcgan_runtime", "generate", "--help"], capture_output=True, text=True)
    assert "dcgan generate generator.onnx --seeds 0-63 --grid 8x8 --out grid.png" in r.stdout


def test_bench_versus_runs_the_peers_side_by_side(exported, capsys):
    assert (
        main(["bench", str(exported), "--precision", "int8", "--batch-sizes", "1,2", "--rounds", "1", "--versus"]) == 0
    )
    out = capsys.readouterr().out
    table = out[out.index("images/s (share of the fp32 wall)") :].splitlines()
    names = [line[:36].strip() for line in table[1:]]
    assert names[0] == "dcgan_runtime int8" and "onnxruntime, plain session" in names
    assert names[-1] == "runtime / best peer" and "fp32 wall (numpy matmul)" in out
    for line in table[1:-1]:  # every backend timed at both sizes: images/s and a share of the wall
        assert len(line[36:].split()) == 4 and all(float(v.replace(",", "")) > 0 for v in line[36:].split()[::2])
