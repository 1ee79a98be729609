"""The library entry points a program embeds: `train.fit(config, out)` and `export.export(checkpoint, outdir)`,
the same composition `python -m train` and `python -m export` are thin commands over."""

from __future__ import annotations

import pytest

from dcgan_runtime import Generator
from train.config import TrainConfig

TINY = TrainConfig(data="toyfaces", num_images=64, image_size=32, ngf=8, ndf=8, batch_size=16, max_steps=4)


def test_fit_then_export_then_generate(tmp_path):
    import export
    import train

    result = train.fit(TINY.replace(sample_every=2), tmp_path / "run")
    assert (result.status, result.exit_code, result.step) == ("done", 0, 4)
    assert result.best == tmp_path / "run" / "checkpoints" / "best.pt" and result.best_swd is not None
    exported = export.export(result.best, tmp_path / "export", int8=True)
    assert [p.name for p in exported.files] == ["generator.onnx", "generator.int8.onnx", "generator.torchscript"]
    assert exported.report["passed"] and all(exported.sizes[p.name] == p.stat().st_size for p in exported.files)
    images = Generator.load(tmp_path / "export", device="cpu").generate(seeds=[0, 1])
    assert images.shape == (2, 32, 32, 3) and images.std() > 0


def test_fit_resumes_and_refuses_a_changed_config(tmp_path):
    from train import fit

    fit(TINY, tmp_path / "run")
    with pytest.raises(ValueError, match="--ngf 16 \\(the run has 8\\)"):
        fit(TINY.replace(ngf=16, max_steps=6), tmp_path / "run", resume=True)
    more = fit(TINY.replace(max_steps=6), tmp_path / "run", resume=True)
    assert more.step == 6 and more.status == "done"


def test_export_refuses_bad_options_before_loading_anything(tmp_path):
    from export import export

    with pytest.raises(ValueError, match="--opset must be"):
        export(tmp_path / "no-such-checkpoint.pt", tmp_path / "out", opset=3)
    with pytest.raises(TypeError):
        export(tmp_path / "x.pt", tmp_path / "out", no_such_option=True)
    assert list(tmp_path.iterdir()) == []
