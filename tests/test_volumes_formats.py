"""Volume formats (plugins/imrestore_builtins/volumes, imrestore/volumes/formats.py): round trips keep shape, dtype and metadata."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr
from helpers import CHAIN, IDENTITY, read_tiff, stack
from skimage import data

from imrestore import volumes
from imrestore.runner import run
from imrestore.volumes import is_volume, split_volume_path


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


