"""Volume metrics (imrestore/volumes/measure.py): fastMRI's definitions, eval on volumes."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tifffile
from helpers import CHAIN, call, stack

from imrestore.volumes import evaluate_volumes


def test_volume_metrics_follow_fastmri(tmp_path):
    rng = np.random.default_rng(0)
    ref = (rng.random((4, 32, 40)) * 5).astype(np.float32)
    est = ref + rng.normal(0, 0.1, ref.shape).astype(np.float32)
    with h5py.File(tmp_path / "ref.h5", "w") as f:
        f["r"] = ref
    with h5py.File(tmp_path / "est.h5", "w") as f:
        f["r"] = est
    report = evaluate_volumes(tmp_path / "ref.h5", tmp_path / "est.h5", ["psnr", "nmse", "ssim"])
    r, e = ref.astype(np.float64), est.astype(np.float64)
    vmax = r.max()
    psnr = 10 * np.log10(vmax**2 / np.mean((r - e) ** 2))
    nmse = np.sum((r - e) ** 2) / np.sum(r**2)
    from skimage.metrics import structural_similarity

    ssim = np.mean([structural_similarity(r[i], e[i], data_range=vmax) for i in range(4)])
    vol = report.volume["estimate"]
    assert vol["psnr"] == pytest.approx(psnr, abs=1e-4)
    assert vol["nmse"] == pytest.approx(nmse, rel=1e-4)
    assert vol["ssim"] == pytest.approx(ssim, abs=1e-4)
    assert len(report.items) == 4 and report.items[1].path == "Z=1"


def test_eval_cli_on_volumes_with_a_centre_crop(tmp_path, capsys):
    a = stack(3)
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="minisblack")
    tifffile.imwrite(tmp_path / "b.tif", (a * 0.98).astype(a.dtype), photometric="minisblack")
    code, out, _ = call(capsys, "eval", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "-m", "nmse", "--center-crop", "16x16", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["volume"]["center_crop"] == [16, 16] and d["volume"]["estimate"]["nmse"] == pytest.approx(0.0004, rel=0.05)
    code, _, err = call(capsys, "eval", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "--center-crop", "big")
    assert code == 2 and "HxW" in err


def test_cli_run_on_a_stack_reports_volume_metrics(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "s.tif", stack(4), photometric="minisblack")
    code, out, _ = call(capsys, "run", *CHAIN, str(tmp_path / "s.tif"), str(tmp_path / "out"))
    assert code == 0 and (tmp_path / "out" / "s.tif").exists()
    assert "volume 4x48x64 ZYX uint16" in out
    d = json.loads((tmp_path / "out" / "s.tif.report.json").read_text())
    assert d["volume"]["restored"]["psnr"] > d["volume"]["corrupted"]["psnr"]


# --------------------------------------------------------------------------- fastMRI layout




# --------------------------------------------------------------------------- ssim:3d=true


def _stack_pair(seed=0):
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[:12, :40, :36]
    ref = (0.5 + 0.3 * np.sin(x / 5 + z / 3) * np.cos(y / 7)).astype(np.float32)
    est = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)
    return ref, est


def test_eval_measures_a_3d_ssim_of_each_stack(tmp_path):
    from skimage.metrics import structural_similarity

    ref, est = _stack_pair()
    tifffile.imwrite(tmp_path / "ref.tif", ref, imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "est.tif", est, imagej=True, metadata={"axes": "ZYX"})
    report = evaluate_volumes(tmp_path / "ref.tif", tmp_path / "est.tif", ["ssim", "ssim:3d=true", "ssim:3d=true,gaussian=true"])
    vol = report.volume["estimate"]
    vmax = float(ref.max())
    assert report.metrics == ["ssim", "ssim:3d=true", "ssim:gaussian=true,3d=true"]
    assert vol["ssim:3d=true"] == pytest.approx(structural_similarity(ref, est, data_range=vmax), abs=1e-4)
    assert vol["ssim:gaussian=true,3d=true"] == pytest.approx(
        structural_similarity(ref, est, data_range=vmax, gaussian_weights=True, use_sample_covariance=False), abs=1e-4)
    assert vol["ssim"] == pytest.approx(np.mean([structural_similarity(r, e, data_range=vmax) for r, e in zip(ref, est)]), abs=1e-4)
    assert "ssim:3d=true" not in report.items[0].metrics["estimate"]  # no per-plane value: the window spans planes


def test_a_volume_run_measures_the_3d_ssim_of_each_stage_as_written(tmp_path, capsys):
    from skimage.metrics import structural_similarity

    ref, _ = _stack_pair()
    stored = (ref * 60000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "s.tif", stored, imagej=True, metadata={"axes": "ZYX"})
    code, _, err = call(capsys, "run", "gaussian:sigma=10", "restorer:wavelet", str(tmp_path / "s.tif"), str(tmp_path / "out"),
                        "-m", "psnr", "-m", "ssim:3d=true", "-q")
    assert code == 0, err
    vol = json.loads((tmp_path / "out" / "s.tif.report.json").read_text())["volume"]
    restored = tifffile.imread(tmp_path / "out" / "s.tif") / 65535
    vmax = stored.max() / 65535
    assert vol["restored"]["ssim"] == pytest.approx(structural_similarity(stored / 65535, restored, data_range=vmax), abs=1e-4)
    # the corrupted stage is made again with the run's seeds: the corruption alone, written, gives the same value
    code, _, err = call(capsys, "run", "gaussian:sigma=10", str(tmp_path / "s.tif"), str(tmp_path / "noisy"), "-m", "ssim:3d=true", "-q")
    assert code == 0, err
    corrupted = tifffile.imread(tmp_path / "noisy" / "s.tif") / 65535
    expected = structural_similarity(stored / 65535, corrupted, data_range=vmax)
    assert vol["corrupted"]["ssim"] == pytest.approx(expected, abs=1e-4) and vol["corrupted"]["ssim"] < vol["restored"]["ssim"]


def test_a_3d_ssim_of_a_thin_stack_is_left_empty_and_images_are_refused(tmp_path, capsys):
    ref, est = _stack_pair()
    tifffile.imwrite(tmp_path / "ref.tif", ref[:4], imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "est.tif", est[:4], imagej=True, metadata={"axes": "ZYX"})
    report = evaluate_volumes(tmp_path / "ref.tif", tmp_path / "est.tif", ["ssim:3d=true"])
    assert report.volume["estimate"]["ssim"] is None
    import imrestore
    from imrestore.errors import NotMeasurable

    with pytest.raises(NotMeasurable, match="Z stack"):
        imrestore.build("ssim:3d=true")(ref[0], est[0])


def test_the_html_report_of_a_volume_does_not_rank_planes_by_a_whole_volume_metric(tmp_path, capsys):
    ref, _ = _stack_pair()
    tifffile.imwrite(tmp_path / "s.tif", (ref * 60000).astype(np.uint16), imagej=True, metadata={"axes": "ZYX"})
    code, _, err = call(capsys, "run", "gaussian:sigma=10", str(tmp_path / "s.tif"), str(tmp_path / "out"), "-m", "ssim",
                        "-m", "ssim:3d=true", "-q")
    assert code == 0, err
    code, _, err = call(capsys, "report", str(tmp_path / "out"), "--by", "ssim:3d=true")
    assert code == 2 and "no value per item" in err and "rank by ssim" in err
    code, _, err = call(capsys, "report", str(tmp_path / "out"))
    assert code == 0, err


def test_a_plane_metric_measured_on_blocks_of_a_stack_is_its_mean_over_the_planes():
    import imrestore
    from imrestore.similarity import block_ssim  # noqa: F401 - the reader protocol is block_ssim's

    ref, est = _stack_pair()
    psnr = imrestore.build("psnr")

    def read(lo, hi):
        return ref[lo[0]:hi[0], lo[1]:hi[1]], est[lo[0]:hi[0], lo[1]:hi[1]]

    assert psnr.measure_blocks(ref.shape, read) == pytest.approx(np.mean([psnr(r, e) for r, e in zip(ref, est)]))
