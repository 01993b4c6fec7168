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


@pytest.fixture(scope="module")
def epi(tmp_path_factory):
    """A real MRI magnitude series: nibabel's test file example4d.nii.gz (EPI, 24 planes of 96x128, int16, two frames)."""
    nibabel = pytest.importorskip("nibabel", reason="the real EPI series comes with nibabel (pip install nibabel)")
    import tifffile
    from pathlib import Path

    data = np.asanyarray(nibabel.load(Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz").dataobj)
    first, second = np.ascontiguousarray(np.transpose(data, (3, 2, 1, 0)))
    path = tmp_path_factory.mktemp("epi") / "epi.tif"
    tifffile.imwrite(path, first)
    support = (first > 0) & (second > 0)
    return path, first, float((first.astype(float) - second)[support].std() / np.sqrt(2))


@pytest.mark.parametrize("noise", ["mri", "auto"])
def test_on_a_real_epi_series_the_run_finds_the_repeated_acquisition_sigma(epi, tmp_path, capsys, noise):
    path, first, repeated = epi
    code, _, err = call(capsys, "run", f"restorer:tv:noise={noise}", str(path), str(tmp_path / "o.tif"), "--range", "data", "-q")
    assert code == 0, err
    found = json.loads((tmp_path / "o.tif.report.json").read_text())["items"][5]["estimated"]["noise"]
    assert found["model"] == ("mri" if noise == "mri" else "gaussian")  # auto: the tissue's texture is not photon noise
    assert found["sigma"] * first.max() == pytest.approx(repeated, rel=0.25)
    if noise == "auto":
        assert "texture, not signal-dependent noise" in found["reason"]


def test_training_on_the_epi_series_does_not_take_its_texture_for_photon_noise(epi):
    from imrestore.nn.selfsup import data_noise

    _, first, repeated = epi
    planes = list(first.astype(np.float64) / first.max())  # a training run fits the noise to all planes, held-out ones too
    assert data_noise(planes).model.name == "gaussian" and "texture" in data_noise(planes).reason
    assert data_noise(planes[:19]).model.name == "gaussian"  # and so it would to the 80 % it trains on
    assert data_noise(planes, "mri").model.sigma * first.max() == pytest.approx(repeated, rel=0.25)


def test_pnp_with_nothing_to_invert_judges_the_epi_noise_as_the_denoisers_do_and_keeps_the_series(epi, tmp_path, capsys):
    # pnp estimated white noise per plane (wavelet MAD), took the tissue's texture for 4.7-5.4/255 of noise on 5 of the
    # 24 planes and smoothed them (the run's "removed structure" warning), where every denoiser keeps the series
    import tifffile

    path, first, repeated = epi
    code, _, err = call(capsys, "run", "restorer:pnp", str(path), str(tmp_path / "o.tif"), "--range", "data", "-q")
    assert code == 0, err
    items = json.loads((tmp_path / "o.tif.report.json").read_text())["items"]
    assert items[5]["estimated"]["noise"]["sigma"] * first.max() == pytest.approx(repeated, rel=0.25)
    assert all("kept as it is" in item["estimated"]["note"] for item in items)
    assert np.array_equal(tifffile.imread(tmp_path / "o.tif"), first)


def test_pnp_deconvolving_a_real_slice_with_a_masked_background_assumes_its_white_noise(epi, tmp_path, capsys):
    # with the denoisers' model at the median level, an MRI slice's median (its zero background) gave sigma 0: the
    # loop deconvolved with no noise to hold it and wrote rings from -1004 to 2490 for data in 0..1022
    import tifffile

    path, first, _ = epi
    tifffile.imwrite(tmp_path / "slice.tif", first[12])
    code, _, err = call(capsys, "run", "restorer:pnp:psf_sigma=1", str(tmp_path / "slice.tif"), str(tmp_path / "o.tif"),
                        "--range", "data", "-q")
    assert code == 0, err
    item = json.loads((tmp_path / "o.report.json").read_text())["items"][0]
    assert item["estimated"]["pnp"]["noise_sigma"]["value"] > 2  # 0-255 units; the slice's white-noise MAD: 5.6
    out = tifffile.imread(tmp_path / "o.tif").astype(float)
    assert out.min() > -0.25 * first[12].max() and out.max() < 1.5 * first[12].max()
