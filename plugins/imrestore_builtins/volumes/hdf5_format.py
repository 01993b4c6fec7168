"""HDF5 datasets (h5py), and fastMRI files read as their multi-coil k-space and its RSS image."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imrestore.interfaces import VolumeFormat, VolumeInfo, VolumeSink, VolumeSource
from imrestore.mri import rss_image

from .common import _attr_value, _axes_attr, _plane_chunks
from .hdf5_raw import RawPlanes

# --------------------------------------------------------------------------- HDF5


def pick_dataset(h5file, inner: str | None, filename: str) -> str:
    """The dataset a run works on: the one named, else the only array of two or more dimensions."""
    import h5py

    if inner:
        if inner not in h5file:
            raise ValueError(f"no dataset {inner!r} in {filename}")
        if not isinstance(h5file[inner], h5py.Dataset):
            raise ValueError(f"{inner!r} in {filename} is a group, not a dataset")
        return inner
    found: list[str] = []
    h5file.visititems(lambda name, obj: found.append("/" + name) if isinstance(obj, h5py.Dataset) and obj.ndim >= 2 else None)
    if "/kspace" in found:
        return "/kspace"
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(f"{filename} holds no dataset with two or more dimensions")
    raise ValueError(f"{filename} holds several datasets ({', '.join(found)}); name one as {filename}:/path")


class H5Source(VolumeSource):
    """Planes of one HDF5 dataset, read inside an open ``h5py.File``."""

    def __init__(self, path: Path, inner: str | None):
        import h5py

        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r", rdcc_nbytes=64 * 2**20)
        except Exception as exc:
            raise ValueError(f"not a readable HDF5 file ({str(exc).splitlines()[0]})") from exc
        try:
            self.inner = pick_dataset(self._file, inner, self.path.name)
            ds = self._file[self.inner]
            self._ds = ds
            attrs = {k: _attr_value(v) for k, v in ds.attrs.items()}
            file_attrs = {k: _attr_value(v) for k, v in self._file.attrs.items()}
            meta = {"format": "hdf5", "dataset": self.inner, "attrs": attrs, "file_attrs": file_attrs,
                    "chunks": ds.chunks, "compression": ds.compression, "compression_opts": ds.compression_opts,
                    "shuffle": ds.shuffle}
            if ds.dtype.kind == "c":
                raise ValueError(f"{self.inner} holds complex values; a 'kspace' dataset is read by the fastMRI layout")
            if ds.dtype.kind not in "biuf":
                raise ValueError(f"{self.inner} holds {ds.dtype} values, not numbers")
            self.info = VolumeInfo(ds.shape, ds.dtype, _axes_attr(ds, ds.shape), meta)
            self._raw = RawPlanes.of(self.path, ds, self.info.plane_ndim)  # reads that release the GIL
        except BaseException:
            self._file.close()
            raise

    def read_plane(self, i):
        idx = self.info.plane_index(i)
        try:
            if self._raw is not None:
                return self._raw.read(i)
            return np.asarray(self._ds[idx] if idx else self._ds[()])
        except Exception as exc:
            raise ValueError(f"cannot read plane {i} of {self.inner}: {str(exc).splitlines()[0]}") from exc

    def close(self):
        if self._raw is not None:
            self._raw.close()
        self._file.close()


class H5Sink(VolumeSink):
    """Fills one dataset; an uncompressed one made by ``create`` is written as raw bytes (no GIL held)."""

    def __init__(self, path: Path, inner: str, info: VolumeInfo):
        import h5py

        self._file = h5py.File(path, "r+")
        self._ds = self._file[inner]
        self.info = info
        if tuple(self._ds.shape) != info.shape:
            self._file.close()
            raise ValueError(f"{path} is not a partial output of this volume")
        self._raw = RawPlanes.of(path, self._ds, info.plane_ndim, writable=True)

    def write_plane(self, i, data):
        if self._raw is not None:
            self._raw.write(i, data)
            return
        idx = self.info.plane_index(i)
        if idx:
            self._ds[idx] = data
        else:
            self._ds[()] = data

    def flush(self):
        if self._raw is not None:
            self._raw.sync()
        self._file.flush()

    def close(self):
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self._file.close()


FASTMRI_RECONSTRUCTIONS = ("/reconstruction_rss", "/reconstruction_esc")


class FastMRISource(VolumeSource):
    """A scan in the fastMRI layout: planes are its reconstructions, the measurements its k-space.

    ``kspace`` is slices x [coils x] rows x cols, complex and centred; the
    reference planes are ``reconstruction_rss`` (multi-coil) or
    ``reconstruction_esc`` (single coil) where the file has one, else the
    root-sum-of-squares image of the full k-space, centre-cropped to 320 x 320.
    """

    CROP = (320, 320)

    def __init__(self, h5file, path: Path):
        self.path = Path(path)
        self._file = h5file
        self._k = h5file["kspace"]
        if self._k.ndim not in (3, 4) or self._k.dtype.kind != "c":
            raise ValueError(f"'kspace' should be complex, slices x [coils x] rows x cols; it is {self._k.dtype} {self._k.shape}")
        recon = next((name for name in FASTMRI_RECONSTRUCTIONS if name in h5file), None)
        self._recon = h5file[recon] if recon else None
        if self._recon is not None:
            shape, dtype = self._recon.shape, self._recon.dtype
            if shape[0] != self._k.shape[0]:
                raise ValueError(f"{recon} has {shape[0]} slices, 'kspace' {self._k.shape[0]}")
        else:
            rows, cols = self._k.shape[-2:]
            shape, dtype = (self._k.shape[0], min(rows, self.CROP[0]), min(cols, self.CROP[1])), np.dtype(np.float32)
        attrs = {k: _attr_value(v) for k, v in (self._recon.attrs.items() if self._recon is not None else ())}
        file_attrs = {k: _attr_value(v) for k, v in h5file.attrs.items()}
        meta = {"format": "hdf5", "layout": "fastmri", "dataset": recon or "/reconstruction", "attrs": attrs,
                "file_attrs": file_attrs, "compression": None}
        self.info = VolumeInfo(shape, dtype, "ZYX", meta)

    def read_plane(self, i):
        if self._recon is not None:
            return np.asarray(self._recon[i])
        return rss_image(self._k[i], self.info.plane_shape).astype(np.float32)

    def read_measurements(self, i):
        """The plane's k-space and, where the file has one (fastMRI's test sets), its sampling ``mask`` (over the
        columns or rows x cols, one for the file or one per slice)."""
        measured = {"kspace": np.asarray(self._k[i])}
        if "mask" in self._file:
            mask = np.asarray(self._file["mask"])
            per_slice = mask.ndim >= 2 and mask.shape[0] == self._k.shape[0] and mask.shape != tuple(self._k.shape[-2:])
            measured["mask"] = mask[i] if per_slice else mask
        return measured

    def close(self):
        self._file.close()


@dataclass
class H5Volume(VolumeFormat):
    """HDF5 datasets (h5py): file.h5 or file.h5:/group/data; the output mirrors every other object and attribute."""

    name = "hdf5"
    suffixes = (".h5", ".hdf5", ".hdf")
    # A file with a 'kspace' dataset is read in the fastMRI layout (FastMRISource).

    def open(self, path, inner=None):
        import h5py

        if inner in (None, "/kspace"):
            try:
                f = h5py.File(path, "r", rdcc_nbytes=64 * 2**20)
            except Exception as exc:
                raise ValueError(f"not a readable HDF5 file ({str(exc).splitlines()[0]})") from exc
            try:
                if "kspace" in f and isinstance(f["kspace"], h5py.Dataset):
                    return FastMRISource(f, path)
            except BaseException:
                f.close()
                raise
            f.close()
        return H5Source(path, inner)

    def create(self, path, like, source=None, inner=None):
        import h5py

        meta = like.metadata
        target = inner or meta.get("dataset", "/data")
        mirror = source is not None and h5py.is_hdf5(source)  # a TIFF or Zarr input has no groups to mirror
        with h5py.File(path, "w") as out:
            if mirror:
                with h5py.File(source, "r") as src:
                    for k, v in src.attrs.items():
                        out.attrs[k] = v
                    for name in src:
                        if "/" + name == target:
                            continue
                        if target.startswith("/" + name + "/"):
                            _mirror_group(src[name], out.require_group(name), target)
                        else:
                            src.copy(src[name], out, name=name)
            opts: dict = {}
            if meta.get("compression") in ("gzip", "lzf"):
                opts["compression"] = meta["compression"]
                if meta["compression"] == "gzip":
                    opts["compression_opts"] = meta.get("compression_opts")
                opts["shuffle"] = bool(meta.get("shuffle"))
            else:  # every chunk gets its place now, so planes can be written as raw bytes (hdf5_raw)
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
                opts.update(dcpl=dcpl, fill_time="never")
            ds = out.create_dataset(target, shape=like.shape, dtype=like.dtype, chunks=_plane_chunks(like), **opts)
            for k, v in meta.get("attrs", {}).items():
                ds.attrs[k] = v
            if not mirror:
                ds.attrs["axes"] = like.axes
        return H5Sink(path, target, like)

    def reopen(self, path, like, inner=None):
        return H5Sink(path, inner or like.metadata.get("dataset", "/data"), like)


def _mirror_group(src_group, out_group, target: str) -> None:
    for k, v in src_group.attrs.items():
        out_group.attrs[k] = v
    for name in src_group:
        full = f"{src_group.name.rstrip('/')}/{name}"
        if full == target:
            continue
        if target.startswith(full + "/"):
            _mirror_group(src_group[name], out_group.require_group(name), target)
        else:
            src_group.copy(src_group[name], out_group, name=name)


