"""The CLI on real acquisitions: no corruption in the chain, no clean image (images and volumes)."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tifffile
import zarr
from helpers import call
from PIL import Image as PILImage
from skimage import data


@pytest.fixture
def noisy_photos(tmp_path):
    """Two 8-bit grey 'photos' with white noise (sigma 20), as a camera would give them."""
    root = tmp_path / "noisy"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i, crop in enumerate((data.camera()[100:196, 100:196], data.coins()[50:146, 50:146])):
        noisy = np.clip(crop + rng.normal(0, 20, crop.shape), 0, 255).astype(np.uint8)
        PILImage.fromarray(noisy).save(root / f"p{i}.png")
    return root


def photon_stack(n=4, a=0.02, b=0.0004, dtype=np.uint16):
    """A fluorescence-like 16-bit stack with Poisson-Gaussian noise (gain a, read noise b, on [0, 1])."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:96, :96]
    planes = []
    for z in range(n):
        clean = 0.05 + 0.8 * np.exp(-((yy - 30 - 5 * z) ** 2 + (xx - 50) ** 2) / 300) + 0.3 * np.exp(-((yy - 70) ** 2 + (xx - 25) ** 2) / 150)
        noisy = rng.poisson(clean / a) * a + rng.normal(0, np.sqrt(b), clean.shape)
        planes.append(np.clip(noisy, 0, 1) * 65535)
    return np.stack(planes).astype(dtype)


def test_a_folder_of_noisy_photos_is_restored_blind_with_a_no_reference_report(noisy_photos, tmp_path, capsys):
    code, out, err = call(capsys, "run", "restorer:n2n-unet", str(noisy_photos), str(tmp_path / "out"))
    assert code == 0, err
    assert "no corruption in the chain" in err and "n2n-unet-gaussian-grey" in err  # which weights, and why
    assert "no reference" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["reference"] == "none" and "no clean image" in report["note"]
    assert report["metrics"] == ["noise", "residual", "whiteness", "edges"]
    mean = report["mean"]
    assert mean["restored"]["noise"] < 0.5 * mean["corrupted"]["noise"]  # noise removed
    assert mean["restored"]["residual"] < 0.2 and mean["restored"]["whiteness"] < 0.3  # and little structure with it
    item = report["items"][0]
    assert item["estimated"]["noise"]["model"] == "gaussian" and item["estimated"]["noise"]["sigma"] * 255 == pytest.approx(20, rel=0.2)
    assert "estimated_noise" in (tmp_path / "out" / "report.csv").read_text()


@pytest.mark.parametrize("fmt", ["tif", "h5", "zarr"])
def test_a_photon_limited_stack_is_restored_in_the_stabilised_domain(tmp_path, capsys, fmt):
    stack = photon_stack()
    src = tmp_path / f"stack.{fmt}"
    if fmt == "tif":
        tifffile.imwrite(src, stack, photometric="minisblack", metadata={"axes": "ZYX"})
    elif fmt == "h5":
        with h5py.File(src, "w") as f:
            f["data"] = stack
    else:
        zarr.create_array(str(src), data=stack, chunks=(1, 96, 96))
    code, _, err = call(capsys, "run", "restorer:wavelet", str(src), str(tmp_path / f"out.{fmt}"), "-q")
    assert code == 0, err
    report = json.loads((tmp_path / f"out.{fmt}.report.json").read_text())
    models = {i["estimated"]["noise"]["model"] for i in report["items"]}
    assert models == {"poisson-gaussian"}  # per plane, and the signal dependence is seen in each
    assert report["volume"]["restored"]["noise"] < report["volume"]["corrupted"]["noise"]


def test_eval_without_a_reference(noisy_photos, tmp_path, capsys):
    assert call(capsys, "run", "restorer:tv", str(noisy_photos), str(tmp_path / "out"), "-q")[0] == 0
    code, out, _ = call(capsys, "eval", "--no-reference", str(noisy_photos), str(tmp_path / "out"))
    assert code == 0 and "no reference" in out and "input" in out and "estimate" in out


@pytest.mark.parametrize("restorer,needs", [("restorer:deconv", "deconv:psf=FILE or deconv:sigma=PIXELS"),
                                            ("restorer:inpaint", "inpaint:mask=FILE or inpaint:value=V")])
def test_a_restorer_that_cannot_run_blind_names_what_it_needs_and_writes_nothing(noisy_photos, tmp_path, capsys, restorer, needs):
    code, _, err = call(capsys, "run", restorer, str(noisy_photos), str(tmp_path / "out"))
    assert code == 2 and needs in err and "no corruption in the chain" in err
    assert not (tmp_path / "out").exists()


def test_deconvolution_with_a_measured_psf_and_inpainting_with_a_mask_file(noisy_photos, tmp_path, capsys):
    psf = np.outer(np.hanning(7), np.hanning(7))
    np.save(tmp_path / "psf.npy", psf)
    code, _, err = call(capsys, "run", f"restorer:deconv:psf={tmp_path / 'psf.npy'},iterations=5", str(noisy_photos / "p0.png"),
                        str(tmp_path / "deconv"), "-q")
    assert code == 0, err
    mask = np.zeros((96, 96), np.uint8)
    mask[40:50, 40:50] = 255
    PILImage.fromarray(mask).save(tmp_path / "mask.png")
    code, _, err = call(capsys, "run", f"restorer:inpaint:mask={tmp_path / 'mask.png'}", str(noisy_photos / "p0.png"),
                        str(tmp_path / "inpainted"), "-q")
    assert code == 0, err
    code, _, err = call(capsys, "run", f"restorer:deconv:psf={tmp_path / 'nope.tif'}", str(noisy_photos), str(tmp_path / "x"))
    assert code == 2 and "does not exist" in err


def test_noise_parameters_on_the_command_line(noisy_photos, tmp_path, capsys):
    code, _, err = call(capsys, "run", "restorer:nlmeans:noise_a=0.01,noise_b=0.001", str(noisy_photos), str(tmp_path / "o"), "-q")
    assert code == 0, err
    item = json.loads((tmp_path / "o" / "report.json").read_text())["items"][0]
    assert item["estimated"]["noise"] == {"model": "poisson-gaussian", "a": 0.01, "b": 0.001, "reason": "given: noise_a=0.01, noise_b=0.001"}
    code, _, err = call(capsys, "run", "restorer:tv:noise=laplace", str(noisy_photos), str(tmp_path / "o2"))
    assert code != 0


def test_the_summary_names_the_report_file_and_leaves_out_what_it_could_not_measure(noisy_photos, tmp_path, capsys):
    np.save(tmp_path / "psf.npy", np.outer(np.hanning(5), np.hanning(5)))
    code, out, err = call(capsys, "run", f"restorer:deconv:psf={tmp_path / 'psf.npy'},iterations=3", str(noisy_photos / "p0.png"),
                          str(tmp_path / "sharp.png"))
    assert code == 0, err
    assert out.strip().endswith(f"report: {tmp_path / 'sharp.report.json'}") and (tmp_path / "sharp.report.json").exists()
    table = out.split("NOT MEASURED")[0]
    assert "noise" in table and "residual" not in table  # inverted, not denoised: no row of zeros, its line says why
    assert "NOT MEASURED p0.png: residual, whiteness, edges" in out
    code, out, err = call(capsys, "run", "restorer:tv", str(noisy_photos), str(tmp_path / "out"))
    assert code == 0, err
    assert out.strip().endswith(f"report: {tmp_path / 'out' / 'report.json'}")
    assert "residual" in out  # a denoiser's removed part is measured


def test_images_with_nan_or_complex_pixels_fail_with_one_line_and_the_others_are_restored(noisy_photos, tmp_path, capsys):
    # before, a NaN patch made the noise estimate 0 and the image was "kept as it is (noise below what can be removed)"
    patched = np.asarray(PILImage.open(noisy_photos / "p0.png"), np.float32) / 255
    patched[5:15, 5:15] = np.nan
    tifffile.imwrite(noisy_photos / "masked.tif", patched)
    tifffile.imwrite(noisy_photos / "phase.tif", patched.astype(np.complex64))
    code, out, err = call(capsys, "run", "restorer:nlmeans", str(noisy_photos), str(tmp_path / "out"), "-q")
    said = out + err
    assert code == 1 and "Traceback" not in said
    assert "FAILED masked.tif: 100 of 9216 pixels are NaN or infinite" in said
    assert "FAILED phase.tif: cannot read" in said and "complex values (complex64)" in said
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["p0.png", "p1.png"]
    assert not list((tmp_path / "out").glob("*.tif"))


def test_training_data_with_nan_pixels_are_refused_naming_the_image(tmp_path, capsys):
    folder = tmp_path / "train"
    folder.mkdir()
    a = np.zeros((32, 32), np.float32)
    a[0, 0] = np.inf
    tifffile.imwrite(folder / "a.tif", a)
    code, _, err = call(capsys, "train", "gaussian:sigma=25", "restorer:n2n-unet", str(folder), "--epochs", "1",
                        "-o", str(tmp_path / "w.safetensors"))
    assert code == 2 and "image 1 of 1: 1 of 1024 pixels are NaN or infinite" in err
    assert not (tmp_path / "w.safetensors").exists()
