"""The noise of MRI magnitude images (imrestore.noise.MRIMagnitude): Gaussian in the image, Rician at low signal."""
from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.data import shepp_logan_phantom

from imrestore.denoising import noise_model_for
from imrestore.noise import MRIMagnitude, estimate_mri_sigma, estimate_noise, noise_model
from tests.helpers import call


def rician(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """The magnitude of ``clean`` plus complex white Gaussian noise of ``sigma`` in each channel."""
    rng = np.random.default_rng(seed)
    return np.abs(clean + rng.normal(0, sigma, clean.shape) + 1j * rng.normal(0, sigma, clean.shape)).astype(np.float32)


@pytest.mark.parametrize("sigma", [0.01, 0.03, 0.05])
def test_sigma_of_a_synthetic_rician_image_is_found_within_10_percent(sigma):
    image = rician(0.1 + 0.8 * shepp_logan_phantom(), sigma)  # the object on a dim floor, and a Rician background
    assert estimate_mri_sigma(image) == pytest.approx(sigma, rel=0.1)
    found = estimate_noise(image, "mri").model
    assert isinstance(found, MRIMagnitude) and found.sigma == estimate_mri_sigma(image)


def test_a_masked_background_of_zeros_does_not_count():
    image = rician(0.2 + 0.6 * shepp_logan_phantom(), 0.02)
    image[:, :120] = 0  # a scanner's mask
    assert estimate_mri_sigma(image) == pytest.approx(0.02, rel=0.1)


def test_the_variance_falls_to_the_rayleigh_floor_where_there_is_no_signal():
    model = noise_model("mri", sigma=0.1)
    floor, bright = model.variance(np.array([0.0, 1.0])) / 0.01
    assert floor == pytest.approx(2 - np.pi / 2, abs=1e-3) and bright == pytest.approx(1.0, abs=0.01)
    assert model.stabilise(np.array([0.5]))[0] == pytest.approx(5.0)


def test_a_fastmri_file_is_denoised_with_the_mri_model_under_auto(tmp_path, capsys):
    from imrestore.mri import write_phantom_scan

    scan = write_phantom_scan(tmp_path / "scan.h5", slices=2, coils=1, shape=(64, 64), crop=(64, 64))
    code, _, err = call(capsys, "run", "restorer:tv:sigma=5", str(scan), str(tmp_path / "out.h5"), "-q")
    assert code == 0, err
    assert noise_model_for(np.zeros((8, 8)), {"modality": "mri"}).model.name == "mri"
    assert "MRI" in noise_model_for(np.ones((64, 64)), {"modality": "mri"}).reason


def test_noise_mri_is_a_denoiser_and_training_option(tmp_path, capsys):
    import tifffile

    image = rician(0.2 + 0.6 * shepp_logan_phantom()[::2, ::2], 0.04)
    tifffile.imwrite(tmp_path / "mr.tif", (np.clip(image, 0, 1) * 4095).astype(np.uint16))
    code, _, err = call(capsys, "run", "restorer:tv:noise=mri", str(tmp_path / "mr.tif"), str(tmp_path / "o.tif"), "--range", "0:4095")
    assert code == 0, err
    item = json.loads((tmp_path / "o.report.json").read_text())["items"][0]
    assert item["estimated"]["noise"]["model"] == "mri" and item["estimated"]["noise"]["sigma"] == pytest.approx(0.04, rel=0.15)


def test_the_white_noise_quantile_constant_is_what_a_simulation_gives():
    from imrestore.noise import WHITE_QUANTILE, white_quantile

    assert white_quantile(seed=1) == pytest.approx(WHITE_QUANTILE, rel=0.03)


def test_a_volume_run_estimates_one_mri_sigma_from_many_planes(tmp_path, capsys):
    import tifffile

    stack = np.stack([rician(0.2 + 0.6 * shepp_logan_phantom()[::4, ::4], 0.03, seed=z) for z in range(6)])
    tifffile.imwrite(tmp_path / "mr.tif", (np.clip(stack, 0, 1) * 4095).astype(np.uint16))
    code, _, err = call(capsys, "run", "restorer:tv:noise=mri", str(tmp_path / "mr.tif"), str(tmp_path / "o.tif"), "--range", "0:4095", "-q")
    assert code == 0, err
    items = json.loads((tmp_path / "o.tif.report.json").read_text())["items"]
    sigmas = {i["estimated"]["noise"]["sigma"] for i in items}
    assert len(sigmas) == 1 and sigmas.pop() == pytest.approx(0.03, rel=0.1)  # one sigma for the acquisition
    assert "6 planes of the volume" in items[0]["estimated"]["noise"]["reason"]
