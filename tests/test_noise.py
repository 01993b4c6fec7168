"""Noise models (imrestore/noise.py): estimation from one image, the auto test, the stabilising transform and its inverse."""
from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from imrestore.noise import (
    Gaussian,
    PoissonGaussian,
    estimate_gaussian,
    estimate_noise,
    estimate_poisson_gaussian,
)


def poisson_gaussian(clean: np.ndarray, a: float, b: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(clean / a) * a + rng.normal(0, np.sqrt(b), clean.shape)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A 256x256 grey natural image in [0.05, 0.95] (smooth areas and texture)."""
    return 0.05 + 0.9 * data.camera()[::2, ::2] / 255.0


@pytest.mark.parametrize("a,b", [(0.005, 0.005), (0.02, 0.02), (0.05, 0.005), (0.01, 0.0005)])
def test_poisson_gaussian_parameters_are_estimated_from_one_image(scene, a, b):
    model = estimate_poisson_gaussian(poisson_gaussian(scene, a, b))
    # camera's grass and ground (mid-tones) leak texture into the local variances (+20-34 % at a = b = 0.005, where the
    # noise is weakest), and the fit weights those quiet levels more than the bright sky: a comes out up to 30 % high
    assert model.a == pytest.approx(a, rel=0.3)
    assert model.b == pytest.approx(b, abs=0.25 * b + 0.1 * a)


def test_white_gaussian_sigma_is_estimated(scene):
    noisy = scene + np.random.default_rng(1).normal(0, 0.08, scene.shape)
    assert estimate_gaussian(noisy).sigma == pytest.approx(0.08, rel=0.1)


def test_auto_chooses_the_model_the_data_support_and_says_why(scene):
    rng = np.random.default_rng(2)
    white = estimate_noise(scene + rng.normal(0, 0.05, scene.shape))
    assert isinstance(white.model, Gaussian) and "does not grow" in white.reason
    photon = estimate_noise(poisson_gaussian(scene, 0.02, 0.0005))
    assert isinstance(photon.model, PoissonGaussian) and "grows with the signal" in photon.reason
    assert photon.as_dict()["model"] == "poisson-gaussian" and photon.means.size == photon.variances.size > 3


def test_auto_takes_signal_dependent_noise_even_on_a_dim_narrow_image():
    """A dim micrograph spans few levels, so its variance grows little over them; auto still takes the slope it resolves."""
    rng = np.random.default_rng(5)
    dim = 0.2 + 0.15 * data.cell()[:256, :256] / 255.0
    estimate = estimate_noise(poisson_gaussian(dim, 0.02, 0.02, seed=6))
    assert isinstance(estimate.model, PoissonGaussian), estimate.reason
    flat = estimate_noise(0.5 + rng.normal(0, 0.1, (64, 64)))  # one level: no slope to resolve
    assert isinstance(flat.model, Gaussian) and "standard errors" in flat.reason


@pytest.mark.parametrize("level", [0.002, 0.01, 0.05, 0.3])
def test_the_exact_unbiased_inverse_is_unbiased_on_constant_images(level):
    """Denoising a constant image perfectly means averaging its stabilised values; the inverse must give the level back."""
    model = PoissonGaussian(a=0.01, b=0.0001)
    noisy = poisson_gaussian(np.full((512, 512), level), model.a, model.b, seed=3)
    stabilised = model.stabilise(noisy)
    assert stabilised.std() == pytest.approx(1.0, abs=0.12 if level < 0.01 else 0.05)  # unit variance after the GAT
    back = float(model.unstabilise(np.array([stabilised.mean()]))[0])
    assert back == pytest.approx(level, rel=0.03, abs=2e-4)
    algebraic = ((stabilised.mean() / 2) ** 2 - 0.375 - model.b / model.a**2) * model.a
    if level <= 0.01:
        assert abs(algebraic - level) > 3 * abs(back - level)  # what the exact inverse is for


def test_gaussian_stabilise_round_trip():
    model = Gaussian(sigma=0.1)
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(model.unstabilise(model.stabilise(x)), x)
    assert model.variance(0.3) == pytest.approx(0.01)


def test_a_plugin_adds_a_noise_model_that_denoisers_take_by_name(registry, scene):
    """The register_noise_models hook: a third party's model, estimated from the image, used by noise=NAME."""
    from dataclasses import dataclass

    import imrestore
    from imrestore import hookimpl
    from imrestore.errors import ParameterError

    @dataclass
    class Quadratic(Gaussian):
        """Test model: white noise whose sigma is a fixed 0.05 (estimated as such)."""

        name = "fixed-test"

        @classmethod
        def estimate(cls, image):
            return cls(sigma=0.05)

    class Plug:
        @hookimpl
        def register_noise_models(self, register):
            register(Quadratic)

    registry.add_plugin(Plug(), "noise-model-test-plugin")
    record: dict = {}
    imrestore.build("restorer:tv:noise=fixed-test").restore_one(scene.astype(np.float32), record)
    assert record["estimated"]["noise"] == {"model": "fixed-test", "sigma": 0.05, "reason": "fixed-test, as asked"}
    with pytest.raises(ParameterError, match="unknown noise model 'nope'.*fixed-test"):
        imrestore.build("restorer:tv:noise=nope")


def test_a_constant_plane_has_no_noise_and_is_kept(tmp_path):
    """Empty planes of a stack (all zero) estimate to no noise, are kept as they are, and fail nothing."""
    import tifffile

    from imrestore.runner import run

    assert estimate_noise(np.zeros((32, 32))).model == Gaussian(0.0)
    stack = np.zeros((3, 32, 32), np.uint16)
    stack[1] = np.random.default_rng(0).integers(1000, 3000, (32, 32))
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack")
    report = run(["restorer:tv"], tmp_path / "s.tif", tmp_path / "o.tif")
    assert not report.failed
    assert tifffile.imread(tmp_path / "o.tif")[0].max() == 0
