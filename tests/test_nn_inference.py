"""Batched, tiled inference (imrestore/nn/inference.py): no seams, balanced tiles, a tile bar only when asked."""

import numpy as np
import pytest
import torch
from imrestore_builtins.learned import WEIGHTS_DIR
from skimage import data, transform

import imrestore
from imrestore.nn.checkpoint import load_checkpoint
from imrestore.nn.inference import predict

SHIPPED_GREY = WEIGHTS_DIR / "n2n-unet-gaussian-grey.safetensors"


@pytest.mark.slow  # 8 s (CI runs it)
def test_tiled_inference_has_no_seams():
    """1024x1024: tiled vs untiled mean absolute error below 1e-3, no seam in the difference."""
    model, _ = load_checkpoint(SHIPPED_GREY)
    clean = transform.resize(data.camera() / 255.0, (1024, 1024), anti_aliasing=True).astype(np.float32)
    noisy = imrestore.build("gaussian:sigma=25")(clean, 0)
    whole = predict(model, [noisy], tile=None)[0]
    tiled = predict(model, [noisy], tile=256, overlap=64, batch_size=4)[0]
    diff = np.abs(tiled - whole)
    assert diff.mean() < 1e-3
    # a seam would be a line of larger differences at the tile borders
    profile = np.maximum(diff.mean(axis=0), diff.mean(axis=1))
    assert profile.max() < 5e-3


def test_tiles_are_balanced_and_cpu_tiles_stay_cache_sized(monkeypatch):
    from imrestore_builtins.learned import shipped_checkpoints

    from imrestore.nn import inference

    model, _ = load_checkpoint(next(p for p, _ in shipped_checkpoints() if p.stem == "n2n-unet-gaussian-grey"))
    noisy = imrestore.build("gaussian:sigma=25")(transform.resize(data.camera() / 255.0, (600, 700)).astype(np.float32), 0)
    shapes = []
    real = inference.run_batches

    def spy(model, images, *args, **kwargs):
        shapes.extend(im.shape for im in images)
        return real(model, images, *args, **kwargs)

    monkeypatch.setattr(inference, "run_batches", spy)
    tiled = predict(model, [noisy], tile=512, overlap=32)[0]
    assert set(shapes) == {(320, 384)} and len(shapes) == 4  # 2x2 tiles of 320x384, not of 512x512
    monkeypatch.setattr(inference, "run_batches", real)
    assert np.abs(tiled - predict(model, [noisy], tile=None)[0]).mean() < 1e-3  # (700 is padded to 704 untiled, not in tiles)
    assert inference.auto_tile(torch.device("cpu"), 2000) == inference.CPU_TILE == 1024


def test_a_large_tiled_image_shows_its_tiles_only_when_asked(capsys):
    from imrestore.progress import tile_progress

    net, image = torch.nn.Identity(), np.random.default_rng(0).random((300, 400), dtype=np.float32)
    out = predict(net, [image], tile=128, overlap=16)[0]
    assert "tiles" not in capsys.readouterr().err
    with tile_progress():
        again = predict(net, [image], tile=128, overlap=16)[0]
    assert "300x400 in 12 tiles" in capsys.readouterr().err
    np.testing.assert_array_equal(out, again)


def test_predict_batches_same_shapes_and_keeps_order():
    net = torch.nn.Conv2d(1, 1, 1, bias=False)
    torch.nn.init.constant_(net.weight, 2.0)
    imgs = [np.full((8, 8), i, np.float32) for i in range(5)] + [np.ones((4, 6), np.float32)]
    out = predict(net, imgs, batch_size=2)
    assert [float(o.mean()) for o in out] == [0, 2, 4, 6, 8, 2]


