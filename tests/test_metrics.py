import numpy as np
import pytest
from skimage import metrics as skm

import imrestore
from imrestore.evaluate import evaluate_arrays


@pytest.fixture
def pair(camera):
    noisy = np.clip(camera + np.random.default_rng(0).normal(0, 0.1, camera.shape), 0, 1)
    return camera.astype(np.float64), noisy


@pytest.fixture
def rgb_pair(astronaut):
    noisy = np.clip(astronaut + np.random.default_rng(0).normal(0, 0.1, astronaut.shape), 0, 1)
    return astronaut.astype(np.float64), noisy


def test_psnr_matches_skimage(pair):
    ref, est = pair
    assert imrestore.build("psnr")(ref, est) == pytest.approx(skm.peak_signal_noise_ratio(ref, est, data_range=1), abs=1e-6)


def test_psnr_on_integer_files_matches_skimage_default_range(pair):
    ref, est = pair
    r8, e8 = (ref * 255).round().astype(np.uint8), (est * 255).round().astype(np.uint8)
    assert imrestore.build("psnr")(r8 / 255.0, e8 / 255.0) == pytest.approx(skm.peak_signal_noise_ratio(r8, e8), abs=1e-6)


def test_ssim_matches_skimage_grey_and_rgb(pair, rgb_pair):
    ref, est = pair
    assert imrestore.build("ssim")(ref, est) == pytest.approx(skm.structural_similarity(ref, est, data_range=1), abs=1e-6)
    ref, est = rgb_pair
    expected = skm.structural_similarity(ref, est, data_range=1, channel_axis=-1)
    assert imrestore.build("ssim")(ref, est) == pytest.approx(expected, abs=1e-6)
    gauss = skm.structural_similarity(ref, est, data_range=1, channel_axis=-1, gaussian_weights=True)
    assert imrestore.build("ssim:gaussian_weights=true")(ref, est) == pytest.approx(gauss, abs=1e-6)


def test_mse_matches_skimage(pair):
    assert imrestore.build("mse")(*pair) == pytest.approx(skm.mean_squared_error(*pair), abs=1e-12)


def test_nmse_is_fastmri_definition(pair):
    ref, est = pair
    expected = np.linalg.norm(ref - est) ** 2 / np.linalg.norm(ref) ** 2  # fastmri.evaluate.nmse
    assert imrestore.build("nmse")(ref, est) == pytest.approx(expected, rel=1e-12)
    assert imrestore.build("nmse")(ref, ref) == 0.0


def test_direction_flags():
    assert imrestore.build("psnr").higher_is_better and imrestore.build("ssim").higher_is_better
    assert not imrestore.build("mse").higher_is_better and not imrestore.build("nmse").higher_is_better


def test_psnr_of_identical_images_is_infinite(pair):
    assert imrestore.build("psnr")(pair[0], pair[0]) == float("inf")


def test_shape_mismatch_is_an_error(pair):
    with pytest.raises(ValueError, match="shapes differ"):
        imrestore.build("psnr")(pair[0], pair[0][:-1])


def test_explicit_data_range(pair):
    ref, est = pair
    assert imrestore.build("psnr:data_range=255")(ref * 255, est * 255) == pytest.approx(skm.peak_signal_noise_ratio(ref, est, data_range=1), abs=1e-6)


def test_ssim_on_tiny_images_shrinks_the_window():
    ref = np.random.default_rng(0).random((5, 5))
    assert imrestore.build("ssim")(ref, ref) == pytest.approx(1.0)


def test_evaluate_arrays_names_each_metric(pair):
    out = evaluate_arrays(*pair, ["psnr", "nmse"])
    assert set(out) == {"psnr", "nmse"}


@pytest.mark.parametrize("name", ["psnr", "mse", "nmse"])
def test_error_metrics_on_float32_planes_match_float64_and_skimage(name, pair):
    ref, est = pair
    ref32, est32 = ref.astype(np.float32), est.astype(np.float32)
    expected = {"psnr": skm.peak_signal_noise_ratio(ref32.astype(np.float64), est32.astype(np.float64), data_range=1),
                "mse": skm.mean_squared_error(ref32.astype(np.float64), est32.astype(np.float64)),
                "nmse": float(np.sum((ref32.astype(np.float64) - est32) ** 2) / np.sum(ref32.astype(np.float64) ** 2))}[name]
    assert imrestore.build(name)(ref32, est32) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["psnr", "mse", "nmse", "ssim"])
def test_metrics_of_a_large_float32_plane_take_little_memory(name):
    """No float64 copy of the plane: the error metrics need a block, SSIM a few strips (bounded whatever the plane's size)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    ref = rng.random((2048, 2048), dtype=np.float32)
    est = np.clip(ref + rng.normal(0, 0.05, ref.shape).astype(np.float32), 0, 1)
    metric = imrestore.build(name)
    tracemalloc.start()
    metric(ref, est)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    plane = ref.nbytes  # 16 MiB
    assert peak < (0.2 if name != "ssim" else 1.5) * plane, f"{name}: {peak / 2**20:.1f} MiB"
