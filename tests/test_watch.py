"""Training that fails is named, and the small-data recipes: the failure watch on logged runs, the
`--on-collapse` actions, DiffAugment (adaptive too) and instance noise under DDP shares and `--resume`,
the recipes and their flips.

tests/data/metrics_twemoji_*.jsonl.gz are two real runs' logs (python -m benchmarks.recipes --sets
twemoji --recipes paper,hflip: 2,500 steps at batch 64 on the 3,786 Twemoji images, demo widths):
the paper's recipe, where D won from step ~200 and the samples stayed one blob for 1,000 steps
(collapsing), and the same with flips, which learned (healthy).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from support import shared_data, train_tiny
from train import augment, recipes
from train.checkpoint import load_checkpoint
from train.config import AUGMENTS, TrainConfig
from train.data import load_dataset
from train.watch import WINDOW, Watch, replay

DATA = Path(__file__).parent / "data"


def logged(name: str) -> list[dict]:
    with gzip.open(DATA / f"metrics_twemoji_{name}.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


# ------------------------------------------------------------------ the watch, on real runs' logs


def test_a_collapsing_run_is_named_within_a_few_hundred_steps():
    failures = replay(logged("collapsing"))
    assert [f.kind for f in failures][:2] == ["d-wins", "collapse"]
    first = failures[0]
    assert first.step <= 400 and "the discriminator has won" in first.message and "--recipe adaptive" in first.message
    assert len(failures) <= 3  # once per failure, not once per step


def test_a_healthy_run_is_left_alone():
    assert replay(logged("healthy")) == []


def test_the_watch_resumes_where_it_stopped():
    rows = logged("collapsing")
    straight = replay(rows)
    first, rest = Watch(), Watch()
    found = [f for f in map(first.observe, rows[:250]) if f]
    state = json.loads(json.dumps(first.state_dict()))  # plain data, as a checkpoint holds it
    rest.load_state_dict(state)
    found += [f for f in map(rest.observe, rows[250:]) if f]
    assert found == straight


def test_runaway_quality_is_named():
    rows = [{"step": s, "d_x": 0.6, "d_g_z": 0.3, "loss_g": 1.0} for s in range(1, 2001)]
    for r in rows:
        if r["step"] % 100 == 0:
            r["swd"] = 50.0 if r["step"] <= 1000 else 200.0
            r["spread"] = 0.9
    failures = replay(rows)
    assert [f.kind for f in failures] == ["runaway"]
    assert 1300 <= failures[0].step <= 1400 and "50.0 at step" in failures[0].message


def test_saturated_augmentation_is_named_once_and_clears():
    def rows(start: int, n: int, p: float, d_x: float) -> list[dict]:
        return [{"step": s, "d_x": d_x, "d_g_z": 0.3, "loss_g": 1.0, "augment_p": p} for s in range(start, start + n)]

    assert replay(rows(1, 400, 0.9, 0.95)) == []  # p high, but not at its cap
    assert replay(rows(1, 400, 1.0, 0.7)) == []  # at its cap, but D is not winning
    run = rows(1, 400, 1.0, 0.95) + rows(401, 300, 0.5, 0.6) + rows(701, 400, 1.0, 0.95)
    failures = replay(run)
    assert [(f.kind, f.step) for f in failures] == [
        ("saturated", 200),
        ("saturated", 880),
    ]  # 880: p averages 0.95 over 200
    assert "p averaged 1.00" in failures[0].message and "try --g-lr-max 2" in failures[0].message
    assert replay([{k: v for k, v in r.items() if k != "augment_p"} for r in run]) == []  # no adaptive p: no rule


def test_saturation_advice_says_whether_the_recipe_answers_it():
    rows = [{"step": s, "d_x": 0.95, "d_g_z": 0.3, "loss_g": 2.0, "augment_p": 1.0} for s in range(1, 201)]
    (plain,) = [f for f in map(Watch().observe, rows) if f]
    (answered,) = [f for f in map(Watch().observe, [r | {"g_lr_scale": 1.3} for r in rows]) if f]
    assert plain.kind == answered.kind == "saturated"
    assert "try --g-lr-max 2" in plain.message and "the recipe answers with G's learning rate" in answered.message


def test_r1_penalises_d_and_leaves_the_random_stream_alone():
    from train.config import TrainConfig
    from train.model import build_models
    from train.step import Execution, GANStep

    def step(r1: float) -> tuple[dict, torch.Tensor]:
        torch.manual_seed(0)
        cfg = TrainConfig(image_size=32, ngf=8, ndf=8, batch_size=8, r1=r1, augment="color,translation,cutout")
        g, d = build_models(cfg)
        out = GANStep(g, d, cfg, Execution(torch.device("cpu"), None))(
            torch.rand(8, 3, 32, 32) * 2 - 1, torch.randn(8, 100, 1, 1)
        )
        return out, torch.rand(1)

    (plain, after_plain), (penalised, after_penalised) = step(0.0), step(10.0)
    assert penalised["loss_d"] > plain["loss_d"] and penalised["d_x"] == plain["d_x"]  # same D, same images
    assert torch.equal(after_plain, after_penalised)  # the penalty draws no random numbers: resume stays exact


def test_event_lines_replay_as_nothing():
    assert Watch().observe({"step": 5, "event": "d-wins", "message": "x"}) is None


# ------------------------------------------------------------------ --on-collapse in a run

LOSING = ("--lr", "1e-6", "--lr-d", "5e-3", "--recipe", "paper", "--sample-every", "50", "--max-steps", "900")


def events(run: Path) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "event" in r]


def test_on_collapse_stop_saves_and_exits_1(tmp_path, capsys):
    assert train_tiny(tmp_path, *LOSING, "--on-collapse", "stop") == 1
    err = capsys.readouterr().err
    found = events(tmp_path)
    assert len(found) == 1 and found[0]["event"] in ("d-wins", "collapse") and found[0]["action"] == "stop"
    step = found[0]["step"]
    assert WINDOW <= step < 900 and f"stopped at step {step} (--on-collapse stop)" in err
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == step


def test_on_collapse_rewind_halves_d_lr_and_gives_up_after_three(tmp_path, capsys):
    code = train_tiny(tmp_path, *LOSING, "--on-collapse", "rewind")
    found = events(tmp_path)
    actions = [e["action"] for e in found]
    assert actions[:3] == ["rewind"] * 3, found  # G hardly learns (lr 1e-6): every rewind fails again
    assert "D's learning rate now 0.0025" in found[0]["message"] and "rewind 3 of 3" in found[2]["message"]
    assert "D's learning rate now 0.00063" in found[2]["message"]  # 5e-3 / 8: halved each time, not reset
    assert code == 1 and actions[3] == "stop" and "3 rewinds did not help" in found[3]["message"]
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["watch"]["rewinds"] == actions.count("rewind")
    assert state["optim"]["opt_d"]["param_groups"][0]["lr"] == pytest.approx(5e-3 / 2 ** actions.count("rewind"))


# ------------------------------------------------------------------ DiffAugment and instance noise


def test_augment_names_match_the_config():
    assert set(augment._OPS) == set(AUGMENTS)


@pytest.mark.parametrize("p", [None, 0.5])
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_a_ranks_share_equals_its_rows_of_the_whole_batch(policy, p):
    x = torch.randn(8, 3, 16, 16)
    torch.manual_seed(3)
    whole = augment.diff_augment(x, policy, 8, slice(0, 8), p)
    torch.manual_seed(3)
    second = augment.diff_augment(x[4:], policy, 8, slice(4, 8), p)
    assert torch.equal(whole[4:], second)
    torch.manual_seed(3)
    noisy = augment.instance_noise(x, 0.1, 8, slice(0, 8))
    torch.manual_seed(3)
    assert torch.equal(noisy[:4], augment.instance_noise(x[:4], 0.1, 8, slice(0, 4)))


def test_augment_changes_images_and_passes_gradients():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    torch.manual_seed(0)
    y = augment.diff_augment(x, "color,translation,cutout", 4, slice(0, 4))
    assert y.shape == x.shape and not torch.equal(y, x)
    assert (y == 0).any()  # cutout and translation's zero (mid-grey) fill
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_adaptive_probability_acts_per_image_and_draws_the_same_stream_whatever_it_is():
    x = torch.rand(64, 3, 16, 16)
    policy = "color,translation,cutout"
    torch.manual_seed(0)
    assert torch.equal(augment.diff_augment(x, policy, 64, slice(0, 64), p=0.0), x)  # nothing applied
    after_none = torch.rand(1)
    torch.manual_seed(0)
    half = augment.diff_augment(x, policy, 64, slice(0, 64), p=0.5)
    changed = (half != x).flatten(1).any(1).float().mean().item()
    assert torch.equal(torch.rand(1), after_none)  # p changed nothing of the random stream
    assert 0.6 < changed < 0.95  # each image untouched with probability 0.5**3
    torch.manual_seed(0)
    assert (augment.diff_augment(x, policy, 64, slice(0, 64), p=1.0) != x).flatten(1).any(1).all()


def test_adaptive_probability_follows_d_and_resumes_mid_interval():
    ada = augment.Adaptive(target=0.6, batch=50, images=1_000, interval=4)  # a move of 0.2 every 4 steps
    for _ in range(8):
        ada.observe(0.9)  # D sure of the real images: up
    assert ada.p == pytest.approx(0.4)
    for _ in range(40):
        ada.observe(1.0)
    assert ada.p == 1.0  # clamped
    signs = [0.9, 0.9, 0.2, 0.9] + [0.9, 0.95, 0.95, 0.3] + [0.1, 0.2, 0.9, 0.3] + [0.5]  # up, up, down
    straight, split = augment.Adaptive(0.6, 50, 1_000), augment.Adaptive(0.6, 50, 1_000)
    for s in signs[:6]:
        straight.observe(s)
        split.observe(s)
    resumed = augment.Adaptive(0.6, 50, 1_000)
    resumed.load_state_dict(split.state_dict())  # two steps into an interval
    for s in signs[6:]:
        straight.observe(s)
        resumed.observe(s)
    assert straight.state_dict() == resumed.state_dict() and straight.p == pytest.approx(0.2)


def test_past_full_augmentation_the_controller_raises_gs_learning_rate_and_takes_it_back_first():
    """Where D stays ahead at p = 1, the same level goes on as G's learning-rate scale, capped at
    g_lr_max; when D falls behind the scale comes down before p does; a state mid-way resumes exactly,
    and one saved before the stage existed (no "level") still loads."""
    ada = augment.Adaptive(target=0.6, batch=50, images=1_000, interval=4, g_lr_max=2.0)  # 0.2 every 4 steps
    for _ in range(4 * 7):
        ada.observe(0.9)
    assert (ada.p, ada.g_scale) == (1.0, pytest.approx(1.4))
    for _ in range(4 * 20):
        ada.observe(1.0)
    assert ada.g_scale == 2.0  # the cap
    for _ in range(4 * 2):
        ada.observe(0.1)  # D behind: G's lead goes first
    assert (ada.p, ada.g_scale) == (1.0, pytest.approx(1.6))
    resumed = augment.Adaptive(0.6, 50, 1_000, 4, g_lr_max=2.0)
    ada.observe(0.1)
    resumed.load_state_dict(ada.state_dict())
    for a in (ada, resumed):
        for _ in range(4 * 5 - 1):
            a.observe(0.1)
    assert ada.state_dict() == resumed.state_dict() and (ada.p, ada.g_scale) == (pytest.approx(0.6), 1.0)
    plain = augment.Adaptive(0.6, 50, 1_000)  # g_lr_max 1: the first stage alone, as before
    for _ in range(4 * 20):
        plain.observe(1.0)
    assert (plain.p, plain.g_scale) == (1.0, 1.0)
    plain.load_state_dict({"p": 0.5, "signs": 0.0, "seen": 0})  # a checkpoint from before the stage
    assert plain.p == 0.5
    for wrong in ({"p": 1.0, "level": 1.5, "signs": 0.0, "seen": 0}, {"p": 0.5, "level": 0.6, "signs": 0.0, "seen": 0}):
        with pytest.raises(ValueError, match="not an adaptive augmentation state"):
            plain.load_state_dict(wrong)  # past this controller's cap; p that is not the level's


def test_the_step_runs_g_at_the_controllers_scale_and_resumes_it_exactly():
    from train.model import build_models
    from train.step import Execution, GANStep

    cfg = TrainConfig(image_size=32, ngf=8, ndf=8, batch_size=4, augment="color", augment_target=0.6, g_lr_max=2.0)
    steps = []
    for _ in range(2):
        torch.manual_seed(0)
        g, d = build_models(cfg)
        steps.append(GANStep(g, d, cfg, Execution(torch.device("cpu"), None)))
    first, second = steps
    first.adaptive.level = 1.5
    second.load_state_dict(first.state_dict())  # what --resume does
    rows = []
    for step in (first, second):
        torch.manual_seed(1)
        rows.append(step(torch.zeros(4, 3, 32, 32), torch.randn(4, 100, 1, 1)))
    assert rows[0] == rows[1] and rows[0]["g_lr_scale"] == 1.5
    assert (
        first.opt_g.param_groups[0]["lr"] == pytest.approx(1.5 * cfg.lr) and first.opt_d.param_groups[0]["lr"] == cfg.lr
    )
    assert all(torch.equal(a, b) for a, b in zip(first.g.state_dict().values(), second.g.state_dict().values()))
    plain = GANStep(
        *build_models(cfg.replace(g_lr_max=1.0)), cfg.replace(g_lr_max=1.0), Execution(torch.device("cpu"), None)
    )
    assert "g_lr_scale" not in plain(torch.zeros(4, 3, 32, 32), torch.randn(4, 100, 1, 1))


def test_gs_learning_rate_cap_is_checked_and_only_the_adaptive_recipe_sets_it():
    with pytest.raises(ValueError, match=r"g_lr_max must be in \[1, 8\]"):
        TrainConfig(g_lr_max=0.5)
    paper = TrainConfig(recipe="paper", g_lr_max=2.0)  # the recipe is resolved once the data is known
    with pytest.raises(
        ValueError, match="--g-lr-max 2 raises G's learning rate .* but this run has none .recipe paper"
    ):
        recipes.resolve(paper, images=100, explicit={"recipe", "g_lr_max"})
    resolve = recipes.resolve
    assert resolve(TrainConfig(), images=100, explicit=set()).g_lr_max == 2.0
    assert resolve(TrainConfig(recipe="small"), images=100, explicit={"recipe"}).g_lr_max == 1.0
    assert resolve(TrainConfig(augment_target=0.0), images=100, explicit={"augment_target"}).g_lr_max == 1.0
    cfg = TrainConfig(g_lr_max=3.0, augment_target=0.6)
    assert resolve(cfg, images=100, explicit={"g_lr_max"}).g_lr_max == 3.0  # typed: it wins
    assert resolve(TrainConfig(g_lr_max=3.0), images=100, explicit={"g_lr_max"}).g_lr_max == 3.0  # auto: adaptive


@pytest.mark.parametrize(
    "recipe",
    [
        ("--recipe", "small"),
        ("--recipe", "adaptive", "--augment-target", "0.1"),  # p moves from the first 4 steps on
        ("--recipe", "paper", "--instance-noise", "0.2", "--label-smoothing", "0.1"),
    ],
)
def test_resume_is_bit_exact_with_the_recipes_options(recipe, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train_tiny(straight, *recipe, "--max-steps", "6", "--lr-d", "3e-4") == 0
    assert train_tiny(split, *recipe, "--max-steps", "3", "--lr-d", "3e-4") == 0
    assert train_tiny(split, "--max-steps", "6", "--resume") == 0
    a, b = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (straight, split))
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])
    assert all(torch.equal(a["discriminator"][k], b["discriminator"][k]) for k in a["discriminator"])
    if "adaptive" in recipe:  # the probability and its half-filled interval came through the resume
        assert a["optim"]["adaptive"] == b["optim"]["adaptive"] and a["optim"]["adaptive"]["p"] > 0


# ------------------------------------------------------------------ recipes


def test_auto_picks_by_data_size_and_typed_flags_win():
    assert recipes.resolve(TrainConfig(), images=recipes.SMALL_DATA, explicit=set()).recipe == "adaptive"
    assert recipes.resolve(TrainConfig(), images=recipes.SMALL_DATA + 1, explicit=set()).recipe == "paper"
    cfg = recipes.resolve(TrainConfig(hflip=False, augment="color"), images=100, explicit={"hflip", "augment"})
    assert (cfg.recipe, cfg.hflip, cfg.augment, cfg.augment_target) == ("adaptive", False, "color", 0.6)
    paper = recipes.resolve(TrainConfig(recipe="paper"), images=100, explicit={"recipe"})
    assert paper.augment == "" and not paper.hflip and recipes.describe(paper) == "recipe paper"


def test_the_small_data_recipes_leave_flips_off_for_images_that_face_one_way(tmp_path, capsys):
    left = tmp_path / "left"
    left.mkdir()
    rng = np.random.RandomState(0)
    for i in range(64):  # every image has its dark bar on the left
        im = rng.randint(100, 200, (32, 32)).astype(np.uint8)
        im[8:24, 4:12] = 0
        Image.fromarray(im).save(left / f"{i:02d}.png")
    common = ("--data", str(left), "--channels", "1", "--max-steps", "1")
    assert train_tiny(tmp_path / "auto", *common) == 0
    cfg = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert (cfg["recipe"], cfg["hflip"], cfg["augment"]) == ("adaptive", False, "color,translation")
    assert "flips off: mirroring moves these images" in capsys.readouterr().err
    assert train_tiny(tmp_path / "forced", *common, "--hflip") == 0  # typed: kept, and nothing said
    assert json.loads((tmp_path / "forced" / "config.json").read_text())["hflip"] is True
    assert "flips off" not in capsys.readouterr().err
    assert train_tiny(tmp_path / "faces", "--max-steps", "1") == 0  # the toy faces are their own mirror image
    assert json.loads((tmp_path / "faces" / "config.json").read_text())["hflip"] is True


@pytest.mark.parametrize(
    "name, size, channels, mirrored",
    [("fashion-mnist", 32, 1, False), ("twemoji64", 64, 3, True), ("faces-london/64", 64, 3, True)],
)
def test_mirror_ratio_tells_real_sets_apart(name, size, channels, mirrored):
    """Fashion-MNIST's shoes and bags face one way (flipped, they are new images); emoji and faces
    are their own mirror images: the measured ratios (docs/train.md) sit either side of the limit."""
    images = load_dataset(str(shared_data(name)), size, channels).images
    assert (recipes.mirror_ratio(images) <= recipes.MIRROR_LIMIT) == mirrored


def test_the_recipe_is_saved_in_the_checkpoint_and_the_export(tiny_run, exported):
    from dcgan_runtime.metadata import Metadata

    saved = TrainConfig.from_dict(load_checkpoint(tiny_run / "checkpoints" / "last.pt")["config"])
    assert saved.recipe == "adaptive" and saved.augment == "color,translation"  # 64 toy faces: small data
    import onnx

    model = onnx.load(str(exported / "generator.onnx"))
    meta = Metadata.from_json(next(p.value for p in model.metadata_props if p.key == "dcgan"))
    assert meta.training_config["recipe"] == "adaptive"
    assert "Trained with the adaptive recipe: DiffAugment" in (exported / "README.md").read_text()


def test_the_model_card_names_the_adaptive_recipe():
    from types import SimpleNamespace

    from export.card import recipe_line

    cfg = {**TrainConfig(recipe="adaptive", augment="color,cutout", augment_target=0.6, hflip=True).to_dict()}
    line = recipe_line(SimpleNamespace(training_config=cfg))  # type: ignore[arg-type]
    assert (
        line == "Trained with the adaptive recipe: DiffAugment (color,cutout, adaptive to D(x)'s sign mean 0.6), "
        "horizontal flips, G's moving average (half-life 10,000 images)."
    )
    cfg |= {"g_lr_max": 2.0}
    assert "G's learning rate up to 2x while D stays ahead of full augmentation" in recipe_line(
        SimpleNamespace(training_config=cfg)  # type: ignore[arg-type]
    )
    cfg |= {"r1": 1.0, "ema_images": 0, "g_lr_max": 1.0}
    assert recipe_line(SimpleNamespace(training_config=cfg)).endswith("horizontal flips, R1 penalty 1.0.")  # type: ignore[arg-type]


def test_unknown_augment_is_one_clear_error(tmp_path, capsys):
    assert train_tiny(tmp_path, "--augment", "colour") == 2
    assert "--augment must be a comma-separated subset of color,translation,cutout" in capsys.readouterr().err
    assert train_tiny(tmp_path, "--augment-target", "1.5") == 2
    assert "--augment-target must be in [0, 1) (0: always, 0.6: adapt), got 1.5" in capsys.readouterr().err
    assert train_tiny(tmp_path, "--augment", "none", "--augment-target", "0.6") == 2
    assert "--augment-target adapts DiffAugment's probability, but no --augment ops are on" in capsys.readouterr().err
    assert train_tiny(tmp_path, "--recipe", "paper", "--g-lr-max", "2") == 2
    assert "--g-lr-max 2 raises G's learning rate when adaptive augmentation saturates" in capsys.readouterr().err
    assert train_tiny(tmp_path / "typed", "--g-lr-max", "3", "--max-steps", "1") == 0  # auto resolves to adaptive
    assert json.loads((tmp_path / "typed" / "config.json").read_text())["g_lr_max"] == 3.0


def _scored_run(out, name: str, swds: list[float], floor: float | None = 20.0) -> None:
    """A run folder as benchmarks.recipes leaves it once trained and scored (what it reads back)."""
    run = out / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").touch()  # trained: not trained again
    log = [
        {"step": s, "loss_d": 1.0, "d_g_z": 0.1, "images_per_s": 100.0, "swd": w}
        | ({"swd_floor": floor} if floor else {})
        for s, w in zip((1, 2, 3), swds)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    rows = {
        k: {"swd_x1e3": {"mean": v}, "ms_ssim": 0.3}
        for k, v in [
            ("real vs held-out real (ceiling)", 9.0),
            ("PyTorch step 3", min(swds) / 10),
            ("untrained generator (floor)", 2000.0),
        ]
    }
    (run / "eval.json").write_text(json.dumps({"rows": rows}))
    (run / "samples").mkdir()
    Image.new("RGB", (8 * 10 + 2, 8 * 10 + 2), "gray").save(run / "samples" / "step000003.png")


def test_the_recipes_benchmark_tabulates_runs_and_keeps_earlier_rows(tmp_path, monkeypatch, capsys):
    """`python -m benchmarks.recipes` over runs already trained and scored (training and evaluate are
    tested apart): a row each from metrics.jsonl and eval.json, a second call keeps the first's rows,
    the side-by-side picture; unknown names and steps out of range are refused, each named."""
    from benchmarks import recipes as bench

    monkeypatch.setenv("DCGAN_DATA", str(tmp_path))
    out = tmp_path / "runs"
    for recipe, swds in [("paper", [300.0, 200.0, 250.0]), ("small", [300.0, 90.0, 80.0])]:
        _scored_run(out, f"toyfaces10k-{recipe}", swds)
        assert bench.main(["--sets", "toyfaces10k", "--recipes", recipe, "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert [(r["set"], r["recipe"], r["best_step"], r["swd_x1e3"]) for r in rows] == [
        ("toyfaces10k", "paper", 2, 20.0),
        ("toyfaces10k", "small", 3, 8.0),
    ]
    assert rows[0]["ceiling_swd"] == 9.0 and rows[1]["train_swd_last"] == 80.0 and rows[1]["train_swd_floor"] == 20.0
    assert (out / "results.md").read_text().count("| toyfaces10k |") == 2
    assert Image.open(out / "toyfaces10k.png").size == (2 * 42 + 8, 42)  # two 4x4 crops side by side
    capsys.readouterr()
    assert bench.main(["--sets", "nope,toyfaces10k", "--recipes", "paper,nah", "--out", str(out)]) == 2
    assert bench.main(["--sets", "toyfaces10k", "--steps", "0", "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: unknown set or recipe: nope, nah (`--help` lists them)",
        "error: --steps 0 is outside 1..1000000",
    ]


@pytest.mark.parametrize(
    "swds, floor, verdict",
    [
        ([100.0, 30.0, 36.0], 20.0, None),  # under 40, the last at exactly 1.2x the best
        ([100.0, 41.0, 42.0], 20.0, "best SWD 41.0 is not under 40 (floor 20.0)"),
        ([100.0, 30.0, 36.5], 20.0, "last SWD 36.5 is over 1.2x its best, 30.0 at step 2"),
        ([100.0, 30.0, 31.0], None, "its training log states no real-vs-real floor"),
    ],
)
def test_the_recipes_check_holds_runs_to_the_small_data_bar(tmp_path, monkeypatch, capsys, swds, floor, verdict):
    """`--check`: best training SWD under 40, the last within 1.2x of it, the floor in the log; exit 1
    with one line per run that misses, naming why."""
    from benchmarks import recipes as bench

    monkeypatch.setenv("DCGAN_DATA", str(tmp_path))
    _scored_run(tmp_path / "runs", "twemoji-half-adaptive", swds, floor)
    argv = ["--sets", "twemoji-half", "--recipes", "adaptive", "--out", str(tmp_path / "runs"), "--check"]
    assert bench.main(argv) == (1 if verdict else 0)
    out, err = capsys.readouterr()
    assert f"check: {0 if verdict else 1} of 1 runs under 40, last within 1.2x" in out
    assert err == (f"check: twemoji-half adaptive: {verdict}\n" if verdict else "")
