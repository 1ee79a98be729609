"""Tuning: every CPU strategy gives bit-identical images; plans are chosen from measurements, cached, validated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dcgan_runtime.engine import tune
from dcgan_runtime.engine.tune import Plan, Strategy, Table


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache, and quick measuring (the numbers do not matter here, what is done with them does)."""
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tune, "SETTLE_S", 0.001)
    measure = tune.measure
    monkeypatch.setattr(tune, "measure", lambda *a, **kw: measure(*a, **{**kw, "seconds_per_size": 0.02}))
    return tmp_path / "cache" / "tune"


@pytest.mark.parametrize("threads", [2, 4])
def test_every_strategy_gives_bit_identical_images(onnx_model, threads):
    """Workers x threads (incl. mixes like 2x2), optimisation levels and spinning change speed, never images."""
    from dcgan_runtime import Generator

    g = Generator.load(onnx_model, device="cpu", threads=threads, tune=False)
    m = g.metadata
    z = g.latents(9, seed=5).reshape(9, -1, 1, 1)
    reference = g.decode(z.reshape(9, -1), output="float")
    strategies = tune.candidates(threads)
    assert {s.workers for s in strategies} == {w for w in range(1, threads + 1) if threads % w == 0}
    assert {s.level for s in strategies} == set(tune.LEVELS)
    for s in strategies:
        for n in (1, 3, 9):
            out = np.empty((n, m.channels, m.image_size, m.image_size), np.float32)
            g._lanes.run(z[:n], out, s)
            assert np.array_equal(out, reference[:n]), (s.label(), n)


def test_tune_measures_caches_and_later_loads_use_it(onnx_model, cache):
    from dcgan_runtime import Generator

    g = Generator.load(onnx_model, device="cpu", threads=2)
    assert g.plan.source == "built-in" and g.plan == tune.default_plan(2)
    before = g.generate(seeds=range(12), output="float")
    table = g.tune(seconds_per_size=0.05)  # short: fewer strategies may be timed at some sizes
    assert set(table.rates) <= {s.label() for s in table.strategies.values()} and not table.differs
    assert all(table.rates[s.label()].keys() == set(tune.SIZES) for _, s in tune.default_plan(2).bands)
    assert all(min(r.values()) > 0 for r in table.rates.values())
    for size in tune.SIZES:  # the built-in strategy, or one that measured faster
        chosen, holder = g.plan.pick(size).label(), tune.default_plan(2).pick(size).label()
        assert chosen == holder or table.rates[chosen][size] > table.rates[holder][size]
    assert np.array_equal(g.generate(seeds=range(12), output="float"), before)
    (path,) = cache.glob("*.json")
    data = json.loads(path.read_text())
    assert data["key"]["threads"] == 2 and len(data["key"]["model_sha256"]) == 64
    again = Generator.load(onnx_model, device="cpu", threads=2)
    assert again.plan == g.plan and str(path) in again.plan.source
    assert np.array_equal(again.generate(seeds=range(12), output="float"), before)
    assert Generator.load(onnx_model, device="cpu", threads=2, tune=False).plan.source == "built-in"
    assert Generator.load(onnx_model, device="cpu", threads=4).plan.source == "built-in"  # other key


def test_damaged_cache_is_ignored_and_tune_true_measures_again(onnx_model, cache):
    from dcgan_runtime import Generator

    Generator.load(onnx_model, device="cpu", threads=2).tune(seconds_per_size=0.02)
    (path,) = cache.glob("*.json")
    good = json.loads(path.read_text())
    too_many = {**good, "plan": [{"min_batch": 1, "workers": 4096, "threads": 1, "spinning": None, "level": None}]}
    for damage in (
        b"",
        b"{not json",
        b'{"format": 1}',
        json.dumps({"format": 1, "plan": [{"min_batch": 2}]}).encode(),
        json.dumps(too_many).encode(),  # 4096 sessions on 2 threads: not a plan this machine measured
    ):
        path.write_bytes(damage)
        assert Generator.load(onnx_model, device="cpu", threads=2).plan.source == "built-in"
    tuned = Generator.load(onnx_model, device="cpu", threads=2, tune=True)
    assert tuned.plan.source.startswith("measured now")
    assert json.loads(path.read_text())["format"] == tune.FORMAT


def test_tune_refuses_what_it_cannot_honour(onnx_model):
    import onnxruntime as ort

    from dcgan_runtime import Generator

    with pytest.raises(ValueError, match="not both"):
        Generator.load(onnx_model, device="cpu", session_options=ort.SessionOptions(), tune=True)
    with pytest.raises(ValueError, match="tune must be"):
        Generator.load(onnx_model, device="cpu", tune="yes")
    g = Generator.load(onnx_model, device="cpu", session_options=ort.SessionOptions())
    assert g.plan == tune.default_plan(g._lanes.threads, explicit=False)  # the caller's options, untouched
    with pytest.raises(ValueError, match="session_options"):
        g.tune()


def _table(seconds: dict[str, dict[int, list[float]]], threads: int = 2) -> Table:
    by = {s.label(): s for s in tune.candidates(threads)}
    return Table(threads, seconds, by, [], 0.0)


def test_choose_keeps_the_built_in_unless_another_is_clearly_faster():
    one, split, ext = "1x2 spin all", "2x1 all", "1x2 spin extended"  # built-in: 1x2 below batch 4, 2x1 from 4
    table = _table(
        {  # seconds per call in each of 5 rounds
            one: {1: [1.0] * 5, 2: [2.0] * 5, 4: [4.0] * 5, 16: [16.0] * 5},
            split: {1: [2.0] * 5, 2: [2.0, 2.0, 1.0, 1.0, 1.0], 4: [4.0] * 5, 16: [8.0] * 5},
            ext: {1: [0.98] * 5, 2: [2.1, 2.1, 3.0, 3.0, 3.0], 4: [3.0] * 5, 16: [16.0] * 5},
        }
    )
    plan = tune.choose(table)
    # batch 1: 2% faster is noise; batch 2: 2x1 is faster in median, but in 3 rounds of 5 only;
    # batch 4: 1x2 extended is faster in every round; batch 16: the built-in 2x1 is the fastest
    assert [(b, s.label()) for b, s in plan.bands] == [(1, one), (4, ext), (16, split)]
    assert plan.pick(3).label() == one and plan.pick(15).label() == ext and plan.pick(4096).label() == split
    assert "batch 1-3: 1x2 spin all; 4-15: 1x2 spin extended; 16+: 2x1 all" in plan.describe()
    assert table.wins(split, one, 2) == 0.6 and table.rates[ext][4] == pytest.approx(4 / 3)


@pytest.mark.parametrize(
    "bands",
    [
        [],
        "x",
        [{"min_batch": 2, "workers": 1, "threads": 1}],
        [{"min_batch": 1, "workers": 0, "threads": 1}],
        [{"min_batch": 1, "workers": 1, "threads": 1, "level": "fast"}],
        [{"min_batch": 1, "workers": 1, "threads": 1, "spinning": "yes"}],
        [{"min_batch": 1, "workers": 1, "threads": 1, "cores": 3}],
        [{"min_batch": 1, "workers": 1, "threads": 1}, {"min_batch": 1, "workers": 2, "threads": 1}],
        [{"min_batch": 1.0, "workers": 1, "threads": 1}],
    ],
)
def test_malformed_plans_are_refused(bands):
    with pytest.raises(ValueError):
        Plan.from_json(bands)


def test_plan_round_trips_and_merges_equal_neighbours():
    s = Strategy(2, 1, None, "all")
    plan = Plan.from_json([{"min_batch": 1, **s.__dict__}, {"min_batch": 8, **s.__dict__}])
    assert plan.bands == ((1, s),) and Plan.from_json(plan.to_json()) == plan


def test_cli_tune_prints_the_table_and_info_names_the_plan(onnx_model, cache, capsys):
    from dcgan_runtime.cli import main

    assert main(["tune", str(onnx_model), "--device", "cpu", "--threads", "2", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "1x2 spin all" in out and "2x1 all" in out and "* chosen" in out and "plan: batch 1" in out
    assert len(list(cache.glob("*.json"))) == 1
    assert main(["info", str(onnx_model), "--device", "cpu", "--threads", "2"]) == 0
    info = capsys.readouterr().out
    assert "cpu plan   batch 1" in info and "(tuned, " in info
    assert main(["tune", str(onnx_model), "--device", "cpu", "--seconds", "0"]) == 2
    assert "--seconds must be in 0.05..60" in capsys.readouterr().err


def test_confirm_keeps_only_changes_that_win_the_rematch():
    """A plan's departures from the built-in plan are rerun head to head; the built-in edges split them."""
    import time

    one, split = tune.default_plan(2).pick(1), tune.default_plan(2).pick(64)
    challenger = Strategy(1, 2, False, "basic")
    cost = {one: 0.003, split: 0.0005, challenger: 0.001}  # seconds per call, whatever the batch

    def run(strategy, z):
        time.sleep(cost[strategy])
        return np.zeros((len(z), 3), np.float32)

    claimed = Plan(((1, challenger),))  # the first measurement said: the challenger everywhere
    confirmed = tune.confirm(run, 100, claimed, 2, seconds_per_size=0.1)
    assert confirmed.bands == ((1, challenger), (4, split))  # beats 1x2 below 4 images, loses to 2x1 above
    cost[challenger] = cost[one]  # no faster than the built-in: the change is dropped
    assert tune.confirm(run, 100, claimed, 2, seconds_per_size=0.1).bands == tune.default_plan(2).bands


def test_a_strategy_that_differs_at_any_size_is_dropped_at_every_size():
    """int8 files: onnxruntime's "basic" level leaves QDQ unfused, other arithmetic; it matched at batch 1
    once and differed from batch 2 on. Such a strategy must not win batch 1 either."""
    built_in, odd = tune.default_plan(2).pick(1), Strategy(1, 2, True, "basic")

    def run(strategy, z):
        out = np.zeros((len(z), 3), np.float32)
        if strategy == odd and len(z) > 1:
            out[0, 0] = 1e-7  # one bit of difference, from batch 2 on
        return out

    table = tune.measure(run, 100, 2, sizes=[1, 2, 4], strategies=[built_in, odd], seconds_per_size=0.01)
    assert table.differs == [odd.label()] and set(table.rates) == {built_in.label()}
    assert tune.choose(table).pick(1) == built_in


def test_int8_plans_keep_int8_images_bit_identical(exported, cache):
    """For int8 files some optimisation levels change the arithmetic (QDQ fused or not): tuning must
    drop those, and whatever plan it keeps makes the built-in plan's images."""
    from dcgan_runtime import Generator

    g = Generator.load(exported, precision="int8", device="cpu", threads=2, tune=False)
    z = g.latents(9, seed=3)
    before = {n: g.decode(z[:n], output="float") for n in (1, 3, 9)}
    table = g.tune(save=False)
    kept = {s for _, s in g.plan.bands}
    assert all(s.label() in table.rates for s in kept) and not any(s.label() in table.differs for s in kept)
    for n, images in before.items():
        assert np.array_equal(g.decode(z[:n], output="float"), images), n


def test_an_unwritable_cache_costs_the_cache_not_the_plan(onnx_model, cache):
    from dcgan_runtime import Generator

    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the tune folder should be")
    g = Generator.load(onnx_model, device="cpu", threads=2, tune=True)
    assert g.plan.source.startswith("measured now, not cached: ")
