"""The volume job (imrestore/volumes/job.py) through the runner: resuming, workers and Dask, refusals, 3-D slabs."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from helpers import CHAIN, FLAKY, call, read_tiff, stack

from imrestore import volumes
from imrestore.errors import ImrestoreUsageError, RunStopped
from imrestore.runner import run
from imrestore.volumes import job as vjob


def test_a_crash_leaves_a_partial_output_and_the_rerun_equals_an_uninterrupted_run(tmp_path, monkeypatch, flaky):
    a = stack(8)
    tifffile.imwrite(tmp_path / "s.tif", a, metadata={"axes": "ZYX"})
    run(FLAKY, tmp_path / "s.tif", tmp_path / "full.tif")

    monkeypatch.setattr(vjob, "FLUSH_EVERY_S", 0.0)
    flaky.fail(at=4)  # Ctrl-C while the fourth plane is restored
    target = tmp_path / "resumed.tif"
    with pytest.raises(KeyboardInterrupt):
        run(FLAKY, tmp_path / "s.tif", target)
    assert not target.exists()
    record = json.loads((tmp_path / ".resumed.tif.imrestore-partial.json").read_text())
    assert sorted(map(int, record["done"])) == [0, 1, 2]
    partial, _ = read_tiff(tmp_path / ".resumed.imrestore-partial.tif")  # a valid TIFF already
    full, _ = read_tiff(tmp_path / "full.tif")
    np.testing.assert_array_equal(partial[:3], full[:3])

    flaky.heal()
    report = run(FLAKY, tmp_path / "s.tif", target)
    assert flaky.calls == 5  # finished planes are not redone
    assert [i.status for i in report.items] == ["skipped"] * 3 + ["written"] * 5
    assert (tmp_path / "full.tif").read_bytes() == target.read_bytes()
    assert not (tmp_path / ".resumed.tif.imrestore-partial.json").exists()
    full_report = json.loads((tmp_path / "full.tif.report.json").read_text())
    assert report.volume["restored"]["psnr"] == pytest.approx(full_report["volume"]["restored"]["psnr"])


def test_resuming_hdf5_after_a_failed_plane(tmp_path, monkeypatch, flaky):
    a = stack(6)
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["vol"] = a
    run(FLAKY, tmp_path / "v.h5", tmp_path / "full.h5")
    monkeypatch.setattr(vjob, "FLUSH_EVERY_S", 0.0)
    flaky.fail(at=5, error=RuntimeError("disk on fire"))
    with pytest.raises(RunStopped, match="disk on fire; 4 of 6 planes are kept"):
        run(FLAKY, tmp_path / "v.h5", tmp_path / "out.h5")
    flaky.heal()
    run(FLAKY, tmp_path / "v.h5", tmp_path / "out.h5")
    with h5py.File(tmp_path / "full.h5") as f, h5py.File(tmp_path / "out.h5") as g:
        np.testing.assert_array_equal(f["vol"][()], g["vol"][()])


def test_a_partial_output_of_another_chain_is_not_mixed_in(tmp_path, monkeypatch, flaky):
    tifffile.imwrite(tmp_path / "s.tif", stack(4), photometric="minisblack")
    monkeypatch.setattr(vjob, "FLUSH_EVERY_S", 0.0)
    flaky.fail(at=3)
    with pytest.raises(KeyboardInterrupt):
        run(FLAKY, tmp_path / "s.tif", tmp_path / "o.tif")
    with pytest.raises(ImrestoreUsageError, match="partial output of another run.*chain.*`overwrite=True`"):
        run(["gaussian:sigma=5", "restorer:wavelet"], tmp_path / "s.tif", tmp_path / "o.tif")
    run(["gaussian:sigma=5", "restorer:wavelet"], tmp_path / "s.tif", tmp_path / "o.tif", overwrite=True)
    assert (tmp_path / "o.tif").exists()


def test_a_finished_output_is_kept_on_rerun(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "s.tif", stack(3), photometric="minisblack")
    out = tmp_path / "o.tif"
    assert call(capsys, "run", *CHAIN, str(tmp_path / "s.tif"), str(out), "-q")[0] == 0
    before = out.stat().st_mtime_ns
    code, stdout, _ = call(capsys, "run", *CHAIN, str(tmp_path / "s.tif"), str(out))
    assert code == 0 and "3 already done" in stdout and out.stat().st_mtime_ns == before
    code, _, err = call(capsys, "run", "gaussian:sigma=5", str(tmp_path / "s.tif"), str(out))
    assert code == 2 and "another run" in err


# --------------------------------------------------------------------------- workers and Dask


@pytest.mark.slow  # 2.5 s of pool and cluster start-up; images run the same check by default (test_runner.py), CI runs this
def test_worker_pool_and_dask_give_the_single_process_result(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", stack(6), metadata={"axes": "ZYX"})
    serial = run(CHAIN, tmp_path / "s.tif", tmp_path / "serial.tif")
    pooled = run(CHAIN, tmp_path / "s.tif", tmp_path / "pool.tif", workers=2)
    dasked = run(CHAIN, tmp_path / "s.tif", tmp_path / "dask.tif", workers=2, dask=True)
    ref = (tmp_path / "serial.tif").read_bytes()
    assert (tmp_path / "pool.tif").read_bytes() == ref
    assert (tmp_path / "dask.tif").read_bytes() == ref
    assert pooled.volume["restored"] == serial.volume["restored"] == dasked.volume["restored"]


@pytest.mark.parametrize("suffix,direct", [(".tif", True), (".zarr", True), (".h5", False)])
def test_parallel_workers_write_their_planes_where_the_format_allows(tmp_path, monkeypatch, suffix, direct):
    tifffile.imwrite(tmp_path / "s.tif", stack(6), metadata={"axes": "ZYX"})
    run(CHAIN, tmp_path / "s.tif", tmp_path / f"serial{suffix}")
    sent = []
    real = vjob.PlaneWriter.write

    def spy(self, index, data, entry):
        sent.append(data is not None)
        return real(self, index, data, entry)

    monkeypatch.setattr(vjob.PlaneWriter, "write", spy)
    run(CHAIN, tmp_path / "s.tif", tmp_path / f"pool{suffix}", workers=2)
    assert len(sent) == 6 and not any(sent) if direct else all(sent)  # TIFF, Zarr: no plane travelled back
    with volumes.open_volume(tmp_path / f"serial{suffix}") as a, volumes.open_volume(tmp_path / f"pool{suffix}") as b:
        assert b.info.axes == "ZYX" and b.info.dtype == np.uint16  # a TIFF converted to each format
        for i in range(6):
            np.testing.assert_array_equal(a.read_plane(i), b.read_plane(i))


def test_workers_of_an_external_scheduler_let_go_of_the_input(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    tifffile.imwrite(tmp_path / "s.tif", stack(4), photometric="minisblack", metadata={"axes": "ZYX"})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        run(CHAIN, tmp_path / "s.tif", tmp_path / "o.tif", scheduler=cluster.scheduler_address)
        with distributed.Client(cluster) as client:
            still_open = client.run(lambda: len(__import__("imrestore.volumes.planes", fromlist=["_OPEN"])._OPEN))
    assert list(still_open.values()) == [0]  # the worker process outlives the run but holds no file
    run(CHAIN, tmp_path / "s.tif", tmp_path / "serial.tif")
    assert (tmp_path / "o.tif").read_bytes() == (tmp_path / "serial.tif").read_bytes()


@pytest.mark.slow
def test_unreachable_scheduler_is_a_usage_error(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "s.tif", stack(2), photometric="minisblack")
    code, _, err = call(capsys, "run", *CHAIN, str(tmp_path / "s.tif"), str(tmp_path / "o.tif"), "--scheduler", "tcp://127.0.0.1:9", "-q")
    assert code == 2 and "cannot reach the Dask scheduler" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- damaged inputs


def _truncate(path: Path, fraction: float = 0.6) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * fraction))


@pytest.mark.parametrize("kind", ["plain", "imagej", "compressed", "hdf5", "garbage-h5"])
def test_damaged_inputs_give_one_line_naming_the_file_and_write_nothing(tmp_path, capsys, kind):
    a = stack(6)
    if kind == "hdf5" or kind == "garbage-h5":
        src = tmp_path / "bad.h5"
        if kind == "hdf5":
            with h5py.File(src, "w") as f:
                f.create_dataset("x", data=a, chunks=(1, 48, 64))
            _truncate(src, 0.5)
        else:
            src.write_bytes(b"not an hdf5 file" * 64)
    else:
        src = tmp_path / "bad.tif"
        opts = {"plain": {"metadata": {"axes": "ZYX"}}, "imagej": {"imagej": True},
                "compressed": {"compression": "zlib", "metadata": {"axes": "ZYX"}}}[kind]
        tifffile.imwrite(src, a, **opts)
        _truncate(src)
    before = src.read_bytes()
    code, _, err = call(capsys, "run", *CHAIN, str(src), str(tmp_path / "out" / src.name), "-q")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and src.name in err and "Traceback" not in err
    assert src.read_bytes() == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_output_equal_to_input_is_refused(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "s.tif", stack(2), photometric="minisblack")
    code, _, err = call(capsys, "run", *CHAIN, str(tmp_path / "s.tif"), str(tmp_path / "s.tif"))
    assert code == 2 and "is the input" in err


def test_a_restorer_that_resizes_is_refused_for_volumes(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", stack(2), photometric="minisblack")
    with pytest.raises(ImrestoreUsageError, match="keep the plane shape"):
        run(["downsample:factor=2", "restorer:edsr"], tmp_path / "s.tif", tmp_path / "o.tif")


# --------------------------------------------------------------------------- metrics


def test_ctrl_c_in_the_cli_says_how_to_resume(tmp_path, capsys, monkeypatch, flaky):
    tifffile.imwrite(tmp_path / "s.tif", stack(4), photometric="minisblack")
    monkeypatch.setattr(vjob, "FLUSH_EVERY_S", 0.0)
    flaky.fail(at=3)
    code, _, err = call(capsys, "run", *FLAKY, str(tmp_path / "s.tif"), str(tmp_path / "o.tif"), "-q")
    assert code == 130 and "rerun the same command to resume" in err
    flaky.heal()
    code, out, _ = call(capsys, "run", *FLAKY, str(tmp_path / "s.tif"), str(tmp_path / "o.tif"))
    assert code == 0 and "2 written, 2 already done" in out


# --------------------------------------------------------------------------- 3-D restorers


def test_a_3d_restorer_sees_overlapping_slabs_and_beats_its_2d_self(tmp_path):
    import imrestore
    from imrestore.chain import Chain

    a = np.stack([stack(1, shape=(40, 48))[0]] * 20)  # a structure constant along Z: 3-D TV should use it
    tifffile.imwrite(tmp_path / "z.tif", a, photometric="minisblack", metadata={"axes": "ZYX"})
    r3 = run(["gaussian:sigma=25", "restorer:tv3d"], tmp_path / "z.tif", tmp_path / "tv3d.tif")
    r2 = run(["gaussian:sigma=25", "restorer:tv"], tmp_path / "z.tif", tmp_path / "tv.tif")
    assert r3.volume["restored"]["psnr"] > r2.volume["restored"]["psnr"] + 1
    # slabs with halos give what the restorer gives on the whole volume at once
    chain = Chain.from_specs(["gaussian:sigma=25"], metrics=[])
    ref = a.astype(np.float32) / 65535
    corrupted = np.stack([chain.corrupt(ref[i], 0, f"z.tif/{i}")[0] for i in range(len(a))])
    whole = imrestore.build("restorer:tv3d").restore([corrupted], [{"noise_sigma": 25 / 255}])[0]
    out, _ = read_tiff(tmp_path / "tv3d.tif")
    assert np.abs(out / 65535 - whole).max() < 0.02


def test_3d_slabs_resume_and_parallel_runs_give_the_same_bytes(tmp_path, monkeypatch, flaky):
    tifffile.imwrite(tmp_path / "z.tif", stack(20), photometric="minisblack", metadata={"axes": "ZYX"})
    chain = ["gaussian:sigma=25", "restorer:flaky3d"]
    run(chain, tmp_path / "z.tif", tmp_path / "full.tif")
    assert flaky.calls == 2  # two slabs: planes 0-15 (halo 16-19) and 16-19 (halo 12-15)
    run(chain, tmp_path / "z.tif", tmp_path / "pool.tif", workers=2)
    assert (tmp_path / "pool.tif").read_bytes() == (tmp_path / "full.tif").read_bytes()
    monkeypatch.setattr(vjob, "FLUSH_EVERY_S", 0.0)
    flaky.fail(at=2)
    with pytest.raises(KeyboardInterrupt):
        run(chain, tmp_path / "z.tif", tmp_path / "resumed.tif")
    flaky.heal()
    report = run(chain, tmp_path / "z.tif", tmp_path / "resumed.tif")
    assert sum(i.status == "skipped" for i in report.items) == 16  # the first slab of 16 planes was kept
    assert (tmp_path / "resumed.tif").read_bytes() == (tmp_path / "full.tif").read_bytes()


def test_a_restorer_that_up_scales_is_refused_before_any_plane_and_leaves_nothing(capsys, tmp_path, monkeypatch):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, stack(3), photometric="minisblack", metadata={"axes": "ZYX"})
    code, _, err = call(capsys, "run", "restorer:interp:factor=2", str(src), str(tmp_path / "out.tif"))
    assert code == 2 and "interp changes the image size (x2)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]
    # one that does not say so up front is stopped at its first plane, and no partial output is left to "resume"
    from imrestore_builtins.restorers import Interpolate

    monkeypatch.setattr(Interpolate, "prepare", lambda self, corruptions: None)
    code, _, err = call(capsys, "run", "restorer:interp:factor=2", str(src), str(tmp_path / "out.tif"))
    assert code == 2 and "changed the plane shape (48, 64) to (96, 128)" in err and "rerun" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


@pytest.mark.parametrize("fixed_range", [False, True])
def test_a_volume_with_nan_pixels_is_refused_naming_the_plane_and_leaves_nothing(tmp_path, capsys, fixed_range):
    # a float stack's masked area: a restorer would spread the NaNs, or a noise estimate read them as no noise and keep
    # the plane "as it is"; the scan of a float volume finds them before any work, a fixed --range at the plane itself
    a = stack(6).astype(np.float32) / 65535
    a[3, 10:12, 10:12] = np.nan
    tifffile.imwrite(tmp_path / "s.tif", a, metadata={"axes": "ZYX"})
    code, _, err = call(capsys, "run", "restorer:wavelet", str(tmp_path / "s.tif"), str(tmp_path / "out" / "o.tif"), "-q",
                        *(["--range", "0:1"] if fixed_range else []))
    assert code == 2 and "Traceback" not in err
    assert "plane Z=3: 4 of 3072 pixels are NaN or infinite" in err.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_complex_volume_is_refused_before_any_work(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "c.tif", stack(3).astype(np.complex64), metadata={"axes": "ZYX"})
    code, _, err = call(capsys, "run", "restorer:wavelet", str(tmp_path / "c.tif"), str(tmp_path / "o.tif"), "-q")
    assert code == 2 and "complex values (complex64)" in err and "magnitude" in err
    assert not (tmp_path / "o.tif").exists()
