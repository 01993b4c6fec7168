"""MRI (imrestore/mri.py and the fastMRI layout): k-space masks, zero-filled reconstructions, mirrored files."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from imrestore import volumes
from imrestore.runner import run


def test_fastmri_kspace_is_masked_and_reconstructed_into_a_mirrored_file(tmp_path):
    from imrestore.mri import write_phantom_scan

    scan = write_phantom_scan(tmp_path / "scan.h5", slices=3, coils=4, shape=(64, 48), crop=(40, 40))
    full = run(["kspace:acceleration=1,center_fraction=0.5", "restorer:zerofill"], scan, tmp_path / "full.h5",
                      metrics=["psnr", "nmse"])
    assert full.volume["restored"]["nmse"] < 1e-10  # nothing masked: the stored reconstruction comes back
    report = run(["kspace:acceleration=4,center_fraction=0.08", "restorer:zerofill"], scan, tmp_path / "zf.h5",
                        metrics=["psnr", "nmse", "ssim"])
    vol = report.volume
    assert 0.01 < vol["restored"]["nmse"] < 1 and vol["restored"] == vol["corrupted"]
    assert vol["data_range"] == 1.0  # the stored 'max' attribute is the data range
    with h5py.File(scan) as src, h5py.File(tmp_path / "zf.h5") as out:
        assert dict(out.attrs) == dict(src.attrs)
        np.testing.assert_array_equal(out["kspace"][()], src["kspace"][()])  # the measurements are kept
        assert out["ismrmrd_header"][()] == src["ismrmrd_header"][()]
        rec = out["reconstruction_rss"]
        assert rec.shape == (3, 40, 40) and rec.dtype == np.float32
        assert not np.allclose(rec[()], src["reconstruction_rss"][()])


def test_fastmri_without_reconstruction_uses_the_rss_of_the_full_kspace(tmp_path):
    from imrestore.mri import rss_image, write_phantom_scan

    scan = write_phantom_scan(tmp_path / "scan.h5", slices=2, coils=2, shape=(32, 32), crop=(32, 32))
    with h5py.File(scan, "r+") as f:
        del f["reconstruction_rss"]
        del f.attrs["max"]
        kspace = f["kspace"][()]
    with volumes.open_volume(scan) as src:
        assert src.info.shape == (2, 32, 32)
        np.testing.assert_allclose(src.read_plane(1), rss_image(kspace[1], (32, 32)), rtol=1e-5)
    run(["kspace:acceleration=2", "restorer:zerofill"], scan, tmp_path / "o.h5")
    with h5py.File(tmp_path / "o.h5") as f:
        assert f["reconstruction"].shape == (2, 32, 32)


def test_fastmri_single_coil_with_reconstruction_esc(tmp_path):
    from imrestore.mri import rss_image, write_phantom_scan

    multi = write_phantom_scan(tmp_path / "multi.h5", slices=2, coils=1, shape=(48, 48), crop=(32, 32))
    with h5py.File(multi) as f:
        kspace = f["kspace"][()]  # coils=1 writes the single-coil layout: slices x rows x cols
    esc = np.stack([rss_image(k, (32, 32)) for k in kspace]).astype(np.float32)
    with h5py.File(tmp_path / "single.h5", "w") as f:
        f["kspace"] = kspace
        f["reconstruction_esc"] = esc
        f.attrs.update({"max": float(esc.max()), "norm": float(np.linalg.norm(esc)), "acquisition": "CORPD_FBK"})
    report = run(["kspace:acceleration=1,center_fraction=0.5", "restorer:zerofill"], tmp_path / "single.h5",
                        tmp_path / "o.h5", metrics=["nmse"])
    assert report.volume["restored"]["nmse"] < 1e-10
    with h5py.File(tmp_path / "o.h5") as f:
        assert f["reconstruction_esc"].shape == (2, 32, 32) and f.attrs["acquisition"] == "CORPD_FBK"




def test_zerofill_reconstructs_a_scans_own_kspace_with_no_corruption_in_the_chain(tmp_path, capsys):
    """Real data: the file's k-space as acquired, reconstructed as it stands (here fully sampled: the stored image back)."""
    from imrestore.cli import main
    from imrestore.mri import write_phantom_scan

    scan = write_phantom_scan(tmp_path / "scan.h5", slices=2, coils=4, shape=(64, 48), crop=(40, 40))
    report = run(["restorer:zerofill"], scan, tmp_path / "zf.h5", metrics=["nmse"])
    assert report.reference == "none"
    with h5py.File(scan) as src, h5py.File(tmp_path / "zf.h5") as out:
        np.testing.assert_allclose(out["reconstruction_rss"][()], src["reconstruction_rss"][()], rtol=1e-4, atol=1e-6)
    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((3, 16, 16), np.uint16), photometric="minisblack")
    with pytest.raises(SystemExit) as exc:
        main(["run", "restorer:zerofill", str(tmp_path / "plain.tif"), str(tmp_path / "o.tif"), "-q"])
    assert exc.value.code == 1 and "needs measured k-space" in capsys.readouterr().err
