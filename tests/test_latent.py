from argparse import ArgumentTypeError

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcgan_runtime import latent
from dcgan_runtime.cli.args import seeds as parse_seeds

seeds = st.integers(0, 2**32 - 1)


@given(seeds, seeds, st.integers(2, 40))
@settings(max_examples=50, deadline=None)
def test_slerp_endpoints_and_norms(a, b, steps):
    z0, z1 = latent.latents_from_seeds([a, b], 100)
    path = latent.interpolate(z0, z1, steps, "slerp")
    assert path.shape == (steps, 100)
    assert np.allclose(path[0], z0, atol=1e-5) and np.allclose(path[-1], z1, atol=1e-5)
    norms = np.linalg.norm(path, axis=1)
    lo, hi = sorted(np.linalg.norm([z0, z1], axis=1))
    assert (norms >= lo - 1e-3).all() and (norms <= hi + 1e-3).all()  # no dip toward the origin


def test_lerp_dips_and_slerp_does_not():
    z0, z1 = latent.latents_from_seeds([0, 1], 100)
    mid_lerp = np.linalg.norm(latent.interpolate(z0, z1, 3, "lerp")[1])
    mid_slerp = np.linalg.norm(latent.interpolate(z0, z1, 3, "slerp")[1])
    assert mid_lerp < 0.8 * np.sqrt(100) < mid_slerp


@given(st.lists(st.lists(st.floats(-10, 10), min_size=4, max_size=4), min_size=1, max_size=5))
def test_concept_is_the_mean(rows):
    arr = np.array(rows, np.float32)
    assert np.allclose(latent.concept(arr), arr.mean(0), atol=1e-5)


def test_arithmetic_on_known_vectors():
    a, b, c = np.eye(3, dtype=np.float32)
    # (a + a) / 2 - b + c
    assert latent.arithmetic(plus=[[a, a], [c]], minus=[[b]]).tolist() == [1, -1, 1]
    with pytest.raises(ValueError, match="latent size"):
        latent.arithmetic(plus=[np.zeros((1, 3))], minus=[np.zeros((1, 4))])


def test_neighbours_keep_the_centre():
    z = np.arange(5, dtype=np.float32)
    n = latent.neighbours(z, 8, 0.25, seed=1)
    assert n.shape == (9, 5) and np.array_equal(n[0], z)
    assert 0 < np.abs(n[1:] - z).mean() < 0.5


@given(st.integers(0, 2**32 - 1), st.integers(0, 50))
def test_seed_ranges_parse(lo, span):
    hi = min(lo + span, 2**32 - 1)
    assert parse_seeds(f"{lo}-{hi}") == list(range(lo, hi + 1))


@pytest.mark.parametrize("spec", ["", "a", "5-3", "-1", "1,,x", str(2**32), "0-200000"])
def test_bad_seed_specs(spec):
    with pytest.raises(ArgumentTypeError):
        parse_seeds(spec)


@given(st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.booleans(), st.integers(-5, -1)))
def test_check_seed_rejects_non_seeds(value):
    with pytest.raises(ValueError):
        latent.check_seed(value)
