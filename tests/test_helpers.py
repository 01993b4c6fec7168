"""Helpers for plugin authors (imrestore/helpers.py)."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from imrestore.helpers import error_reason, noise_sigma, psnr, psnr_from_mse


def test_noise_sigma_prefers_the_parameter_then_the_chain_then_the_estimate(camera):
    rng = np.random.default_rng(0)
    noisy = (camera + rng.normal(0, 0.1, camera.shape)).astype(np.float32)
    assert noise_sigma(noisy, {"noise_sigma": 0.3}, 25) == pytest.approx(25 / 255)
    assert noise_sigma(noisy, {"noise_sigma": 0.3}) == 0.3
    assert noise_sigma(noisy, {}) == pytest.approx(0.1, rel=0.15)


def test_psnr_matches_scikit_image(camera):
    est = np.clip(camera + 0.05, 0, 1)
    assert psnr(camera, est) == pytest.approx(peak_signal_noise_ratio(camera, est, data_range=1.0), abs=1e-6)
    assert psnr(camera, camera) == float("inf") and psnr_from_mse(0.01) == pytest.approx(20.0)


def test_error_reason_is_one_line():
    assert error_reason(OSError("cannot read x.png\ntruncated")) == "cannot read x.png"
    assert error_reason(RuntimeError()) == "RuntimeError"
