"""Quality metrics on cases with known answers, best.pt during training, and the evaluate command."""

import json

import numpy as np
import pytest
import torch

from support import shared_data, train_tiny
from train.analysis import metrics
from train.checkpoint import load_checkpoint
from train.toyfaces import make_toyfaces


@pytest.fixture(scope="module")
def faces():
    a = make_toyfaces(128, seed=0, image_size=32).images.transpose(0, 3, 1, 2).copy()
    b = make_toyfaces(128, seed=1, image_size=32).images.transpose(0, 3, 1, 2).copy()
    return a, b


def blur(x):
    return (
        torch.nn.functional.avg_pool2d(torch.from_numpy(x.astype(np.float32)), 3, 1, 1).round().numpy().astype(np.uint8)
    )


def test_swd_orders_known_cases(faces):
    a, b = faces
    noise = np.random.RandomState(0).randint(0, 256, a.shape).astype(np.uint8)
    same, other, blurred, random = (metrics.swd(a, x)["mean"] for x in (a, b, blur(b), noise))
    assert same == 0.0  # identical sets
    assert 0 < other < blurred < random  # same distribution < blurred < noise
    assert len(metrics.swd(a, b)["per_level"]) == 2  # 32 -> 16: two pyramid levels
    with pytest.raises(ValueError, match="same shape"):
        metrics.swd(a, b[:10])


def test_swd_fast_paths_match_the_textbook_operations(faces):
    """The blur as shifted adds equals the grouped 5-tap convolution, and the projections sorted
    row-wise in numpy equal torch's column sort, so the speed-up moved no score."""
    from train import swd

    x = torch.from_numpy(faces[0][:16].astype(np.float32))
    k = torch.from_numpy(swd._GAUSS5)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    conv = torch.nn.functional.conv2d(padded, k.view(1, 1, 1, 5).repeat(3, 1, 1, 1), groups=3)
    conv = torch.nn.functional.conv2d(conv, k.view(1, 1, 5, 1).repeat(3, 1, 1, 1), groups=3)
    torch.testing.assert_close(swd._blur(x), conv, rtol=0, atol=1e-3)  # pixel units: 0..255
    a, b = np.random.RandomState(0).standard_normal((2, 500, 147)).astype(np.float32)
    d = np.random.RandomState([0, 1]).standard_normal((147, 128)).astype(np.float32)
    d /= np.linalg.norm(d, axis=0, keepdims=True)
    ta, tb = torch.from_numpy(a) @ torch.from_numpy(d), torch.from_numpy(b) @ torch.from_numpy(d)
    textbook = (ta.sort(dim=0).values - tb.sort(dim=0).values).abs().mean().item()
    fast = swd._sliced_wasserstein(a, b, np.random.RandomState([0, 1]), repeats=1)
    assert fast == pytest.approx(textbook, rel=1e-5)


def test_ms_ssim_known_cases(faces):
    a, _ = faces
    assert np.allclose(metrics.ms_ssim(a[:8], a[:8]), 1.0)
    assert metrics.ms_ssim(a[:8], blur(a[:8])).mean() < 1.0
    noise = np.random.RandomState(0).randint(0, 256, a.shape).astype(np.uint8)
    copies = np.repeat(a[:1], 64, axis=0)
    assert metrics.ms_ssim_diversity(noise) < metrics.ms_ssim_diversity(a) < metrics.ms_ssim_diversity(copies) == 1.0


def test_frechet_distance_known_cases():
    rng = np.random.RandomState(0)
    x, y = rng.randn(4000, 8), rng.randn(4000, 8)
    assert metrics.frechet_distance(x, x) == pytest.approx(0, abs=1e-6)
    assert metrics.frechet_distance(x, y) < 0.1
    assert metrics.frechet_distance(x, y + 1) == pytest.approx(8, rel=0.05)  # |mu shift|^2 = 8
    assert metrics.frechet_distance(x, 2 * y) == pytest.approx(8, rel=0.1)  # tr(S1+S2-2 sqrt(S1 S2)) = 8 (1+4-4)


def test_precision_recall_on_point_clouds():
    rng = np.random.RandomState(0)
    real = rng.randn(1000, 2)
    assert metrics.precision_recall(real, real + 100) == {"precision": 0.0, "recall": 0.0}  # disjoint
    collapsed = metrics.precision_recall(real, rng.randn(1000, 2) * 0.1)  # mode collapse
    assert collapsed["precision"] > 0.95 and collapsed["recall"] < 0.3
    matched = metrics.precision_recall(real, rng.randn(1000, 2))
    assert matched["precision"] > 0.7 and matched["recall"] > 0.7


def test_nearest_neighbour_finds_copies(faces):
    a, b = faces
    assert metrics.nearest_neighbour_distances(a[:5], a).max() < 1e-6  # each finds itself
    assert metrics.nearest_neighbour_distances(b[:5], a).min() > 0


def test_training_keeps_best_by_swd(tmp_path):
    assert train_tiny(tmp_path, "--max-steps", "12", "--sample-every", "4", "--num-images", "48") == 0
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    swds = {r["step"]: r["swd"] for r in rows if "swd" in r}
    assert sorted(swds) == [4, 8, 12]
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["best_swd"] == min(swds.values()) and swds[best["step"]] == best["best_swd"]


def test_evaluate_a_run_and_its_onnx(tiny_run, onnx_model, tmp_path, capsys):
    from train.analysis.evaluate import main

    assert main([str(tiny_run), "--n", "64", "--json", str(tmp_path / "e.json")]) == 0
    report = json.loads((tmp_path / "e.json").read_text())
    rows = report["rows"]
    assert list(rows)[0].startswith("real vs held-out") and list(rows)[-1].startswith("untrained")
    ceiling, floor = rows["real vs held-out real (ceiling)"], rows["untrained generator (floor)"]
    assert ceiling["swd_x1e3"]["mean"] < floor["swd_x1e3"]["mean"]
    assert main([str(onnx_model), "--n", "64"]) == 0
    assert "ONNX generator.onnx" in capsys.readouterr().out
    assert main([str(tiny_run), "--n", "5"]) == 2
    assert main([str(tiny_run), "--n", "100", "--json", str(tmp_path / "e.json")]) == 0  # more than its 64 images
    assert json.loads((tmp_path / "e.json").read_text())["n"] == 64


def test_a_checkpoint_is_scored_by_gs_average_as_exported(tiny_run):
    """evaluate and the other analysis commands decode a checkpoint with G's moving average (what
    the training SWD scored and export ships), not the raw G that only resumes training."""
    from train.analysis.decoders import load_decoder
    from train.model import build_generator

    decode, cfg, label = load_decoder(tiny_run / "checkpoints" / "last.pt")
    state = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    z = np.random.RandomState(0).standard_normal((4, cfg.nz)).astype(np.float32)
    images = {}
    for key in ("generator_ema", "generator"):
        net = build_generator(cfg)
        net.load_state_dict(state[key])
        images[key] = net.eval()(torch.from_numpy(z).view(4, -1, 1, 1)).detach().numpy()
    assert label == "PyTorch step 4 (G's average)"
    assert np.array_equal(decode(z), images["generator_ema"]) and not np.allclose(decode(z), images["generator"])


def test_fashion_classifier_and_in_domain_metrics(tmp_path, monkeypatch):
    root = shared_data("fashion-mnist")
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    from train.analysis.features import embed, fashion_split, load_classifier

    net, accuracy = load_classifier(root, epochs=2, train_images=10_000)  # a quick one; the CLI uses all 60k
    assert accuracy > 0.7
    assert load_classifier(root, epochs=2, train_images=10_000)[1] == accuracy  # cached
    test, _ = fashion_split(root, "t10k")
    train, _ = fashion_split(root, "train")
    f_test, f_train = embed(net, test[:1000]), embed(net, train[:1000])
    f_noise = embed(net, np.random.RandomState(0).randint(0, 256, (1000, 1, 32, 32)).astype(np.uint8))
    assert metrics.frechet_distance(f_train, f_test) < metrics.frechet_distance(f_train, f_noise) / 10
