import numpy as np
import pytest

from train.toyfaces import ATTRIBUTE_VALUES, make_toyfaces


def test_deterministic_and_independent_of_count():
    a = make_toyfaces(8, seed=3)
    b = make_toyfaces(20, seed=3)
    assert np.array_equal(a.images, b.images[:8])
    assert list(a.attributes["hair"]) == list(b.attributes["hair"][:8])
    assert not np.array_equal(a.images, make_toyfaces(8, seed=4).images)


def test_attributes_cover_every_value():
    f = make_toyfaces(400, seed=0)
    for name, values in ATTRIBUTE_VALUES.items():
        assert set(f.attributes[name]) == set(values), name
    for flag in ("smiling", "glasses"):
        assert 0.35 < f.attributes[flag].mean() < 0.65
    assert f.attributes["dx"].std() > 0.01 and f.attributes["scale"].std() > 0.01


def test_attributes_are_visible():
    # smiling faces show a dark mouth opening and white teeth; glasses add dark rims around the eyes
    f = make_toyfaces(200, seed=1, image_size=64)
    mouth = f.images[:, 44:54, 24:40].astype(float).std(axis=(1, 2, 3))
    smiling = f.attributes["smiling"]
    assert mouth[smiling].mean() > mouth[~smiling].mean() * 1.2


@pytest.mark.parametrize("size,channels", [(32, 1), (64, 3), (128, 3)])
def test_sizes_and_channels(size, channels):
    f = make_toyfaces(2, image_size=size, channels=channels)
    assert f.images.shape == (2, size, size, channels) and f.images.dtype == np.uint8
