"""Latent arithmetic and interpolation measurement: selection and scoring on a synthetic world, the
command on a tiny model, and the attribute classifiers' data."""

import json

import numpy as np
import pytest

from support import shared_data
from train.analysis import arithmetic as ar
from train.swd import pixels


def linear_world(nz: int = 6):
    """A 'generator' whose image shows sign(z0) (smile) in red and sign(z1) (glasses) in green, and a
    'classifier' that reads them back: latent arithmetic works here by construction, pixels partly."""

    def decode(z):
        x = np.zeros((len(z), 3, 8, 8), np.float32)
        x[:, 0] = np.tanh(2 * z[:, 0])[:, None, None]
        x[:, 1] = np.tanh(2 * z[:, 1])[:, None, None]
        return x

    def classify(u8):
        m = u8.reshape(len(u8), 3, -1).mean(2) / 127.5 - 1
        p = 1 / (1 + np.exp(-8 * m))
        return {"smiling": np.stack([1 - p[:, 0], p[:, 0]], 1), "glasses": np.stack([1 - p[:, 1], p[:, 1]], 1)}

    return decode, classify


def test_wilson_interval():
    assert ar.wilson(0, 10)[0] == 0.0 and 0.25 < ar.wilson(0, 10)[1] < 0.35
    lo, hi = ar.wilson(50, 100)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-9
    assert ar.wilson(0, 0) == (0.0, 1.0)
    assert ar.rate(np.array([True, False, True, True]))["rate"] == 0.75


def test_exemplars_are_the_most_confident_members_and_distinct():
    conf = np.array([0.95, 0.1, 0.99, 0.92, 0.5, 0.91, 0.97])
    member = np.array([True, False, True, True, True, True, False])  # 6 is confident but not a member
    picks = ar.pick_exemplars(conf, member, 3, trials=30, rng=np.random.RandomState(0), top=4)
    assert picks.shape == (30, 3)
    assert set(picks.ravel()) == {0, 2, 3, 5} and all(len(set(row)) == 3 for row in picks)
    with pytest.raises(ValueError, match="only 4 pool samples look smiling"):
        ar.pick_exemplars(conf, member, 5, 1, np.random.RandomState(0), "smiling", top=4)
    every = ar.pick_exemplars(conf, member, 2, trials=200, rng=np.random.RandomState(0))  # top=0: all members
    assert set(every.ravel()) == {0, 2, 3, 4, 5}


def test_confidence_and_matches():
    probs = {"smiling": np.array([[0.1, 0.9], [0.8, 0.2]]), "glasses": np.array([[0.3, 0.7], [0.4, 0.6]])}
    assert np.allclose(ar.confidence(probs, {"smiling": 1, "glasses": 1}), [0.63, 0.12])
    assert ar.matches(probs, {"smiling": 1, "glasses": 1}).tolist() == [True, False]
    assert ar.matches(probs, {"smiling": 0}).tolist() == [False, True]


def test_arithmetic_succeeds_where_latents_are_linear_and_beats_random():
    decode, classify = linear_world()
    pool_z = np.random.RandomState(0).standard_normal((400, 6)).astype(np.float32)
    pool_x = decode(pool_z)
    probs = classify(pixels(pool_x))
    exp = ar.TOY[0]  # smiling+glasses - neutral+glasses + neutral-glasses = smiling-glasses
    res = ar.run_experiment(exp, pool_z, pool_x, probs, k=3, trials=100, decode=decode, classify=classify)
    random = ar.rate(ar.matches(probs, exp.target))["rate"]
    assert 0.15 < random < 0.35  # one quarter of Gaussian latents
    assert res["latent"]["rate"] >= 0.8 and res["latent"]["rate"] > 3 * random
    assert res["latent_rescaled"]["rate"] == res["latent"]["rate"]  # rescaling keeps every sign here
    assert res["latent"]["n"] == res["pixels"]["n"] == 100
    for (_sign, concept), picks in zip(exp.terms, res["first_trial"]):
        assert ar.matches({k: v[picks] for k, v in probs.items()}, concept).all()
    assert str(exp) == (
        "smiling with glasses - neutral with glasses + neutral without glasses = smiling without glasses"
    )


def test_interpolation_counts_changes_and_path_length():
    decode, classify = linear_world()
    z = np.random.RandomState(1).standard_normal((2, 20, 6)).astype(np.float32)
    out = ar.interpolation(decode, classify, z[0], z[1], steps=12)
    for method in ("slerp", "lerp"):  # one sign change at most along a great circle or a line
        assert all(r["rate"] == 1.0 for r in out[method]["at_most_one_change"].values())
        assert out[method]["ppl_pixel_mse"]["median"] > 0
    assert ar.changes(np.array([[1, 1, 1], [0, 1, 1], [0, 1, 0]])).tolist() == [0, 1, 2]


def test_figure_layout(tmp_path):
    from PIL import Image

    decode, classify = linear_world()
    pool_z = np.random.RandomState(0).standard_normal((300, 6)).astype(np.float32)
    pool_x = decode(pool_z)
    res = ar.run_experiment(ar.TOY[1], pool_z, pool_x, classify(pixels(pool_x)), 3, 2, decode, classify)
    ar.figure(ar.TOY[1], res, pool_z, pool_x, decode, tmp_path / "f.png")
    w, h = Image.open(tmp_path / "f.png").size
    assert (w, h) == (9 * 8 + 10 * 2, 5 * 8 + 6 * 2)  # 9 columns; 3 terms, result row, pixel row


def test_command_on_a_tiny_model(onnx_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    args = [
        str(onnx_model),
        "--out",
        str(out),
        "--pool",
        "64",
        "--trials",
        "4",
        "--k",
        "1",
        "--pairs",
        "4",
        "--steps",
        "4",
        "--classifier-images",
        "64",
    ]
    assert ar.main(args) == 0
    report = json.loads((out / "arithmetic.json").read_text())
    assert set(report["experiments"]) == {"smile", "glasses"} and report["pool"] == 64
    assert set(report["classifier"]["held_out_accuracy"]) == {"smiling", "glasses", "hair"}
    for entry in report["experiments"].values():
        assert entry["random_latents"]["n"] == 64
        assert all(r["latent"]["n"] == 4 for r in entry["by_k"])  # absent where too few exemplars (said in the output)
    assert {"slerp", "lerp"} <= set(report["interpolation"]) and (out / "walks.gif").is_file()
    assert ar.main([str(onnx_model), "--out", str(out), "--k", "0"]) == 2
    assert ar.main([str(tmp_path / "missing.onnx"), "--out", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_real_faces_labels():
    from train.analysis.attributes import real_faces

    root = shared_data("faces-london")
    images, labels, person = real_faces(root, 64)
    assert images.shape == (204, 3, 64, 64) and images.dtype == np.uint8
    assert labels["smiling"].sum() == 102 and len(np.unique(person)) == 102
    genders = {line.split(",")[0]: line.split(",")[2] for line in (root / "info.csv").read_text().splitlines()[1:]}
    assert labels["male"].sum() == 2 * sum(g == "male" for g in genders.values())
