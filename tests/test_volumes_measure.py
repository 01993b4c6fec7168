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


