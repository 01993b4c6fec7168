import numpy as np
import pytest
from scipy import ndimage

import imrestore
from imrestore.chain import Chain, item_rng
from imrestore.errors import ParameterError
from imrestore.registry import get_registry

ALL = ["gaussian", "poisson", "saltpepper", "impulse", "erase", "blur", "block", "downsample", "kspace"]
RANDOM = ["gaussian", "poisson", "saltpepper", "impulse", "erase", "kspace", "block:position=random"]


def test_every_builtin_corruption_is_registered():
    assert set(ALL) <= set(get_registry().names("corruption"))


@pytest.mark.parametrize("spec", ALL)
@pytest.mark.parametrize("shape", [(32, 48), (32, 48, 3)])
def test_float32_in_float32_out_same_shape(spec, shape):
    img = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = imrestore.build(spec)(img, 0)
    assert out.dtype == np.float32
    expected = (16, 24) + shape[2:] if spec == "downsample" else shape
    assert out.shape == expected


@pytest.mark.parametrize("spec", RANDOM)
def test_same_seed_same_draw_other_seed_other_draw(spec, camera):
    c = imrestore.build(spec)
    a = c(camera, item_rng(1, "x.png", 0))
    b = c(camera, item_rng(1, "x.png", 0))
    other = c(camera, item_rng(2, "x.png", 0))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, other)


def test_rng_streams_differ_by_item_and_position():
    draws = {(k, i): item_rng(0, k, i).random() for k in ("a.png", "b.png") for i in (0, 1)}
    assert len(set(draws.values())) == 4


def test_two_seeds_give_independent_gaussian_noise(camera):
    g = imrestore.build("gaussian:sigma=25")
    n1 = g(camera, item_rng(0, "k", 0)) - camera
    n2 = g(camera, item_rng(1, "k", 0)) - camera
    assert abs(np.corrcoef(n1.ravel(), n2.ravel())[0, 1]) < 0.05


def test_gaussian_sigma_is_on_the_0_255_scale(camera):
    noise = imrestore.build("gaussian:sigma=25")(camera, 0) - camera
    assert noise.std() * 255 == pytest.approx(25, rel=0.03)
    assert abs(noise.mean()) < 0.01


def test_gaussian_clip_option(camera):
    assert imrestore.build("gaussian:sigma=50,clip=true")(camera, 0).max() <= 1.0


def test_poisson_is_unbiased_with_peak_variance():
    img = np.full((200, 200), 0.5, np.float32)
    out = imrestore.build("poisson:peak=30")(img, 0)
    assert out.mean() == pytest.approx(0.5, abs=0.005)
    assert out.var() == pytest.approx(0.5 / 30, rel=0.05)


@pytest.mark.parametrize("name", ["saltpepper", "impulse", "erase"])
def test_fraction_of_pixels_hit(name):
    img = np.full((200, 200), 0.5, np.float32)
    out = imrestore.build(f"{name}:p=0.3")(img, 0)
    assert (out != 0.5).mean() == pytest.approx(0.3, abs=0.02)


def test_saltpepper_values_are_black_or_white():
    out = imrestore.build("saltpepper:p=0.5")(np.full((100, 100), 0.5, np.float32), 0)
    assert set(np.unique(out)) == {0.0, 0.5, 1.0}


def test_erase_hits_whole_pixels_of_rgb_and_records_the_mask(astronaut):
    out, info = imrestore.build("erase:p=0.9,value=0").forward(astronaut, np.random.default_rng(0))
    mask = info["mask"]
    assert mask.shape == astronaut.shape[:2]
    assert np.all(out[mask] == 0)
    np.testing.assert_array_equal(out[~mask], astronaut[~mask])


def test_blur_matches_scipy_and_gives_its_psf(camera):
    out, info = imrestore.build("blur:sigma=2").forward(camera, np.random.default_rng(0))
    np.testing.assert_allclose(out, ndimage.gaussian_filter(camera.astype(np.float64), 2, mode="reflect"), atol=1e-6)
    assert info["psf"].sum() == pytest.approx(1.0)
    assert info["psf"].shape == (17, 17)


def test_blur_leaves_channels_separate(astronaut):
    out = imrestore.build("blur:sigma=3")(astronaut, 0)
    np.testing.assert_allclose(out[..., 1], imrestore.build("blur:sigma=3")(astronaut[..., 1], 0), atol=1e-6)


def test_block_centre_and_random_positions(camera):
    out, info = imrestore.build("block:size=10").forward(camera, np.random.default_rng(0))
    ys, xs = np.nonzero(info["mask"])
    assert info["mask"].sum() == 100 and ys.min() == 43 and xs.min() == 43
    assert np.all(out[info["mask"]] == 1.0)
    rnd = [imrestore.build("block:size=10,position=random").forward(camera, np.random.default_rng(s))[1]["mask"] for s in range(3)]
    assert len({tuple(np.argwhere(m)[0]) for m in rnd}) > 1


def test_downsample_is_average_pooling():
    img = np.arange(16, dtype=np.float32).reshape(4, 4) / 16
    out, info = imrestore.build("downsample:factor=2").forward(img, np.random.default_rng(0))
    np.testing.assert_allclose(out, img.reshape(2, 2, 2, 2).mean(axis=(1, 3)))
    assert info == {"scale": 2, "shape": (4, 4)}


@pytest.mark.parametrize("mask", ["random", "equispaced"])
def test_kspace_mask_keeps_about_one_over_acceleration(mask):
    img = np.random.default_rng(0).random((64, 320), dtype=np.float32)
    _, info = imrestore.build(f"kspace:acceleration=4,center_fraction=0.08,mask={mask}").forward(img, np.random.default_rng(3))
    kept = info["kspace_mask"].mean()
    assert kept == pytest.approx(0.25, abs=0.06)
    centre = np.fft.fftshift(info["kspace_mask"])
    assert centre[160 - 12 : 160 + 12].all()  # 8 % of 320 columns around DC


def test_kspace_scaled_is_unbiased(camera):
    spec = imrestore.build("kspace:acceleration=4,scale=true")
    mean = np.mean([spec(camera, np.random.default_rng(s)) for s in range(300)], axis=0)
    assert np.abs(mean - camera).mean() < 0.02
    unscaled = imrestore.build("kspace:acceleration=4")(camera, 0)
    assert np.abs(unscaled - camera).mean() > 0.02


def test_kspace_acceleration_one_is_lossless(camera):
    np.testing.assert_allclose(imrestore.build("kspace:acceleration=1")(camera, 0), camera, atol=1e-5)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("gaussian:sigma=-1", "out of range"),
        ("poisson:peak=0", "out of range"),
        ("erase:p=1.5", "out of range"),
        ("block:size=3.5", "expected int"),
        ("block:position=left", "one of center\\|random"),
        ("kspace:mask=radial", "one of random\\|equispaced"),
        ("downsample:factor=0", "out of range"),
    ],
)
def test_parameter_validation(spec, match):
    with pytest.raises(ParameterError, match=match):
        imrestore.build(spec)


def test_chain_records_every_degradation(camera):
    chain = Chain.from_specs(["blur:sigma=1", "gaussian:sigma=5", "erase:p=0.1"], metrics=[])
    _, degradation = chain.corrupt(camera, seed=0, key="a")
    assert {"psf", "noise_sigma", "mask", "shape"} <= set(degradation)


def test_a_corruption_without_forward_cannot_be_built():
    from dataclasses import dataclass

    from imrestore import Corruption

    @dataclass
    class Incomplete(Corruption):
        name = "incomplete"

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()
