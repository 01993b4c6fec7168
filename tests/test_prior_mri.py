"""Plug-and-play from k-space (restorer:pnp on fastMRI files): the acquisition operator, the sampling mask, the coil
sensitivities, reconstructions that beat zero filling, and the refusals."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from helpers import call

from imrestore.errors import ParameterError
from imrestore.operators import check_adjoint
from imrestore.mri import (CoilFourier, calibration_width, kspace_noise_sigma,
                           sampling_mask, smooth_coil_maps, write_phantom_scan, write_scan)
from imrestore_builtins.corruptions import kspace_mask

RNG = np.random.default_rng(0)


def have_sigpy() -> bool:
    try:
        import sigpy.mri.app  # noqa: F401
    except ImportError:
        return False
    return True


needs_sigpy = pytest.mark.skipif(not have_sigpy(), reason="multi-coil k-space needs sigpy's ESPIRiT (pip install 'imrestore[mri]')")


def columns(cols: int, acceleration: float = 4, centre: float = 0.16, seed: int = 0) -> np.ndarray:
    mask, _ = kspace_mask(cols, acceleration, centre, "random", np.random.default_rng(seed))
    return mask


@pytest.mark.parametrize("maps", [None, smooth_coil_maps(3, (6, 8))], ids=["single-coil", "three-coils"])
def test_the_acquisition_operator_passes_the_adjoint_test(maps):
    op = CoilFourier(RNG.random((6, 8)) < 0.5, maps)
    assert op.out_shape((6, 8)) == (1 if maps is None else 3, 6, 8)
    assert check_adjoint(op, (6, 8)) < 1e-12


@pytest.mark.parametrize("maps", [None, smooth_coil_maps(3, (5, 6))], ids=["closed-form", "conjugate-gradients"])
def test_the_data_step_matches_a_dense_complex_solve(maps):
    op = CoilFourier(RNG.random((5, 6)) < 0.5, maps)
    n = 30
    a = np.stack([op.forward(e.reshape(5, 6)).ravel() for e in np.eye(n)], axis=1)
    rhs = RNG.standard_normal((5, 6)) + 1j * RNG.standard_normal((5, 6))
    for rho in (0.05, 1.0):
        want = np.linalg.solve(a.conj().T @ a + rho * np.eye(n), rhs.ravel()).reshape(5, 6)
        np.testing.assert_allclose(op.solve_normal(rhs, rho), want, atol=1e-3 * np.abs(want).max())


def test_the_sampling_mask_is_read_or_inferred_and_refused_where_it_is_neither():
    k = RNG.standard_normal((2, 8, 10)) + 0j
    k[..., ::3] = 0
    inferred, how = sampling_mask(k)
    assert how.startswith("inferred") and inferred.shape == (8, 10) and not inferred[:, ::3].any() and inferred[:, 1].all()
    stored, how = sampling_mask(k, np.arange(10) % 2)
    assert how.startswith("stored") and stored[:, 1].all() and not stored[:, 0].any()
    with pytest.raises(ParameterError, match="must cover the 10 columns"):
        sampling_mask(k, np.ones(7))
    with pytest.raises(ParameterError, match="all zeros"):
        sampling_mask(np.zeros((8, 10), complex))


def test_the_calibration_region_is_the_gapless_centre():
    mask = np.zeros((4, 20), bool)
    mask[:, 8:13] = True
    mask[:, 2] = True
    assert calibration_width(mask) == 5
    assert calibration_width(np.zeros((4, 20), bool)) == 0


def test_the_noise_level_comes_from_the_outer_k_space(tmp_path):
    images = np.zeros((1, 64, 64))
    images[0, 16:48, 16:48] = 1
    with h5py.File(write_scan(tmp_path / "noise.h5", images, coils=1, noise=0.02)) as f:
        k = f["kspace"][0]
    assert kspace_noise_sigma(k, np.ones((64, 64), bool)) == pytest.approx(0.02, rel=0.2)


def psnr_of(out, ref):
    return float(np.mean([10 * np.log10(r.max() ** 2 / np.mean((np.asarray(o, np.float64) - r) ** 2)) for o, r in zip(out, ref)]))


def brain_slices(count=2):
    """Real brain MRI: middle slices of nibabel's EPI series (96 x 128), each scaled to its maximum."""
    from pathlib import Path

    nibabel = pytest.importorskip("nibabel")
    vol = np.asarray(nibabel.load(Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz").dataobj)
    vol = vol[..., 0].astype(np.float64)
    mid = vol.shape[2] // 2
    return np.stack([(vol[:, :, z] / vol[:, :, z].max()).T for z in range(mid, mid + count)])


def reconstruct(tmp_path, capsys, path, restorer, name):
    code, out, err = call(capsys, "run", restorer, str(path), str(tmp_path / name))
    assert code == 0, err
    with h5py.File(tmp_path / name) as f:
        dataset = "reconstruction_rss" if "reconstruction_rss" in f else "reconstruction_esc"
        return f[dataset][()], json.loads((tmp_path / f"{name}.report.json").read_text())


@pytest.mark.parametrize("coils", [1, pytest.param(4, marks=[needs_sigpy, pytest.mark.slow])])
def test_cli_reconstructs_an_undersampled_fastmri_file_better_than_zero_filling(tmp_path, capsys, coils):
    images = brain_slices()
    full = write_scan(tmp_path / "full.h5", images, coils=coils, noise=0.005)
    scan = write_scan(tmp_path / "scan.h5", images, coils=coils, noise=0.005, mask=columns(images.shape[2]))
    with h5py.File(full) as f:
        ref = f["reconstruction_rss" if coils > 1 else "reconstruction_esc"][()]
    zero, _ = reconstruct(tmp_path, capsys, scan, "restorer:zerofill", "zf.h5")
    ours, report = reconstruct(tmp_path, capsys, scan, "restorer:pnp:iterations=24", "pnp.h5")
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert psnr_of(ours, ref) > psnr_of(zero, ref) + 2
    info = report["items"][0]["estimated"]["pnp"]
    assert info["operator"]["kind"] == "coil-fourier" and info["operator"]["coils"] == coils
    assert "sampling mask: stored" in info["operator"]["from"]
    assert ("ESPIRiT" in info["operator"]["from"]) == (coils > 1)
    assert info["noise_sigma"]["from"].startswith("estimated") and info["denoiser_calls"] == 24


@pytest.mark.slow  # 3 s; the file path itself runs by default (test_cli_reconstructs...); CI runs it
def test_a_chain_undersamples_a_fully_sampled_file_and_pnp_inverts_it(tmp_path, capsys):
    scan = write_scan(tmp_path / "full.h5", brain_slices(), coils=1, noise=0.005)
    out = {}
    for restorer in ("zerofill", "pnp:iterations=24"):
        code, text, err = call(capsys, "run", "kspace:acceleration=4,center_fraction=0.16", f"restorer:{restorer}",
                               str(scan), str(tmp_path / f"{restorer.split(':')[0]}.h5"))
        assert code == 0, err
        report = json.loads((tmp_path / f"{restorer.split(':')[0]}.h5.report.json").read_text())
        out[restorer] = report["volume"]["restored"]["psnr"]
    assert out["pnp:iterations=24"] > out["zerofill"] + 2


@pytest.mark.parametrize("setup, message", [
    ("bad-mask", "the file's sampling mask has shape (5,)"),
    ("all-zero", "no sampling mask can be inferred"),
    ("no-centre", "central columns are fully sampled"),
    ("psf", "describe an image's degradation"),
])
def test_cli_refuses_a_scan_it_cannot_reconstruct_with_one_line_and_writes_nothing(tmp_path, capsys, setup, message):
    if setup == "no-centre" and not have_sigpy():
        pytest.skip("the calibration check runs where sigpy is installed")
    images = brain_slices()
    mask = columns(images.shape[2])
    if setup == "no-centre":
        mask = np.arange(images.shape[2]) % 2 == 0
    scan = write_scan(tmp_path / "scan.h5", images, coils=1 if setup != "no-centre" else 3, mask=mask)
    with h5py.File(scan, "a") as f:
        if setup == "bad-mask":
            del f["mask"]
            f.create_dataset("mask", data=np.ones(5, bool))
        if setup == "all-zero":
            del f["mask"]
            f["kspace"][...] = 0
    spec = "restorer:pnp" + (":psf_sigma=2" if setup == "psf" else "")
    code, out, err = call(capsys, "run", spec, str(scan), str(tmp_path / "out.h5"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.h5"]


def test_multi_coil_without_sigpy_is_one_line_that_says_what_to_install(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sigpy.mri.app", None)  # import fails as where sigpy is not installed
    scan = write_phantom_scan(tmp_path / "scan.h5", slices=1, shape=(32, 32), crop=(32, 32))
    code, out, err = call(capsys, "run", "restorer:pnp", str(scan), str(tmp_path / "out.h5"))
    assert code == 2 and "imrestore[mri]" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.h5"]


def test_the_adjoint_test_catches_a_complex_adjoint_that_forgets_the_conjugate():
    class Wrong(CoilFourier):
        def adjoint(self, y, in_shape=None):
            views = super().adjoint(y, in_shape)
            return np.conj(views)  # a transpose without the conjugate

    assert check_adjoint(Wrong(RNG.random((6, 8)) < 0.5, smooth_coil_maps(2, (6, 8))), (6, 8)) > 1e-3
