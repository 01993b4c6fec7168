"""SSIM in float32 and strips (imrestore/similarity.py): scikit-image's values, whatever the strip size."""
from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.metrics import structural_similarity

import imrestore
from imrestore.similarity import ssim


def pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    base = np.resize(data.astronaut() / 255.0 if len(shape) == 3 else data.camera() / 255.0, shape)
    return base, np.clip(base + rng.normal(0, 0.08, shape), 0, 1)


@pytest.mark.parametrize("shape", [(7, 9), (64, 64), (301, 257), (96, 80, 3), (700, 530)])
@pytest.mark.parametrize("window", ["uniform", "wang", "skimage-gaussian"])
def test_equals_scikit_image(shape, window):
    ref, est = pair(shape)
    if window == "wang" or window == "skimage-gaussian":
        if min(shape[:2]) < 11:
            return
        sample = window == "skimage-gaussian"
        expected = structural_similarity(ref, est, data_range=1.0, channel_axis=-1 if len(shape) == 3 else None,
                                         gaussian_weights=True, use_sample_covariance=sample)
        got = ssim(ref, est, gaussian=True, sample_covariance=sample, channel_axis=-1 if len(shape) == 3 else None)
    else:
        expected = structural_similarity(ref, est, data_range=1.0, channel_axis=-1 if len(shape) == 3 else None)
        got = ssim(ref, est, channel_axis=-1 if len(shape) == 3 else None)
    assert got == pytest.approx(expected, abs=1e-4)


def test_strips_give_the_whole_planes_value():
    ref, est = pair((530, 411))
    whole = ssim(ref, est, strip_rows=10**6)
    for rows in (1, 17, 64, 256):
        assert ssim(ref, est, strip_rows=rows) == pytest.approx(whole, abs=1e-9)


def test_images_smaller_than_the_window_are_refused():
    with pytest.raises(ValueError, match="smaller than the 7x7 window"):
        ssim(np.zeros((5, 40)), np.zeros((5, 40)))
    from imrestore.errors import NotMeasurable

    with pytest.raises(NotMeasurable, match="too small"):
        imrestore.build("ssim")(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(NotMeasurable, match="11x11"):
        imrestore.build("ssim:gaussian=true")(np.zeros((9, 9)), np.zeros((9, 9)))


def test_the_metric_plugin_takes_wangs_variant():
    ref, est = pair((64, 64))
    wang = structural_similarity(ref, est, data_range=1.0, gaussian_weights=True, use_sample_covariance=False)
    assert imrestore.build("ssim:gaussian=true")(ref, est) == pytest.approx(wang, abs=1e-4)


@pytest.mark.parametrize("gaussian", [False, True])
def test_a_3d_window_equals_scikit_image_on_stacks(gaussian):
    rng = np.random.default_rng(3)
    ref = np.resize(data.camera()[::8, ::8] / 255.0, (16, 40, 36)) * rng.uniform(0.7, 1.0, (16, 1, 1))
    est = np.clip(ref + rng.normal(0, 0.08, ref.shape), 0, 1)
    expected = structural_similarity(ref, est, data_range=1.0, gaussian_weights=gaussian, use_sample_covariance=not gaussian)
    got = ssim(ref, est, volumetric=True, gaussian=gaussian)
    assert got == pytest.approx(expected, abs=1e-4)
    assert ssim(ref, est, volumetric=True, gaussian=gaussian, strip_rows=3) == pytest.approx(got, abs=1e-9)  # blocks: same value
    with pytest.raises(ValueError, match="7x7x7 window"):
        ssim(ref[:5], est[:5], volumetric=True)


def test_the_uniform_window_takes_only_odd_sizes():
    ref, est = pair((64, 64))
    assert ssim(ref, est, win_size=3) == pytest.approx(structural_similarity(ref, est, data_range=1.0, win_size=3), abs=1e-4)
    with pytest.raises(ValueError, match="odd"):
        ssim(ref, est, win_size=4)


def test_strips_measured_on_threads_give_the_same_value(monkeypatch):
    from imrestore import similarity

    ref, est = pair((530, 411))
    monkeypatch.setattr(similarity, "THREADS", 1)
    alone = ssim(ref, est, strip_rows=16)
    monkeypatch.setattr(similarity, "THREADS", 3)
    assert ssim(ref, est, strip_rows=16) == alone  # the same strips, summed in the same order
