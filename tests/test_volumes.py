"""Volumes: format round trips, resuming, workers and Dask, damaged inputs, fastMRI-style metrics."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr
from skimage import data

from imrestore import volumes
from imrestore.cli import main
from imrestore.errors import ImrestoreUsageError, RunStopped
from imrestore.runner import run
from imrestore.volumes import evaluate_volumes, is_volume, split_volume_path
from imrestore.volumes import job as vjob

IDENTITY = ["restorer:identity"]
CHAIN = ["gaussian:sigma=20", "restorer:wavelet"]


def call(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def stack(n: int = 6, shape=(48, 64), dtype=np.uint16) -> np.ndarray:
    cam = data.camera()[100 : 100 + shape[0], 100 : 100 + shape[1]].astype(np.float64) / 255
    planes = np.stack([np.roll(cam, 3 * i, axis=1) for i in range(n)])
    if np.dtype(dtype).kind == "f":
        return (planes * 7.5).astype(dtype)
    return (planes * np.iinfo(dtype).max * 0.8).astype(dtype)


def read_tiff(path):
    with tifffile.TiffFile(path) as t:
        return t.series[0].asarray(), t


# --------------------------------------------------------------------------- round trips


def test_imagej_hyperstack_round_trip_keeps_axes_dtype_spacing_and_resolution(tmp_path):
    a = stack(6).reshape(3, 2, 48, 64)
    src = tmp_path / "ij.tif"
    tifffile.imwrite(src, a, imagej=True, metadata={"axes": "ZCYX", "spacing": 2.5, "unit": "um"}, resolution=(1 / 0.3, 1 / 0.3))
    run(IDENTITY, src, tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as t:
        s = t.series[0]
        assert (s.axes, s.shape, s.dtype) == ("ZCYX", a.shape, np.uint16)
        assert t.imagej_metadata["spacing"] == 2.5 and t.imagej_metadata["unit"] == "um"
        assert t.pages.first.tags["XResolution"].value == (10, 3)
        np.testing.assert_array_equal(s.asarray(), a)


def test_ome_tiff_round_trip_keeps_the_ome_header(tmp_path):
    a = stack(4).reshape(2, 2, 48, 64)
    src = tmp_path / "ome.tif"
    tifffile.imwrite(src, a, ome=True, metadata={"axes": "ZCYX", "PhysicalSizeX": 0.3, "PhysicalSizeZ": 2.5,
                                                 "Channel": {"Name": ["dapi", "gfp"]}})
    run(IDENTITY, src, tmp_path / "out.ome.tif")
    with tifffile.TiffFile(tmp_path / "out.ome.tif") as t:
        assert t.is_ome and t.series[0].axes == "ZCYX"
        pixels = next(el for el in ET.fromstring(t.ome_metadata).iter() if el.tag.endswith("Pixels"))
        assert pixels.attrib["PhysicalSizeZ"] == "2.5"
        names = [c.attrib["Name"] for c in pixels if c.tag.endswith("Channel")]
        assert names == ["dapi", "gfp"]
        np.testing.assert_array_equal(t.series[0].asarray(), a)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_plain_stack_keeps_dtype_and_values_through_identity(tmp_path, dtype):
    a = stack(5, dtype=dtype)
    tifffile.imwrite(tmp_path / "s.tif", a, metadata={"axes": "ZYX"})
    run(IDENTITY, tmp_path / "s.tif", tmp_path / "o.tif")
    out, _ = read_tiff(tmp_path / "o.tif")
    assert out.dtype == a.dtype
    np.testing.assert_allclose(out, a, rtol=1e-6)


def test_rgb_stack_planes_are_yxs(tmp_path):
    a = (data.astronaut()[:32, :40][None].repeat(3, 0)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", a, photometric="rgb")
    with volumes.open_volume(tmp_path / "rgb.tif") as src:
        assert src.info.plane_shape == (32, 40, 3) and src.info.n_planes == 3
    run(["gaussian:sigma=5", "restorer:tv"], tmp_path / "rgb.tif", tmp_path / "o.tif")
    out, _ = read_tiff(tmp_path / "o.tif")
    assert out.shape == a.shape and out.dtype == np.uint8


def test_hdf5_output_mirrors_objects_and_attributes(tmp_path):
    a = stack(6)
    src = tmp_path / "scan.h5"
    with h5py.File(src, "w") as f:
        f.attrs["scanner"] = "demo"
        g = f.create_group("acq")
        g.attrs["te"] = 3.1
        d = g.create_dataset("data", data=a, chunks=(2, 16, 16), compression="gzip")
        d.attrs["axes"] = "ZYX"
        d.attrs["voxel"] = [1.0, 0.5, 0.5]
        f.create_dataset("meta/table", data=np.arange(5))
    run(CHAIN, f"{src}:/acq/data", tmp_path / "out.h5")
    with h5py.File(tmp_path / "out.h5") as f:
        assert f.attrs["scanner"] == "demo" and f["acq"].attrs["te"] == 3.1
        np.testing.assert_array_equal(f["meta/table"][()], np.arange(5))
        d = f["acq/data"]
        assert d.shape == a.shape and d.dtype == a.dtype and d.compression == "gzip"
        assert d.attrs["axes"] == "ZYX" and list(d.attrs["voxel"]) == [1.0, 0.5, 0.5]
        assert d.chunks[0] == 1  # written plane by plane
        assert not np.array_equal(d[()], a)  # restored, not copied


def test_hdf5_with_several_datasets_asks_which(tmp_path):
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"] = stack(2)
        f["b"] = stack(2)
    with pytest.raises(ValueError, match="several datasets.*/a, /b.*two.h5:/path"):
        run(IDENTITY, tmp_path / "two.h5", tmp_path / "o.h5")


def test_zarr_array_and_ome_zarr_round_trip(tmp_path):
    a = stack(4)
    z = zarr.create_array(str(tmp_path / "plain.zarr"), shape=a.shape, dtype=a.dtype, chunks=(1, 48, 64))
    z[:] = a
    z.attrs["axes"] = "ZYX"
    run(IDENTITY, tmp_path / "plain.zarr", tmp_path / "out.zarr")
    out = zarr.open(str(tmp_path / "out.zarr"), mode="r")
    np.testing.assert_array_equal(out[:], a)
    assert out.attrs["axes"] == "ZYX"

    g = zarr.open_group(str(tmp_path / "ome.zarr"), mode="w")
    g.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": "z"}, {"name": "y"}, {"name": "x"}],
                               "datasets": [{"path": "0"}, {"path": "1"}]}]
    g.create_array("0", shape=a.shape, dtype=a.dtype, chunks=(1, 48, 64))[:] = a
    g.create_array("1", shape=(4, 24, 32), dtype=a.dtype)[:] = a[:, ::2, ::2]
    run(CHAIN, tmp_path / "ome.zarr", tmp_path / "ome-out.zarr")
    out = zarr.open_group(str(tmp_path / "ome-out.zarr"), mode="r")
    assert [d["path"] for d in out.attrs["multiscales"][0]["datasets"]] == ["0"]
    assert out["0"].shape == a.shape and out["0"].dtype == a.dtype


def test_split_volume_path_and_detection(tmp_path):
    assert split_volume_path("a/b.h5:/x/y") == (Path("a/b.h5"), "/x/y")
    assert split_volume_path("b.zarr") == (Path("b.zarr"), None)
    tifffile.imwrite(tmp_path / "one.tif", stack(1)[0])
    tifffile.imwrite(tmp_path / "many.tif", stack(3), photometric="minisblack")
    assert not is_volume(tmp_path / "one.tif")  # a single page is an image
    assert is_volume(tmp_path / "many.tif")


# --------------------------------------------------------------------------- resuming


FLAKY = ["gaussian:sigma=20", "restorer:flaky"]


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
    with pytest.raises(ImrestoreUsageError, match="partial output of another run.*chain.*--overwrite"):
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


def test_training_data_can_be_a_volume(tmp_path):
    from imrestore.datasets import load_images

    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["planes"] = stack(5)
    imgs = load_images(f"{tmp_path / 'v.h5'}:/planes", channels=1, max_images=4)
    assert len(imgs) == 4 and imgs[0].shape == (48, 64) and 0 <= imgs[0].min() and imgs[0].max() <= 1


def test_fastmri_single_coil_with_reconstruction_esc(tmp_path):
    from imrestore.mri import rss_image, write_phantom_scan

    multi = write_phantom_scan(tmp_path / "multi.h5", slices=2, coils=1, shape=(48, 48), crop=(32, 32))
    with h5py.File(multi) as f:
        kspace = f["kspace"][:, 0]  # slices x rows x cols: the single-coil layout
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
