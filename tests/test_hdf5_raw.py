"""HDF5 planes as raw bytes: the same values as h5py, and h5py wherever raw access cannot apply."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from imrestore_builtins.volumes import H5Source, H5Volume
from imrestore_builtins.volumes.hdf5_raw import RawPlanes

from imrestore.interfaces import VolumeInfo

RNG = np.random.default_rng(0)


def _file(tmp_path, data, **kw):
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("v", data=data, **kw)
    return path


@pytest.mark.parametrize("shape,chunks,dtype,ndim", [
    ((3, 50, 70), None, np.uint16, 2),  # contiguous
    ((3, 50, 70), (1, 16, 32), np.uint16, 2),  # edge chunks padded in the file
    ((2, 3, 20, 30), (1, 1, 20, 30), np.float32, 2),  # two lead axes
    ((2, 20, 30, 3), (1, 8, 8, 3), np.uint8, 3),  # YXS planes
])
def test_raw_reads_equal_h5py(tmp_path, shape, chunks, dtype, ndim):
    data = (RNG.random(shape) * 200).astype(dtype)
    if np.dtype(dtype).kind == "f":
        data.flat[5] = np.nan
    path = _file(tmp_path, data, chunks=chunks)
    with h5py.File(path) as f:
        raw = RawPlanes.of(path, f["v"], ndim)
        assert raw is not None
        lead = shape[: len(shape) - ndim]
        for i in range(int(np.prod(lead))):
            np.testing.assert_array_equal(raw.read(i), data[np.unravel_index(i, lead)])
        raw.close()


def test_unwritten_chunks_read_as_the_fill_value(tmp_path):
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", shape=(2, 40, 40), dtype=np.int16, chunks=(1, 20, 20), fillvalue=7)
        ds[1, :20, :20] = 3
    with h5py.File(path) as f:
        raw = RawPlanes.of(path, f["v"], 2)
        np.testing.assert_array_equal(raw.read(1), f["v"][1])
        np.testing.assert_array_equal(raw.read(0), np.full((40, 40), 7, np.int16))
        raw.close()


@pytest.mark.parametrize("kw", [dict(compression="gzip", chunks=(1, 10, 10)), dict(chunks=(2, 10, 10)), dict(shuffle=True, chunks=(1, 10, 10))])
def test_filters_and_chunks_across_planes_go_through_h5py(tmp_path, kw):
    data = np.arange(4 * 10 * 10, dtype=np.uint16).reshape(4, 10, 10)
    path = _file(tmp_path, data, **kw)
    with h5py.File(path) as f:
        assert RawPlanes.of(path, f["v"], 2) is None
    with H5Source(path, "/v") as src:  # still read, through h5py
        np.testing.assert_array_equal(src.read_plane(3), data[3])


def test_big_endian_data_goes_through_h5py(tmp_path):
    data = np.arange(2 * 6 * 6, dtype=">u2").reshape(2, 6, 6)
    path = _file(tmp_path, data)
    with h5py.File(path) as f:
        assert RawPlanes.of(path, f["v"], 2) is None


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_outputs_are_written_raw_when_uncompressed(tmp_path, compression):
    data = (RNG.random((4, 37, 53)) * 60000).astype(np.uint16)
    src_path = _file(tmp_path, data, chunks=(1, 37, 53), compression=compression)
    with H5Source(src_path, "/v") as src:
        assert (src._raw is not None) == (compression is None)
        info = VolumeInfo(src.info.shape, src.info.dtype, src.info.axes, src.info.metadata)
    sink = H5Volume().create(tmp_path / "out.h5", info, source=src_path, inner="/v")
    assert (sink._raw is not None) == (compression is None)
    for i in (2, 0, 3, 1):  # any order
        sink.write_plane(i, data[i])
    sink.flush()
    sink.close()
    with h5py.File(tmp_path / "out.h5") as f:
        np.testing.assert_array_equal(f["v"][()], data)
        assert f["v"].compression == compression
