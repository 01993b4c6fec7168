"""Plug-and-play restoration (restorer:pnp): the operator choice, the loop, the prior, the CLI and its errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from helpers import call
from skimage import data

from imrestore.chain import Chain
from imrestore.errors import ChainError, ParameterError
from imrestore.forward import choose_operator, read_psf
from imrestore.operators import Convolve, Mask, Pool
from imrestore.priors import dpir_schedule, pnp
from imrestore.registry import build
from imrestore_builtins.prior import PlugAndPlay


def psnr(a, b):
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def crop():
    return (data.camera()[160:256, 200:296] / 255.0).astype(np.float32)


def restored(chain_specs, image, seed=0):
    chain = Chain.from_specs(chain_specs)
    y, record = chain.corrupt(image, seed=seed)
    return chain.restore(y, record), record


def test_the_schedule_falls_from_the_start_to_the_noise_level_and_never_below_the_floor():
    s = dpir_schedule(8, 2.55 / 255)
    assert s[0] == pytest.approx(49 / 255) and s[-1] == pytest.approx(2.55 / 255) and np.all(np.diff(s) < 0)
    assert dpir_schedule(4, 0.0)[-1] == pytest.approx(0.5 / 255)


def test_pnp_with_tv_beats_richardson_lucy_on_a_blurred_noisy_crop(crop):
    classical, _ = restored(["blur:sigma=2", "gaussian:sigma=2.55", "restorer:deconv"], crop)
    ours, record = restored(["blur:sigma=2", "gaussian:sigma=2.55", "restorer:pnp:denoiser=tv"], crop)
    assert psnr(crop, ours) > psnr(crop, classical) + 0.3
    info = record["estimated"]["pnp"]
    assert info["operator"]["kind"] == "convolve" and info["operator"]["from"].startswith("the chain")
    assert info["denoiser_calls"] == 8 == len(info["sigmas"]) == len(info["data_residual"])
    assert info["noise_sigma"] == {"value": 2.55, "from": "the chain", "units": "0-255"}


def test_pnp_admm_also_restores(crop):
    ours, record = restored(["blur:sigma=2", "gaussian:sigma=2.55", "restorer:pnp:denoiser=tv,method=admm"], crop)
    blurred, _ = restored(["blur:sigma=2", "gaussian:sigma=2.55", "restorer:identity"], crop)
    assert record["estimated"]["pnp"]["method"] == "admm" and psnr(crop, ours) > psnr(crop, blurred) + 1.0


def test_pnp_inpaints_better_than_its_own_start_and_keeps_measured_pixels_close(crop):
    ours, record = restored(["erase:p=0.7", "restorer:pnp:denoiser=tv,iterations=24,sigma_start=20"], crop)
    chain = Chain.from_specs(["erase:p=0.7", "restorer:identity"])
    y, rec = chain.corrupt(crop, seed=0)
    start = rec["operators"][0].initial(y, y.shape)
    assert psnr(crop, ours) > psnr(crop, start) + 0.3
    keep = rec["operators"][0].keep
    assert np.abs(ours[keep] - crop[keep]).max() < 0.1


def test_pnp_super_resolves_to_the_original_shape(crop):
    ours, record = restored(["downsample:factor=2", "restorer:pnp:denoiser=tv,iterations=6"], crop)
    bicubic, _ = restored(["downsample:factor=2", "restorer:interp"], crop)
    assert ours.shape == crop.shape and psnr(crop, ours) > psnr(crop, bicubic)


def test_first_guesses_fill_masks_and_up_sample():
    y = np.where(np.arange(64).reshape(8, 8) % 3 == 0, 0.5, 0.0)
    filled = Mask(np.arange(64).reshape(8, 8) % 3 == 0).initial(y, y.shape)
    assert np.allclose(filled, 0.5)
    assert Pool(2).initial(np.ones((5, 5)), (11, 11)).shape == (11, 11)


def test_the_operator_comes_from_parameters_over_the_chain_and_says_so():
    record = {"operators": [Mask(np.ones((8, 8), bool))], "unmodelled": [], "shape": (8, 8)}
    choice = choose_operator(record, (8, 8), psf=np.ones((3, 3)) / 9, psf_name="psf=p.tif")
    assert choice.op.kind == "convolve" and choice.record()["from"] == "psf=p.tif"
    assert choose_operator(record, (8, 8)).source == "the chain: mask"
    assert choose_operator({}, (8, 8)).op.kind == "identity"
    with pytest.raises(ChainError, match="declares no forward operator"):
        choose_operator({"operators": [], "unmodelled": ["swirl"]}, (8, 8))
    with pytest.raises(ParameterError, match="larger than the image"):
        choose_operator({}, (8, 8), psf=np.ones((9, 9)) / 81, psf_name="psf=big.npy")
    with pytest.raises(ParameterError, match="the mask is 4x4"):
        choose_operator({}, (8, 8), mask=np.zeros((4, 4), bool), mask_name="mask=m.npy")


@pytest.mark.parametrize("array, message", [
    (np.ones((2, 2, 2, 2)), "4-D"), (np.zeros((3, 3)), "positive sum"), (-np.ones((3, 3)), "non-negative"),
    (np.full((3, 3), np.nan), "finite"), (np.ones((0, 3)), "2-D"),
])
def test_a_psf_that_is_no_psf_is_refused(tmp_path, array, message):
    np.save(tmp_path / "p.npy", array)
    with pytest.raises(ParameterError, match=message):
        read_psf(str(tmp_path / "p.npy"))


def test_the_prior_must_be_a_denoiser_and_its_spec_nests():
    with pytest.raises(ParameterError, match="deconv is not a denoiser"):
        build("restorer:pnp:denoiser=[deconv]")
    pnp_ = build("restorer:pnp:denoiser=[nlmeans:h=0.6,patch_size=3],iterations=4")
    assert pnp_._prior.h == 0.6 and pnp_._prior.patch_size == 3
    again = build(pnp_.spec)
    assert again._prior.spec == pnp_._prior.spec and again.iterations == 4


def test_the_loop_calls_the_denoiser_as_often_as_it_says():
    calls = []

    def denoise(z, s):
        calls.append(s)
        return z

    keep = np.ones((8, 8), bool)
    _, info = pnp(np.zeros((8, 8)), Mask(keep), denoise, 0.01, iterations=5)
    assert len(calls) == 5 == info["denoiser_calls"] and calls == sorted(calls, reverse=True)


def test_an_exact_measurement_is_met_exactly_even_where_the_loop_assumes_noise(crop):
    from scipy import ndimage

    def blur(z, s):  # a prior that moves the measured pixels and block means
        return ndimage.gaussian_filter(z, 1.0)

    keep = np.random.default_rng(0).random(crop.shape) > 0.5
    y = Mask(keep).forward(crop)
    z, info = pnp(y, Mask(keep), blur, 1 / 255, iterations=4, exact=True)
    assert info["projected"] and np.array_equal(z[keep], crop[keep])
    z, info = pnp(y, Mask(keep), blur, 1 / 255, iterations=4)  # noise assumed and not said exact: the prior's answer
    assert not info["projected"] and not np.allclose(z[keep], crop[keep], atol=1e-3)
    z, info = pnp(Pool(4).forward(crop), Pool(4), blur, 0.0, iterations=4, in_shape=crop.shape)
    assert info["projected"] and np.allclose(Pool(4).forward(z), Pool(4).forward(crop), atol=1e-12)
    _, record = restored(["downsample:factor=4", "restorer:pnp:denoiser=tv,iterations=3"], crop)
    assert record["estimated"]["pnp"]["augment"] is True and "exactly" in record["estimated"]["pnp"]["projected"]


def test_the_learned_prior_runs_the_network_alone_at_a_given_level():
    unet = build("restorer:n2n-unet")
    unet.prepare([])
    rng = np.random.default_rng(0)
    clean = (data.camera()[100:164, 100:164] / 255.0).astype(np.float32)
    noisy = (clean + rng.normal(0, 25 / 255, clean.shape)).astype(np.float32)
    out = unet.denoise(noisy, 25 / 255)
    assert out.shape == clean.shape and psnr(clean, out) > psnr(clean, noisy) + 4
    rgb = np.stack([noisy] * 3, axis=-1)
    assert unet.denoise(rgb, 25 / 255).shape == rgb.shape


def test_cli_deconvolves_a_real_image_with_a_measured_psf_and_records_it(tmp_path, capsys):
    clean = data.camera()[128:224, 128:224]
    psf = np.outer(*[np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)] * 2)
    tifffile.imwrite(tmp_path / "psf.tif", psf.astype(np.float32))
    blurred = Convolve(psf / psf.sum()).forward(clean / 255.0)
    tifffile.imwrite(tmp_path / "wide.tif", np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8))
    code, out, err = call(capsys, "run", f"restorer:pnp:psf={tmp_path / 'psf.tif'},denoiser=tv,sigma=1",
                          str(tmp_path / "wide.tif"), str(tmp_path / "out.tif"))
    assert code == 0, err
    result = tifffile.imread(tmp_path / "out.tif")
    assert result.dtype == np.uint8 and result.shape == clean.shape
    assert psnr(clean / 255.0, result / 255.0) > psnr(clean / 255.0, np.round(blurred * 255) / 255.0) + 1
    item = json.loads((tmp_path / "out.report.json").read_text())["items"][0]
    assert item["estimated"]["pnp"]["operator"]["from"].startswith("psf=")


@pytest.mark.parametrize("spec, message", [
    ("restorer:pnp:denoiser=[deconv]", "not a denoiser"),
    ("restorer:pnp:denoiser=[bm3d:profile=np", "without its ']'"),
    ("restorer:pnp:psf=missing.tif", "does not exist"),
    ("restorer:pnp:psf_sigma=2,psf=missing.tif", "does not exist"),
    ("restorer:pnp:samples=0", "samples"),
])
def test_cli_bad_priors_and_psfs_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, spec, message):
    tifffile.imwrite(tmp_path / "in.tif", data.camera()[:64, :64])
    code, out, err = call(capsys, "run", spec, str(tmp_path / "in.tif"), str(tmp_path / "out.tif"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def test_pnp_refuses_a_corruption_without_an_operator():
    pnp_ = PlugAndPlay(denoiser="tv")
    with pytest.raises(ChainError, match="swirl declares no forward operator"):
        pnp_(np.zeros((16, 16), np.float32), {"operators": [], "unmodelled": ["swirl"]})


def test_pnp_with_nothing_to_invert_keeps_clean_data_as_they_are(crop):
    record = {"operators": [], "unmodelled": []}
    out = PlugAndPlay(denoiser="tv")(crop, record)
    assert np.array_equal(out, crop) and "kept as it is" in record["estimated"]["note"]


# -- posterior samples ---------------------------------------------------------------------------------------------


def sampled(crop, seed, samples=3, chain=("erase:p=0.5",), prior="tv"):
    chain = Chain.from_specs([*chain, f"restorer:pnp:denoiser={prior},samples={samples},iterations=6"])
    y, record = chain.corrupt(crop, seed=seed, key="item")
    out = chain.restore(y, record)
    return out, record["outputs"]["std"], record


def test_samples_are_reproducible_with_the_seed_and_differ_without_it(crop):
    a, std_a, _ = sampled(crop, 0)
    b, std_b, _ = sampled(crop, 0)
    c, _, _ = sampled(crop, 1)
    assert np.array_equal(a, b) and np.array_equal(std_a, std_b)
    assert not np.array_equal(a, c)


def test_the_spread_is_zero_where_the_operator_measures_exactly_with_no_noise(crop):
    out, std, record = sampled(crop, 0)
    keep = record["operators"][0].keep
    assert std.shape == crop.shape and std.dtype == np.float32
    assert np.all(std[keep] == 0) and np.array_equal(out[keep], crop[keep].astype(np.float32))
    assert float(std[~keep].mean()) > 1e-3  # the gaps are uncertain
    info = record["estimated"]["pnp"]
    assert info["samples"] == 3 and info["denoiser_calls"] == 18


def test_the_spread_is_zero_where_measured_even_where_the_prior_has_the_loop_assume_noise(crop):
    out, std, record = sampled(crop, 0, samples=2, prior="n2n-unet")  # its loop assumes 1/255 on exact data
    keep = record["operators"][0].keep
    assert record["estimated"]["pnp"]["noise_sigma"]["loop"] > 0
    assert np.all(std[keep] == 0) and np.array_equal(out[keep], crop[keep]) and float(std[~keep].mean()) > 1e-3


def test_the_mean_of_samples_restores_about_as_well_as_the_point_estimate(crop):
    out, std, record = sampled(crop, 0, samples=4, chain=("blur:sigma=1.5", "gaussian:sigma=5"))
    point, _ = restored(["blur:sigma=1.5", "gaussian:sigma=5", "restorer:pnp:denoiser=tv,iterations=6"], crop)
    assert psnr(out, crop) > psnr(point, crop) - 0.5 and float(std.mean()) > 0


def test_cli_writes_the_std_map_beside_the_mean_and_the_report_shows_it(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "in.tif", data.camera()[100:164, 100:164])
    code, out, err = call(capsys, "run", "erase:p=0.5", "restorer:pnp:denoiser=tv,samples=2,iterations=4",
                          str(tmp_path / "in.tif"), str(tmp_path / "out"))
    assert code == 0, err
    std = tifffile.imread(tmp_path / "out" / "in.std.tif")
    assert std.dtype == np.uint8 and std.shape == (64, 64) and std.max() > 0
    item = json.loads((tmp_path / "out" / "report.json").read_text())["items"][0]
    assert item["estimated"]["outputs"] == {"std": "in.std.tif"}
    from imrestore.html_report import _load_example
    from imrestore.report import Report

    report = Report.from_dict(json.loads((tmp_path / "out" / "report.json").read_text()))
    example = _load_example(report, 0, "best")
    assert [label for label, _ in example.panels()] == ["original", "corrupted", "restored", "|error|", "std"]


@pytest.mark.parametrize("name, array, message", [
    ("mask.npy", np.zeros((10, 12)), "the mask is 10x12, the image 64x64"),
    ("psf.npy", np.ones((80, 80)), "larger than the image"),
])
def test_cli_parameters_that_do_not_fit_the_data_exit_2_before_writing(tmp_path, capsys, name, array, message):
    tifffile.imwrite(tmp_path / "in.tif", data.camera()[:64, :64])
    np.save(tmp_path / name, array)
    spec = f"restorer:pnp:{name.split('.')[0]}={tmp_path / name},denoiser=tv"
    code, out, err = call(capsys, "run", spec, str(tmp_path / "in.tif"), str(tmp_path / "out"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.tif", name])


def test_volume_runs_refuse_samples_whose_std_they_cannot_store_yet(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "stack.tif", (np.random.default_rng(0).random((6, 32, 32)) * 255).astype(np.uint8))
    code, out, err = call(capsys, "run", "erase:p=0.5", "restorer:pnp:samples=2", str(tmp_path / "stack.tif"),
                          str(tmp_path / "out.tif"))
    assert code == 2 and "volume runs do not store yet" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif"]


def test_the_shipped_unet_prior_is_told_the_noise_level(crop):
    unet = build("n2n-unet", kind="restorer")
    unet.prepare([])
    assert "noise-level-conditioned" in unet.prior_note
    noisy = (crop + np.random.default_rng(0).normal(0, 25 / 255, crop.shape)).astype(np.float32)
    assert psnr(unet.denoise(noisy, 25 / 255), crop) > psnr(noisy, crop) + 5
    strong, weak = unet.denoise(noisy, 50 / 255), unet.denoise(noisy, 5 / 255)  # the level asked is the level removed
    assert np.std(strong - noisy) > np.std(weak - noisy) * 1.2


def test_the_learned_prior_has_the_loop_assume_more_noise_and_a_given_sigma_is_taken_as_it_is(crop):
    from imrestore_builtins.learned import PRIOR_LOOP_NOISE_SCALE
    from imrestore_builtins.prior import loop_noise

    class Scaled:
        loop_noise_scale = 2.0

    assert loop_noise(Scaled(), 0.01, "the chain")[0] == pytest.approx(0.02)
    assert loop_noise(Scaled(), 0.0, "the chain")[0] == pytest.approx(1 / 255)  # the schedule's floor, scaled
    assert loop_noise(Scaled(), 0.01, "given: sigma") == (0.01, None)
    assert loop_noise(Scaled(), 0.01, "estimated", inverts=False) == (0.01, None)  # plain denoising: no loop residue
    chain = ["blur:sigma=2", "gaussian:sigma=2.55"]
    _, record = restored([*chain, "restorer:pnp:denoiser=n2n-unet,iterations=2"], crop)
    noise = record["estimated"]["pnp"]["noise_sigma"]
    assert noise["value"] == 2.55 and noise["loop"] == pytest.approx(2.55 * PRIOR_LOOP_NOISE_SCALE, abs=1e-3)
    assert "white" in noise["loop_why"] and record["estimated"]["pnp"]["sigmas"][-1] == pytest.approx(noise["loop"], abs=1e-3)
    _, record = restored([*chain, "restorer:pnp:denoiser=n2n-unet,iterations=2,sigma=3"], crop)
    assert "loop" not in record["estimated"]["pnp"]["noise_sigma"]
    _, record = restored([*chain, "restorer:pnp:denoiser=tv,iterations=2"], crop)
    assert "loop" not in record["estimated"]["pnp"]["noise_sigma"]  # TV's scale is 1


@pytest.mark.parametrize("chain, calls", [
    (["blur:sigma=1"], 8), (["erase:p=0.5"], 24), (["downsample:factor=2"], 24), (["kspace:acceleration=4"], 100),
    (["blur:sigma=1", "downsample:factor=2"], 24),
])
def test_the_default_calls_follow_what_the_operator_loses(crop, chain, calls):
    pnp_ = PlugAndPlay(denoiser="tv")
    _, record = Chain.from_specs(chain).corrupt(crop, seed=0)
    y_shape = Chain.from_specs(chain).corrupt(crop, seed=0)[0].shape
    assert pnp_.calls(choose_operator(record, y_shape)) == calls


@pytest.mark.slow
def test_cli_deconvolves_a_stack_with_a_3d_psf_in_halod_slabs(tmp_path, capsys):
    from scipy import ndimage

    rng = np.random.default_rng(0)
    cam = data.camera()[100:164, 150:214] / 255.0
    clean = np.stack([np.roll(cam, 2 * i, axis=1) * (0.7 + 0.3 * np.cos(i / 4)) for i in range(20)])
    g = [np.exp(-0.5 * (np.arange(n) - n // 2) ** 2 / s**2) for s, n in ((1.2, 5), (1.2, 7), (1.2, 7))]
    psf = g[0][:, None, None] * g[1][None, :, None] * g[2][None, None, :]
    blurred = ndimage.convolve(clean, psf / psf.sum(), mode="reflect") + rng.normal(0, 0.005, clean.shape)
    tifffile.imwrite(tmp_path / "psf.tif", psf.astype(np.float32))
    tifffile.imwrite(tmp_path / "stack.tif", np.round(np.clip(blurred, 0, 1) * 60000).astype(np.uint16))
    code, out, err = call(capsys, "run", f"restorer:pnp:psf={tmp_path / 'psf.tif'},denoiser=tv",
                          str(tmp_path / "stack.tif"), str(tmp_path / "out.tif"))
    assert code == 0, err
    result = tifffile.imread(tmp_path / "out.tif")
    assert result.dtype == np.uint16 and result.shape == clean.shape
    measured = tifffile.imread(tmp_path / "stack.tif") / 60000
    assert psnr(clean, result / 60000) > psnr(clean, measured) + 1.5
    # slabs of 16 planes: the planes either side of the seam restore about as well as their neighbours
    per_plane = [psnr(c, r / 60000) for c, r in zip(clean, result)]
    assert abs(per_plane[15] - per_plane[16]) < 1.0
    item = json.loads((tmp_path / "out.tif.report.json").read_text())["items"][0]
    assert item["estimated"]["pnp"]["operator"]["psf_shape"] == [5, 7, 7]


def test_a_3d_psf_is_refused_for_a_single_image(tmp_path, capsys):
    np.save(tmp_path / "psf.npy", np.ones((3, 5, 5)))
    tifffile.imwrite(tmp_path / "in.tif", data.camera()[:64, :64])
    code, out, err = call(capsys, "run", f"restorer:pnp:psf={tmp_path / 'psf.npy'}", str(tmp_path / "in.tif"),
                          str(tmp_path / "out.tif"))
    assert code == 2 and "a 3-D PSF is for stacks" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "psf.npy"]


@pytest.mark.parametrize("spec", ["restorer:pnp:psf_sigma=1.5,denoiser=tv", "restorer:deconv:sigma=1.5"])
def test_real_data_that_a_restorer_deblurred_is_not_flagged_for_removed_structure(tmp_path, capsys, spec):
    """Deblurring adds back what the blur took: the metrics that read input minus output as removed noise (and the
    'removed structure' warning built on them) do not apply, and the report says why instead of crying wolf."""
    tifffile.imwrite(tmp_path / "in.tif", data.camera()[:96, :96])
    code, out, err = call(capsys, "run", spec, str(tmp_path / "in.tif"), str(tmp_path / "out.tif"))
    assert code == 0 and "removed structure" not in out + err
    item = json.loads((tmp_path / "out.report.json").read_text())["items"][0]
    assert item["estimated"]["inverted"].startswith("convolve")
    assert item["metrics"]["restored"]["edges"] is None and item["metrics"]["restored"]["noise"] is not None
    assert "inverted convolve" in item["note"]


def test_a_deblurred_stack_is_not_flagged_either(tmp_path, capsys):
    stack = np.stack([data.camera()[k * 20 : k * 20 + 64, :64] for k in range(4)])
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    code, out, err = call(capsys, "run", "restorer:pnp:psf_sigma=1.5,denoiser=tv", str(tmp_path / "stack.tif"),
                          str(tmp_path / "out.tif"))
    assert code == 0 and "removed structure" not in out + err
    items = json.loads((tmp_path / "out.tif.report.json").read_text())["items"]
    assert len(items) == 4 and all(it["metrics"]["restored"]["edges"] is None for it in items)


def test_a_resumed_deblurring_run_keeps_the_record_and_stays_unflagged(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "in.tif", data.camera()[:96, :96])
    args = ("run", "restorer:pnp:psf_sigma=1.5,denoiser=tv", str(tmp_path / "in.tif"), str(tmp_path / "out.tif"))
    assert call(capsys, *args)[0] == 0
    code, out, err = call(capsys, *args)  # nothing left to do: the finished item is measured again, not restored
    assert code == 0 and "removed structure" not in out + err
    item = json.loads((tmp_path / "out.report.json").read_text())["items"][0]
    assert item["estimated"]["inverted"].startswith("convolve") and "pnp" in item["estimated"]
    assert item["metrics"]["restored"]["edges"] is None
