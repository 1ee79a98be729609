import pytest
import torch

from train.config import TrainConfig
from train.model import build_models, count_params, generator_flops


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(size, channels):
    cfg = TrainConfig(image_size=size, channels=channels, ngf=8, ndf=8)
    g, d = build_models(cfg)
    x = g(torch.randn(2, cfg.nz, 1, 1))
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1  # tanh
    assert d(x).shape == (2,)


def test_paper_parameter_counts():
    g, d = build_models(TrainConfig())
    assert count_params(g) == 3_576_704
    assert count_params(d) == 2_765_568


def test_architecture_is_the_paper_s():
    g, d = build_models(TrainConfig())
    convs = [m for m in g.main if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (100, 512, 1),
        (512, 256, 2),
        (256, 128, 2),
        (128, 64, 2),
        (64, 3, 2),
    ]
    assert all(c.bias is None for c in convs)
    assert isinstance(g.main[-1], torch.nn.Tanh)
    kinds = {type(m).__name__ for m in d.modules()}
    assert "LeakyReLU" in kinds and not kinds & {"Linear", "MaxPool2d", "AvgPool2d"}
    assert not isinstance(d.main[1], torch.nn.BatchNorm2d)  # no BN on D's first layer
    assert d.main[1].negative_slope == 0.2


def test_init_statistics():
    torch.manual_seed(0)
    g, _ = build_models(TrainConfig())
    w = g.main[3].weight
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    bn = g.main[1]
    assert abs(bn.weight.mean().item() - 1) < 0.01 and bn.bias.abs().max() == 0


def test_flops_counted_from_layers():
    # 0.21 GFLOP at 64x64, as the paper's model is usually quoted
    assert generator_flops(TrainConfig()) == 209_256_448
    assert generator_flops(TrainConfig(image_size=32)) < generator_flops(TrainConfig()) / 5


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="image_size"):
        TrainConfig(image_size=48)
    with pytest.raises(ValueError, match="channels"):
        TrainConfig(channels=2)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"image_size": 64, "bogus": 1})
