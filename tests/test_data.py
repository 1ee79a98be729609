import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from support import shared_data
from train.data import DataError, load_dataset, to_model_range


def write_idx(path, images, compress):
    raw = b"\x00\x00\x08\x03" + struct.pack(">3I", *images.shape) + images.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.fixture
def mixed_folder(tmp_path):
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    Image.new("RGB", (80, 60), (255, 0, 0)).save(tmp_path / "red.jpg")
    rgba = Image.new("RGBA", (64, 64), (0, 0, 255, 0))  # fully transparent: must become the white background
    rgba.save(sub / "clear.png")
    pal = Image.new("P", (64, 64), 0)
    pal.putpalette([0, 255, 0] * 256)
    pal.save(tmp_path / "palette.png")
    Image.new("L", (32, 32), 128).save(tmp_path / "grey.bmp")
    frames = [Image.new("RGB", (64, 64), c) for c in ((0, 0, 0), (255, 255, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "pic.webp")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not an image")
    good = tmp_path / "whole.png"
    Image.new("RGB", (64, 64), (9, 9, 9)).save(good)
    (tmp_path / "truncated.png").write_bytes(good.read_bytes()[:60])
    (tmp_path / "readme.txt").write_text("ignored: not an image extension")
    return tmp_path


def test_folder_loads_every_kind_and_skips_broken(mixed_folder):
    with pytest.warns(UserWarning, match=r"skipped 3 of 10 files"):
        ds = load_dataset(str(mixed_folder), 32, 3)
    assert ds.images.shape == (7, 3, 32, 32) and ds.images.dtype == torch.uint8 and ds.skipped == 3
    colours = {tuple(img[:, 16, 16].tolist()) for img in ds.images}
    assert (255, 255, 255) in colours  # transparent RGBA over the background
    assert (0, 255, 0) in colours  # palette image
    assert (0, 0, 0) in colours  # the GIF's first frame, not its second
    assert (128, 128, 128) in colours  # grey converted to RGB


def test_folder_to_grey(mixed_folder):
    with pytest.warns(UserWarning):
        ds = load_dataset(str(mixed_folder), 64, 1)
    assert ds.images.shape == (7, 1, 64, 64)


def test_model_range():
    x = to_model_range(torch.tensor([0, 255], dtype=torch.uint8))
    assert x.tolist() == [-1.0, 1.0]


def test_missing_and_empty_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(str(tmp_path / "nope"), 32, 3)
    with pytest.raises(DataError, match="no images"):
        load_dataset(str(tmp_path), 32, 3)
    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="none of the 1 image files"):
        load_dataset(str(tmp_path), 32, 3)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_pads_28_to_32(tmp_path, compress):
    imgs = np.random.RandomState(0).randint(0, 256, (5, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", imgs, compress)
    ds = load_dataset(str(tmp_path), 32, 1)
    assert ds.images.shape == (5, 1, 32, 32)
    assert np.array_equal(ds.images[:, 0, 2:30, 2:30].numpy(), imgs)
    assert ds.images[:, :, :2].sum() == 0
    assert load_dataset(str(tmp_path / "train-images-idx3-ubyte"), 64, 3).images.shape == (5, 3, 64, 64)


def test_idx_truncated(tmp_path):
    imgs = np.zeros((5, 28, 28), np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", imgs, False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        load_dataset(str(path), 32, 1)


def test_real_fashion_mnist():
    ds = load_dataset(str(shared_data("fashion-mnist")), 32, 1)
    assert ds.images.shape == (60_000, 1, 32, 32)


def test_real_twemoji_palette_and_alpha():
    ds = load_dataset(str(shared_data("twemoji64")), 64, 3)
    assert len(ds) > 3000 and ds.skipped == 0
    corners = ds.images[:, :, 0, 0].float().mean().item()
    assert corners > 240  # transparent corners composited onto white


def test_hostile_files_are_skipped_never_hang(tmp_path, monkeypatch):
    import os

    Image.new("RGB", (64, 64), (10, 20, 30)).save(tmp_path / "good.png")
    os.mkfifo(tmp_path / "pipe.png")  # opening it would block forever
    os.symlink(tmp_path / "loop_b.png", tmp_path / "loop_a.png")  # a file symlink loop
    os.symlink(tmp_path / "loop_a.png", tmp_path / "loop_b.png")
    os.symlink(tmp_path, tmp_path / "dir_loop")  # a folder loop: not followed
    (tmp_path / "folder.png").mkdir()  # a folder with an image's name: not a file, not listed
    Image.new("RGB", (200, 200)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 40,000 px > 2x the limit: a decompression bomb
    with pytest.warns(UserWarning, match=r"skipped 4 of 5 files"):
        ds = load_dataset(str(tmp_path), 32, 3)
    assert len(ds) == 1 and ds.skipped == 4
    from train.data import load_image

    for name, words in [("pipe.png", "is a FIFO"), ("loop_a.png", "is a symlink loop")]:
        with pytest.raises(OSError, match=words):  # said in words, never opened
            load_image(tmp_path / name, 32, 3)


def test_unreadable_files_are_skipped(tmp_path, monkeypatch):
    # Tests run as root, whom file permissions do not stop; so make open() fail as it would for a user.
    import train.data

    Image.new("RGB", (64, 64)).save(tmp_path / "ok.png")
    Image.new("RGB", (64, 64)).save(tmp_path / "secret.png")
    real_open = Image.open

    def guarded(path, *a, **k):
        if Path(path).name == "secret.png":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(train.data.Image, "open", guarded)
    with pytest.warns(UserWarning, match="Permission denied"):
        ds = load_dataset(str(tmp_path), 32, 3)
    assert (len(ds), ds.skipped) == (1, 1)


def test_degenerate_pictures_are_named_before_training(tmp_path, capsys):
    from train.cli import main

    one_way = (np.random.RandomState(0).rand(64, 64, 3) * 255).astype(np.uint8)
    one_way[:, :32] = 0  # the same picture, not its own mirror image, 80 times
    for i in range(80):
        Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(tmp_path / f"dot{i}.png")  # 1x1 sources
        Image.fromarray(one_way).save(tmp_path / f"same{i}.png")
    args = ["--data", str(tmp_path), "--batch-size", "16", "--ngf", "8", "--ndf", "8", "--dry-run", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("warning:", "flips off"))]
    assert warned[0].startswith("warning: 80 of 160 images were upscaled from sources at most 32 px a side")
    assert warned[1].startswith("warning: 80 of 160 images are one flat colour")
    assert warned[2].startswith("warning: 158 of 160 images repeat another one at 16x16 (2 distinct)")
    assert len(warned) == 4 and ("x as far as" in warned[3] or "far further than" in warned[3])


def test_the_toy_faces_raise_no_such_warning():
    from train.data import load_dataset
    from train.preflight import degenerate

    assert degenerate(load_dataset("toyfaces", 64, 3, 2000, 0), 64) == []
