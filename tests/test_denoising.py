"""Denoisers on real acquisitions (imrestore/denoising.py): where the noise model comes from, the stabilised path, do no harm."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from imrestore.denoising import (
    MIN_SPAN,
    Denoiser,
    UnitDomain,
    noise_model_for,
    through_model,
)
from imrestore.helpers import psnr
from imrestore.noise import Gaussian, PoissonGaussian


@dataclass
class Smooth(Denoiser):
    """A Gaussian filter whose width follows sigma: a stand-in white-Gaussian denoiser that records what it was given."""

    name = "smooth-test"

    def denoise(self, image, sigma):
        self.given = sigma
        return ndimage.gaussian_filter(image, 1.0 if sigma > 0.01 else 0.3).astype(np.float32)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return (0.1 + 0.8 * data.camera()[::2, ::2] / 255.0).astype(np.float32)


def test_the_noise_model_comes_from_parameters_then_the_chain_then_the_data(clean):
    assert noise_model_for(clean, {"noise_sigma": 0.2}, sigma255=25).model == Gaussian(25 / 255)
    assert noise_model_for(clean, {"noise_sigma": 0.2}).model == Gaussian(0.2)
    assert noise_model_for(clean, {"noise_a": 0.01, "noise_b": 0.0}).model == PoissonGaussian(0.01, 0.0)
    given_a = noise_model_for(clean, {}, noise_a=0.02)
    assert given_a.model.a == 0.02 and "noise_b estimated" in given_a.reason
    noisy = clean + np.random.default_rng(0).normal(0, 0.05, clean.shape).astype(np.float32)
    assert noise_model_for(noisy, {}, noise="gaussian").model.sigma == pytest.approx(0.05, rel=0.15)


def test_poisson_gaussian_noise_is_removed_in_the_stabilised_domain(clean):
    rng = np.random.default_rng(1)
    a, b = 0.02, 0.001
    noisy = (rng.poisson(clean / a) * a + rng.normal(0, np.sqrt(b), clean.shape)).astype(np.float32)
    record: dict = {}
    r = Smooth(noise_a=a, noise_b=b)
    out = r.restore_one(noisy, record)
    assert record["estimated"]["noise"]["model"] == "poisson-gaussian"
    assert 0 < r.given < 1 and psnr(clean, out) > psnr(clean, noisy) + 3
    # no bias: the mean level survives the transform and its inverse
    assert abs(float(out.mean()) - float(clean.mean())) < 0.01


def test_the_unit_domain_stretches_the_signal_not_the_noise_onto_0_1(clean):
    """The noisy image's extremes are noise: the signal (the image smoothed) is what fills [0, 1], as in training."""
    noisy = clean + np.random.default_rng(3).normal(0, 0.05, clean.shape).astype(np.float32)
    domain, unit = UnitDomain.of(noisy, Gaussian(0.05))
    signal = ndimage.gaussian_filter(clean.astype(np.float64), 1.0) / 0.05
    extremes = noisy.min() / 0.05, noisy.max() / 0.05  # in noise units: about 4 of them beyond the signal
    assert extremes[0] + 2 < domain.lo < signal.min() and domain.lo + domain.span < extremes[1] - 2
    assert domain.span == pytest.approx(np.ptp(signal), rel=0.15)
    assert unit.min() < -0.02 and unit.max() > 1.02  # the noise overshoots [0, 1], as it did in training
    np.testing.assert_allclose(domain.back(unit), noisy, atol=1e-5)


def test_the_unit_domain_keeps_drowned_signals_within_the_trained_noise_level():
    """A signal that spans less than MIN_SPAN noise levels is centred in a domain of that span: its noise stays at 50/255."""
    flat = np.full((64, 64), 0.4) + np.random.default_rng(4).normal(0, 0.1, (64, 64))
    domain, unit = UnitDomain.of(flat, Gaussian(0.1))
    assert domain.span == MIN_SPAN and domain.sigma == pytest.approx(50 / 255)
    assert float(np.median(unit)) == pytest.approx(0.5, abs=0.05)


def test_through_model_sends_gaussian_noise_straight_to_the_denoiser(clean):
    seen = []
    through_model(clean, Gaussian(0.1), lambda im, s: seen.append(s) or im)
    assert seen == [0.1]


def test_do_no_harm_on_clean_data(clean, caplog):
    import logging

    records: list[dict] = [{}, {}]
    restorer = Smooth(noise="gaussian")
    with caplog.at_level(logging.DEBUG, logger="imrestore"):
        outs = [restorer.restore_one(clean, record) for record in records]
    np.testing.assert_array_equal(outs[0], clean)  # an 8-bit image's noise is below what it can remove
    assert all("kept as it is" in record["estimated"]["note"] for record in records)
    # said once where a user sees it, with what to do; the next images quietly (the report has each)
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "kept as it is" in r.getMessage()]
    assert [level for level, _ in said] == [logging.WARNING, logging.DEBUG]
    assert "give sigma=" in said[0][1] and "--range data" in said[0][1]


@pytest.mark.parametrize("spec", ["restorer:tv", "restorer:wavelet", "restorer:nlmeans", "restorer:n2n-unet"])
def test_builtin_denoisers_never_make_clean_or_nearly_clean_data_worse(clean, spec):
    import imrestore

    restorer = imrestore.build(spec)
    restorer.prepare([])
    crop = clean[:96, :96]
    for sigma in (0, 2):
        noisy = crop + np.random.default_rng(sigma).normal(0, sigma / 255, crop.shape).astype(np.float32) if sigma else crop
        out = restorer.restore([noisy], [{}])[0]
        assert psnr(crop, out) >= psnr(crop, noisy) - 0.1
