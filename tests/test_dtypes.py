"""The --range policy and dtype conversions (imrestore/dtypes.py), through run, eval, volumes and training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from imrestore.cli import main
from imrestore.dtypes import parse_range
from imrestore.errors import ImrestoreUsageError
from imrestore.evaluate import evaluate_files
from imrestore.runner import run
from imrestore.volumes import evaluate_volumes

SIGMA = 25


@pytest.fixture
def camera12(tmp_path):
    """The camera as a 12-bit image stored in uint16 (values 0..4095)."""
    cam = np.rint(data.camera()[:96, :128].astype(np.float64) / 255 * 4095).astype(np.uint16)
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "cam12.tif", cam)
    return folder, cam


@pytest.mark.parametrize("text, expected", [("dtype", "dtype"), (None, "dtype"), ("DATA", "data"), ("0:4095", (0.0, 4095.0)),
                                             ("-1.5:2.5", (-1.5, 2.5)), ((0, 255), (0.0, 255.0))])
def test_parse_range(text, expected):
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["4095", "5:1", "0:inf", "a:b", (3, 3)])
def test_bad_ranges_are_refused_with_the_expected_form(text):
    with pytest.raises(ValueError, match="`value_range="):
        parse_range(text)


@pytest.mark.parametrize("spec", ["0:4095", "data"])
def test_a_12bit_image_gets_noise_and_metrics_on_its_own_scale(camera12, tmp_path, spec):
    folder, cam = camera12
    report = run([f"gaussian:sigma={SIGMA}"], folder, tmp_path / "out", value_range=spec, metrics=["psnr"])
    noisy = tifffile.imread(tmp_path / "out" / "cam12.tif")
    assert noisy.dtype == np.uint16
    lo, hi = (0, 4095) if spec == "0:4095" else (int(cam.min()), int(cam.max()))
    sigma_counts = np.std(noisy.astype(np.float64) - cam)
    assert sigma_counts == pytest.approx(SIGMA / 255 * (hi - lo), rel=0.1)  # ~400 counts, not ~6400
    expected = peak_signal_noise_ratio(cam.astype(np.float64), noisy.astype(np.float64), data_range=hi - lo)
    assert report.items[0].metrics["corrupted"]["psnr"] == pytest.approx(expected, abs=1e-6)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["value_range"] == parse_range(spec) if spec == "data" else spec


def test_the_default_range_is_the_dtype_and_a_rerun_with_another_range_is_refused(camera12, tmp_path):
    folder, cam = camera12
    run([f"gaussian:sigma={SIGMA}"], folder, tmp_path / "out", metrics=["psnr"])
    noisy = tifffile.imread(tmp_path / "out" / "cam12.tif").astype(np.float64)
    assert np.std(noisy[cam > 2000] - cam[cam > 2000]) > 3000  # sigma 25 of 0..65535
    with pytest.raises(ImrestoreUsageError, match="`value_range='dtype'`"):
        run([f"gaussian:sigma={SIGMA}"], folder, tmp_path / "out", value_range="0:4095")


def test_resumed_items_are_measured_in_the_same_units(camera12, tmp_path):
    folder, _ = camera12
    first = run([f"gaussian:sigma={SIGMA}", "restorer:tv"], folder, tmp_path / "out", value_range="0:4095")
    again = run([f"gaussian:sigma={SIGMA}", "restorer:tv"], folder, tmp_path / "out", value_range="0:4095")
    assert again.items[0].status == "skipped"
    for stage in ("corrupted", "restored"):
        assert again.items[0].metrics[stage] == pytest.approx(first.items[0].metrics[stage])


def test_eval_measures_both_files_in_the_reference_units(camera12, tmp_path):
    folder, cam = camera12
    est = tmp_path / "est"
    est.mkdir()
    off = np.clip(cam.astype(np.int32) + 41, 0, 65535).astype(np.uint16)
    tifffile.imwrite(est / "cam12.tif", off)
    psnr_12 = evaluate_files(folder, est, ["psnr"], value_range="0:4095").items[0].metrics["estimate"]["psnr"]
    psnr_16 = evaluate_files(folder, est, ["psnr"]).items[0].metrics["estimate"]["psnr"]
    exact = peak_signal_noise_ratio(cam.astype(np.float64), off.astype(np.float64), data_range=4095)
    assert psnr_12 == pytest.approx(exact, abs=1e-6)
    assert psnr_16 - psnr_12 == pytest.approx(20 * np.log10(65535 / 4095), abs=1e-6)


def test_a_volume_run_uses_the_range_and_records_it(tmp_path):
    cam = np.rint(data.camera()[:48, :64].astype(np.float64) / 255 * 4095).astype(np.uint16)
    vol = np.stack([np.roll(cam, 5 * i, axis=1) for i in range(4)])
    tifffile.imwrite(tmp_path / "vol.tif", vol, photometric="minisblack")
    report = run([f"gaussian:sigma={SIGMA}"], tmp_path / "vol.tif", tmp_path / "noisy.tif", value_range="0:4095")
    noisy = tifffile.imread(tmp_path / "noisy.tif").astype(np.float64)
    assert np.std(noisy - vol) == pytest.approx(SIGMA / 255 * 4095, rel=0.1)
    assert report.value_range == "0:4095"
    with pytest.raises(ImrestoreUsageError, match="another run"):
        run([f"gaussian:sigma={SIGMA}"], tmp_path / "vol.tif", tmp_path / "noisy.tif")
    ev = evaluate_volumes(tmp_path / "vol.tif", tmp_path / "noisy.tif", ["psnr"], value_range="data")
    span = float(vol.max()) - float(vol.min())  # "data": the reference's min..max is 0..1, so its maximum is 1
    expected = 10 * np.log10(span**2 / np.mean((noisy - vol) ** 2))
    assert ev.value_range == "data" and ev.volume["estimate"]["psnr"] == pytest.approx(expected, abs=1e-6)


def test_cli_range_option_and_its_error(camera12, tmp_path, capsys):
    folder, _ = camera12
    with pytest.raises(SystemExit) as exc:
        main(["run", "-q", "gaussian:sigma=25", str(folder), str(tmp_path / "out"), "--range", "4095"])
    assert exc.value.code == 2 and "expected dtype, data or LO:HI" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run", "-q", "gaussian:sigma=25", "restorer:tv", str(folder), str(tmp_path / "out"), "--range", "0:4095"])
    assert exc.value.code == 0
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "out")])
    assert exc.value.code == 0 and "value range 0:4095" in (tmp_path / "out" / "report.html").read_text()


def test_training_data_are_read_on_the_range_given(camera12, tmp_path):
    from imrestore.datasets import load_images

    folder, cam = camera12
    assert load_images(folder, 1)[0].max() == pytest.approx(cam.max() / 65535, abs=1e-6)
    assert load_images(folder, 1, value_range="0:4095")[0].max() == pytest.approx(cam.max() / 4095, abs=1e-6)
    vol = tmp_path / "vol.tif"
    tifffile.imwrite(vol, np.stack([cam, cam // 2]), photometric="minisblack")
    planes = load_images(vol, 1, value_range="data")
    assert planes[0].max() == pytest.approx(1.0) and planes[1].min() == pytest.approx(0.0)
    with pytest.raises(ImrestoreUsageError, match="built in"):
        load_images("skimage", 1, value_range="0:4095")


def test_low_fill_16bit_data_get_one_hint_per_run(camera12, tmp_path, caplog):
    folder, cam = camera12
    tifffile.imwrite(folder / "second.tif", cam)
    with caplog.at_level("WARNING", logger="imrestore"):
        run(["gaussian:sigma=5"], folder, tmp_path / "out")
    hints = [r.getMessage() for r in caplog.records if "--range 0:4095 (12-bit data)" in r.getMessage()]
    assert len(hints) == 1
    caplog.clear()
    with caplog.at_level("WARNING", logger="imrestore"):
        run(["gaussian:sigma=5"], folder, tmp_path / "out2", value_range="0:4095")
    assert not [r for r in caplog.records if "--range" in r.getMessage()]


def test_a_low_fill_volume_gets_the_hint_too(tmp_path, caplog):
    cam = np.rint(data.camera()[:48, :64].astype(np.float64) / 255 * 1023).astype(np.uint16)  # 10-bit
    tifffile.imwrite(tmp_path / "vol.tif", np.stack([cam] * 3), photometric="minisblack")
    with caplog.at_level("WARNING", logger="imrestore"):
        run(["gaussian:sigma=5"], tmp_path / "vol.tif", tmp_path / "out.tif")
    assert any("--range 0:1023 (10-bit data)" in r.getMessage() for r in caplog.records)


def test_an_eval_report_shows_an_estimate_of_another_dtype_on_its_own_scale(tmp_path):
    from imrestore.html_report import _load_example

    ramp = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint8)
    tifffile.imwrite(tmp_path / "ref.tif", ramp)
    tifffile.imwrite(tmp_path / "est.tif", (ramp / 255.0).astype(np.float32))  # the same image as float in [0, 1]
    report = evaluate_files(tmp_path / "ref.tif", tmp_path / "est.tif", ["psnr"])
    assert report.items[0].metrics["estimate"]["psnr"] > 100
    example = _load_example(report, 0, "best")
    np.testing.assert_allclose(example.restored, example.original, atol=1e-6)
