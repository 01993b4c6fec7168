"""Planes of an unfiltered HDF5 dataset read and written as bytes, at the offsets HDF5 reports.

h5py keeps the GIL for the whole of each call, so a reader or writer thread
that goes through it stalls the thread that computes.  For a dataset without
filters (no compression, shuffle or checksum) every chunk is a plain block of
the file: ``get_chunk_info_by_coord`` gives its address and ``os.preadv`` /
``os.pwritev`` move the bytes while other threads run, as the TIFF path does.
Anything else (filters, a userblock, big-endian data, chunks that span
several planes, unallocated contiguous storage) gets ``None`` from
:meth:`RawPlanes.of`, and the caller goes through h5py.

>>> import numpy as np, h5py, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "v.h5"
>>> with h5py.File(p, "w") as f:
...     f["v"] = np.arange(2 * 5 * 7, dtype=np.uint16).reshape(2, 5, 7)
>>> with h5py.File(p, "r") as f:
...     raw = RawPlanes.of(p, f["v"], plane_ndim=2)
...     bool((raw.read(1) == f["v"][1]).all())
True
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np


class RawPlanes:
    """Byte-level access to the planes (trailing ``plane_ndim`` axes) of one HDF5 dataset."""

    def __init__(self, path: Path, ds, plane_ndim: int, writable: bool):
        self._ds = ds
        self._id = ds.id
        self.dtype = np.dtype(ds.dtype)
        self.shape = tuple(ds.shape)
        self.lead = len(self.shape) - plane_ndim
        self.plane_shape = self.shape[self.lead :]
        self.plane_nbytes = int(np.prod(self.plane_shape)) * self.dtype.itemsize
        self.chunks = tuple(ds.chunks[self.lead :]) if ds.chunks else None
        self._offset = None if ds.chunks else self._id.get_offset()
        fill = ds.fillvalue
        self._fill = np.zeros((), self.dtype) if fill is None else np.asarray(fill, self.dtype)
        self._fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)

    @classmethod
    def of(cls, path: Path | str, ds, plane_ndim: int, writable: bool = False) -> RawPlanes | None:
        """Raw access to ``ds`` in the file at ``path``, or None where only h5py can do it."""
        import h5py

        dtype = np.dtype(ds.dtype)
        if dtype.kind not in "biuf" or not dtype.isnative:  # the file's bytes must be this machine's numbers
            return None
        plist = ds.id.get_create_plist()
        if plist.get_nfilters() or plist.get_external_count() or ds.file.userblock_size:
            return None
        layout = plist.get_layout()
        lead = len(ds.shape) - plane_ndim
        if layout == h5py.h5d.CHUNKED:
            if any(c != 1 for c in ds.chunks[:lead]):
                return None
        elif layout != h5py.h5d.CONTIGUOUS or ds.id.get_offset() is None:
            return None
        if writable and ds.chunks and ds.id.get_num_chunks() < _n_chunks(ds.shape, ds.chunks):
            return None  # not allocated up front: chunks would need HDF5 to place them
        raw = cls(Path(path), ds, plane_ndim, writable)
        if not writable and ds.size and not raw._agrees():
            raw.close()
            return None
        return raw

    # -- addressing ----------------------------------------------------------
    def _lead_index(self, i: int) -> tuple[int, ...]:
        return tuple(int(v) for v in np.unravel_index(i, self.shape[: self.lead])) if self.lead else ()

    def _tiles(self, i: int):
        """(file offset or None, slices of the plane, the chunk's own shape) for each chunk of plane ``i``."""
        lead = self._lead_index(i)
        grid = [range(0, n, c) for n, c in zip(self.plane_shape, self.chunks)]
        for start in itertools.product(*grid):
            where = self._id.get_chunk_info_by_coord(lead + tuple(start) if lead else tuple(start)).byte_offset
            region = tuple(slice(s, min(s + c, n)) for s, c, n in zip(start, self.chunks, self.plane_shape))
            yield where, region

    def _agrees(self) -> bool:
        """The first chunk (or plane) read both ways must match: a guard against any layout surprise."""
        if self.chunks is None:
            plane = self.read(0)
            return bool(np.array_equal(plane, self._ds[(0,) * self.lead], equal_nan=self.dtype.kind == "f"))
        where, region = next(self._tiles(0))
        if where is None:
            return True  # nothing written there yet: fill values both ways
        tile = np.empty(self.chunks, self.dtype)
        self._pread(tile, where)
        ref = self._ds[(0,) * self.lead + region]
        return bool(np.array_equal(tile[tuple(slice(0, r.stop - r.start) for r in region)], ref, equal_nan=self.dtype.kind == "f"))

    # -- I/O -----------------------------------------------------------------
    def read(self, i: int) -> np.ndarray:
        """Plane ``i`` (in the lead axes' C order); unwritten chunks read as the fill value."""
        out = np.empty(self.plane_shape, self.dtype)
        if self.chunks is None:
            self._pread(out, self._offset + i * self.plane_nbytes)
            return out
        tile = np.empty(self.chunks, self.dtype)
        for where, region in self._tiles(i):
            if where is None:
                out[region] = self._fill
                continue
            self._pread(tile, where)
            out[region] = tile[tuple(slice(0, r.stop - r.start) for r in region)]
        return out

    def write(self, i: int, data: np.ndarray) -> None:
        """Store plane ``i``; every chunk must already have its place in the file (early allocation)."""
        data = np.asarray(data, self.dtype)
        if data.shape != self.plane_shape:
            raise ValueError(f"plane {i} is {data.shape}, expected {self.plane_shape}")
        if self.chunks is None:
            self._pwrite(np.ascontiguousarray(data), self._offset + i * self.plane_nbytes)
            return
        tile = np.zeros(self.chunks, self.dtype)
        for where, region in self._tiles(i):
            if where is None:
                raise ValueError(f"chunk of plane {i} at {[r.start for r in region]} has no place in the file yet")
            part = tuple(slice(0, r.stop - r.start) for r in region)
            tile[part] = data[region]
            self._pwrite(tile, where)

    def _pread(self, arr: np.ndarray, offset: int) -> None:
        view = memoryview(arr).cast("B")
        got = os.preadv(self._fd, [view], offset)
        if got != view.nbytes:
            raise OSError(f"short read at byte {offset}: {got} of {view.nbytes}")

    def _pwrite(self, arr: np.ndarray, offset: int) -> None:
        view = memoryview(arr).cast("B")
        done = os.pwritev(self._fd, [view], offset)
        if done != view.nbytes:
            raise OSError(f"short write at byte {offset}: {done} of {view.nbytes}")

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _n_chunks(shape, chunks) -> int:
    return int(np.prod([-(-n // c) for n, c in zip(shape, chunks)]))

