import numpy as np
import pytest

import imrestore
from imrestore.chain import Chain
from imrestore.errors import ChainError, ParameterError
from imrestore.registry import get_registry

ALL = ["identity", "tv", "nlmeans", "wavelet", "deconv", "interp", "inpaint", "zerofill"]

# (corruption chain, restorer, minimum PSNR gain in dB on the camera crop)
CASES = [
    (["gaussian:sigma=25"], "tv", 4),
    (["gaussian:sigma=25"], "nlmeans", 4),
    (["gaussian:sigma=25"], "wavelet", 3),
    (["blur:sigma=2", "gaussian:sigma=2.55"], "deconv", 0.8),
    (["downsample:factor=2"], "interp:order=bicubic", None),
    (["erase:p=0.5"], "inpaint", 10),
    (["block:size=12"], "inpaint", 3),
    (["saltpepper:p=0.2"], "inpaint", 10),
]


def test_every_builtin_restorer_is_registered():
    assert set(ALL) <= set(get_registry().names("restorer"))


@pytest.mark.parametrize("corruptions,restorer,gain", CASES)
def test_restorer_improves_on_its_corruption(corruptions, restorer, gain, camera):
    out = Chain.from_specs([*corruptions, f"restorer:{restorer}"]).apply(camera, seed=0)
    assert out.restored.dtype == np.float32 and out.restored.shape == camera.shape
    if gain is None:  # the corrupted image is smaller: no PSNR to compare with
        assert out.metrics["restored"]["psnr"] > 25
    else:
        assert out.metrics["restored"]["psnr"] > out.metrics["corrupted"]["psnr"] + gain


@pytest.mark.parametrize("restorer", ["tv", "nlmeans", "wavelet", "deconv:sigma=1", "interp:factor=2", "inpaint:value=1", "identity"])
def test_rgb_in_rgb_out(restorer, astronaut):
    out = imrestore.build(f"restorer:{restorer}")(astronaut)
    factor = 2 if "interp" in restorer else 1
    assert out.shape == (astronaut.shape[0] * factor, astronaut.shape[1] * factor, 3)
    assert out.dtype == np.float32


def test_restorers_are_deterministic(camera):
    noisy = imrestore.build("gaussian")(camera, 0)
    for name in ("tv", "nlmeans", "wavelet"):
        r = imrestore.build(f"restorer:{name}")
        np.testing.assert_array_equal(r(noisy), r(noisy))


def test_identity_returns_a_copy(camera):
    out = imrestore.build("restorer:identity")(camera)
    np.testing.assert_array_equal(out, camera)
    assert out is not camera


def test_nlmeans_uses_the_chain_sigma_then_the_parameter(camera):
    noisy, deg = Chain.from_specs(["gaussian:sigma=25"], metrics=[]).corrupt(camera, 0, "k")
    r = imrestore.build("restorer:nlmeans")
    from_chain = r(noisy, deg)
    estimated = r(noisy, {})
    explicit = imrestore.build("restorer:nlmeans:sigma=5")(noisy, deg)
    assert not np.array_equal(from_chain, estimated)
    assert np.abs(explicit - noisy).mean() < np.abs(from_chain - noisy).mean()


@pytest.mark.parametrize(
    "chain,restorer",
    [([], "deconv"), (["gaussian"], "interp"), (["blur"], "inpaint"), (["gaussian"], "zerofill")],
)
def test_restorer_without_what_it_needs_is_a_chain_error(chain, restorer):
    with pytest.raises(ChainError, match=f"restorer {restorer} needs"):
        Chain.from_specs([*chain, f"restorer:{restorer}"])


def test_zerofill_reconstructs_the_measured_kspace(camera):
    out = Chain.from_specs(["kspace:acceleration=4", "restorer:zerofill"]).apply(camera, seed=0)
    np.testing.assert_allclose(out.restored, out.corrupted, atol=1e-5)
    full = Chain.from_specs(["kspace:acceleration=1", "restorer:zerofill:magnitude=true"]).apply(camera, seed=0)
    np.testing.assert_allclose(full.restored, camera, atol=1e-5)


def test_explicit_parameter_replaces_the_chain(camera):
    blurred = imrestore.build("blur:sigma=2")(camera, 0)
    a = Chain.from_specs(["restorer:deconv:sigma=2"], metrics=[]).apply(blurred).restored
    b = imrestore.build("restorer:deconv")(blurred, {"psf": __import__("imrestore_builtins.corruptions", fromlist=["x"]).gaussian_psf(2)})
    np.testing.assert_allclose(a, b)


def test_deconv_reflect_padding_keeps_edges_sane(camera):
    out = Chain.from_specs(["blur:sigma=2", "gaussian:sigma=2.55", "restorer:deconv"]).apply(camera, seed=0)
    border = np.abs(out.restored - camera)[:4].mean()
    assert border < 0.1


def test_interp_returns_the_original_size_for_odd_shapes():
    img = np.random.default_rng(0).random((33, 47), dtype=np.float32)
    out = Chain.from_specs(["downsample:factor=2", "restorer:interp"]).apply(img)
    assert out.restored.shape == (33, 47)


@pytest.mark.parametrize("order", ["nearest", "bilinear", "bicubic"])
def test_interp_orders(order, camera):
    out = Chain.from_specs(["downsample:factor=2", f"restorer:interp:order={order}"]).apply(camera)
    assert out.metrics["restored"]["psnr"] > 22


def test_bicubic_beats_nearest(camera):
    psnr = {o: Chain.from_specs(["downsample", f"restorer:interp:order={o}"]).apply(camera).metrics["restored"]["psnr"] for o in ("nearest", "bicubic")}
    assert psnr["bicubic"] > psnr["nearest"]


@pytest.mark.parametrize("spec,match", [("restorer:tv:weight=0", "out of range"), ("restorer:interp:order=lanczos", "one of"), ("restorer:deconv:iterations=0", "out of range")])
def test_parameter_validation(spec, match):
    with pytest.raises(ParameterError, match=match):
        imrestore.build(spec)


def test_chain_order_is_enforced():
    with pytest.raises(ChainError, match="corruptions must come before the restorer"):
        Chain.from_specs(["restorer:tv", "gaussian"])
    with pytest.raises(ChainError, match="at most one restorer"):
        Chain.from_specs(["gaussian", "restorer:tv", "restorer:nlmeans"])
