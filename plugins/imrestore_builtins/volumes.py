"""Volume formats: TIFF stacks (tifffile), HDF5 (h5py) and Zarr v3, plane by plane.

Each format reads one plane at a time and writes its output into a file made
up front with the input's shape, dtype, axes and metadata, so planes can land
in any order (worker pools, Dask) and a stopped run can be continued.

>>> import numpy as np, tempfile, pathlib, tifffile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "stack.tif"
>>> tifffile.imwrite(p, np.zeros((3, 8, 8), np.uint16), photometric="minisblack", metadata={"axes": "ZYX"})
>>> with TiffVolume().open(p) as src:
...     src.info.axes, src.info.n_planes, src.read_plane(2).dtype
('ZYX', 3, dtype('uint16'))
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from imrestore import hookimpl
from imrestore.interfaces import VolumeFormat, VolumeInfo, VolumeSink, VolumeSource

# --------------------------------------------------------------------------- TIFF

_IMAGEJ_COMPUTED = {"ImageJ", "images", "channels", "slices", "frames", "hyperstack"}


class _Complaints(logging.Handler):
    """Collects what tifffile logs about a damaged file (it warns and carries on)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage().split("> ", 1)[-1])


@contextlib.contextmanager
def _tifffile_complaints():
    logger = logging.getLogger("tifffile")
    handler, propagate = _Complaints(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _tiff_lead_axes_product(series) -> int:
    return int(np.prod([n for a, n in zip(series.axes, series.shape) if a not in "YXS"], dtype=np.int64))


def _plain_axes(series) -> str:
    """Series axes with tifffile's generic page axes ('I', 'Q') named Z."""
    axes = series.axes
    return "".join("Z" if a in "IQ" and axes.count("Z") == 0 else a for a in axes)


class TiffSource(VolumeSource):
    """Planes of a TIFF series: positional reads where the data are contiguous, page by page where not."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with _tifffile_complaints() as complaints:
            try:
                self._tif = tifffile.TiffFile(self.path)
            except Exception as exc:
                raise ValueError(f"not a readable TIFF file: {exc}") from exc
            try:
                series = self._tif.series[0] if self._tif.series else None
                len(self._tif.pages)
            except Exception:
                self._tif.close()
                raise
        if complaints:
            self._tif.close()
            raise ValueError(f"damaged or truncated TIFF ({complaints[0]})")
        try:
            if series is None:
                raise ValueError("no image data in the file")
            self._series = series
            page = self._tif.pages.first
            meta: dict = {"format": "tiff"}
            if self._tif.is_imagej:
                meta["imagej"] = {k: v for k, v in (self._tif.imagej_metadata or {}).items() if k not in _IMAGEJ_COMPUTED}
            elif self._tif.is_ome:
                meta["ome_xml"] = self._tif.ome_metadata
            res = {k: page.tags[k].value for k in ("XResolution", "YResolution", "ResolutionUnit") if k in page.tags}
            if "ResolutionUnit" in res:
                res["ResolutionUnit"] = int(res["ResolutionUnit"])
            meta["resolution"] = res
            meta["photometric"] = int(page.photometric)
            meta["compression"] = int(page.compression)
            self.info = VolumeInfo(series.shape, series.dtype, _plain_axes(series), meta)
            self._offset = series.dataoffset
            self._file_dtype = np.dtype(series.dtype).newbyteorder(self._tif.byteorder)
            if self._file_dtype == self.info.dtype:  # the same bytes: hand out the native dtype object
                self._file_dtype = self.info.dtype
            self._plane_nbytes = int(np.prod(self.info.plane_shape)) * self.info.dtype.itemsize
            size = os.path.getsize(self.path)
            if self._offset is not None and self._offset + self._plane_nbytes * self.info.n_planes > size:
                raise ValueError(f"truncated: the data need {self._offset + self._plane_nbytes * self.info.n_planes} bytes, the file has {size}")
            self._fd = os.open(self.path, os.O_RDONLY) if self._offset is not None else None
            if self._fd is None:
                n_pages = len(series.pages)
                if n_pages % self.info.n_planes and self.info.n_planes % n_pages:
                    raise ValueError(f"{n_pages} pages do not map onto {self.info.n_planes} planes")
        except BaseException:
            self._tif.close()
            raise

    def read_plane(self, i: int) -> np.ndarray:
        if not 0 <= i < self.info.n_planes:
            raise IndexError(f"plane {i} out of range (0..{self.info.n_planes - 1})")
        if self._fd is not None:
            buf = os.pread(self._fd, self._plane_nbytes, self._offset + i * self._plane_nbytes)
            if len(buf) != self._plane_nbytes:
                raise ValueError(f"truncated at plane {i}")
            return np.frombuffer(buf, self._file_dtype).reshape(self.info.plane_shape).astype(self.info.dtype, copy=False)
        n_pages = len(self._series.pages)
        if n_pages == self.info.n_planes:
            with _tifffile_complaints() as complaints:
                data = self._series.asarray(key=i)
            if complaints:
                raise ValueError(f"damaged plane {i} ({complaints[0]})")
        else:  # several planes per page (rare: planar samples), read the page and pick
            per_page = self.info.n_planes // n_pages
            data = self._series.asarray(key=i // per_page).reshape(per_page, *self.info.plane_shape)[i % per_page]
        return np.asarray(data).reshape(self.info.plane_shape)

    def close(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None
        self._tif.close()


class TiffSink(VolumeSink):
    """Writes planes into the contiguous, uncompressed data block of a pre-made TIFF."""

    def __init__(self, path: Path, info: VolumeInfo):
        self.path = Path(path)
        with tifffile.TiffFile(self.path) as tif:
            series = tif.series[0]
            if tuple(series.shape) != info.shape or series.dataoffset is None:
                raise ValueError(f"{self.path} is not a partial output of this volume")
            self._offset = series.dataoffset
        self._plane_nbytes = int(np.prod(info.plane_shape)) * info.dtype.itemsize
        self._dtype = info.dtype.newbyteorder("<")
        self._fd = os.open(self.path, os.O_WRONLY)

    def write_plane(self, i, data):
        buf = np.ascontiguousarray(data, dtype=self._dtype).tobytes()
        if len(buf) != self._plane_nbytes:
            raise ValueError(f"plane {i} has {len(buf)} bytes, expected {self._plane_nbytes}")
        os.pwrite(self._fd, buf, self._offset + i * self._plane_nbytes)

    def flush(self):
        os.fsync(self._fd)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _ome_kwargs(xml: str) -> dict:
    """Physical sizes and channel names of an OME-XML header, for tifffile's own OME writer."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    pixels = next((el for el in root.iter() if el.tag.endswith("Pixels")), None)
    if pixels is None:
        return {}
    out = {k: float(v) if k.startswith("PhysicalSize") and not k.endswith("Unit") else v
           for k, v in pixels.attrib.items() if k.startswith(("PhysicalSize", "TimeIncrement"))}
    names = [ch.attrib.get("Name") for ch in pixels if ch.tag.endswith("Channel")]
    if names and all(names):
        out["Channel"] = {"Name": names}
    return out


@dataclass
class TiffVolume(VolumeFormat):
    """Multi-page, BigTIFF, ImageJ and OME-TIFF stacks (tifffile); output uncompressed, same axes and metadata."""

    name = "tiff-stack"
    suffixes = (".tif", ".tiff")
    parallel_writes = True  # planes are disjoint byte ranges of one pre-allocated block (os.pwrite)

    def accepts(self, path):
        with _tifffile_complaints() as complaints:
            try:
                with tifffile.TiffFile(path) as tif:
                    stack = bool(tif.series) and _tiff_lead_axes_product(tif.series[0]) > 1
            except Exception:
                return True  # let open() say what is wrong with it
        return stack or bool(complaints)  # a damaged file goes to open(), which says what is wrong

    def open(self, path, inner=None):
        if inner:
            raise ValueError("TIFF files have no inner datasets (drop the ':...' part)")
        return TiffSource(path)

    def create(self, path, like, source=None, inner=None):
        meta = like.metadata
        nbytes = int(np.prod(like.shape, dtype=np.int64)) * like.dtype.itemsize
        kwargs: dict = {"shape": like.shape, "dtype": like.dtype, "byteorder": "<"}
        res = meta.get("resolution", {})
        if "XResolution" in res and "YResolution" in res:
            kwargs["resolution"] = (tuple(res["XResolution"]), tuple(res["YResolution"]))
            if "ResolutionUnit" in res:
                kwargs["resolutionunit"] = res["ResolutionUnit"]
        if like.plane_ndim == 3:
            kwargs["photometric"] = "rgb" if like.shape[-1] in (3, 4) else "minisblack"
            if like.shape[-1] in (2, 4):
                kwargs["extrasamples"] = ("unassalpha",)
        else:
            kwargs["photometric"] = "minisblack"
        axes = like.axes
        if "imagej" in meta and nbytes < 2**32 - 2**25:
            ij = {k: v for k, v in meta["imagej"].items() if isinstance(v, (int, float, str, bool))}
            tifffile.imwrite(path, imagej=True, metadata={"axes": axes, **ij}, **kwargs)
        elif "ome_xml" in meta:
            tifffile.imwrite(path, description=meta["ome_xml"].encode("utf-8"), metadata=None, bigtiff=nbytes > 2**31, **kwargs)
            if not self._same(path, like):  # a header naming other files: let tifffile write a fresh one
                tifffile.imwrite(path, ome=True, metadata={"axes": axes, **_ome_kwargs(meta["ome_xml"])}, bigtiff=nbytes > 2**31, **kwargs)
        else:
            tifffile.imwrite(path, metadata={"axes": axes}, bigtiff=nbytes > 2**31, **kwargs)
        if not self._same(path, like):
            raise ValueError(f"cannot write a TIFF shaped {like.shape} with axes {axes}")
        return TiffSink(path, like)

    @staticmethod
    def _same(path, like) -> bool:
        with tifffile.TiffFile(path) as tif:
            s = tif.series[0]
            return tuple(s.shape) == like.shape and s.dataoffset is not None

    def reopen(self, path, like, inner=None):
        return TiffSink(path, like)


# --------------------------------------------------------------------------- HDF5


def _default_axes(shape: tuple[int, ...]) -> str:
    lead = "TZ"[-(len(shape) - 2):] if len(shape) <= 4 else "Q" * (len(shape) - 4) + "TZ"
    return (lead + "YX") if len(shape) >= 3 else "YX"


def _axes_attr(obj, shape) -> str:
    axes = obj.attrs.get("axes") if hasattr(obj, "attrs") else None
    if isinstance(axes, bytes):
        axes = axes.decode()
    if isinstance(axes, str) and len(axes) == len(shape):
        return axes.upper()
    if isinstance(axes, (list, tuple, np.ndarray)) and len(axes) == len(shape):
        names = [a.decode() if isinstance(a, bytes) else str(a) for a in axes]
        if all(len(n) == 1 for n in names):
            return "".join(names).upper()
    return _default_axes(shape)


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
        except BaseException:
            self._file.close()
            raise

    def read_plane(self, i):
        idx = self.info.plane_index(i)
        try:
            return np.asarray(self._ds[idx] if idx else self._ds[()])
        except Exception as exc:
            raise ValueError(f"cannot read plane {i} of {self.inner}: {str(exc).splitlines()[0]}") from exc

    def close(self):
        self._file.close()


def _attr_value(v):
    return v.item() if isinstance(v, np.generic) else v


def jsonable(v):
    """An attribute value as JSON (Zarr attributes): arrays to lists, bytes to text."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


class H5Sink(VolumeSink):
    def __init__(self, path: Path, inner: str, info: VolumeInfo):
        import h5py

        self._file = h5py.File(path, "r+")
        self._ds = self._file[inner]
        self.info = info
        if tuple(self._ds.shape) != info.shape:
            self._file.close()
            raise ValueError(f"{path} is not a partial output of this volume")

    def write_plane(self, i, data):
        idx = self.info.plane_index(i)
        if idx:
            self._ds[idx] = data
        else:
            self._ds[()] = data

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


def _plane_chunks(info: VolumeInfo) -> tuple[int, ...]:
    lead = len(info.shape) - info.plane_ndim
    plane = list(info.plane_shape)
    # at most ~4 MiB per chunk: split the rows of large planes
    row_bytes = int(np.prod(plane[1:])) * info.dtype.itemsize
    plane[0] = max(1, min(plane[0], (4 * 2**20) // max(row_bytes, 1)))
    return (1,) * lead + tuple(plane)


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
        from imrestore.mri import rss_image

        return rss_image(self._k[i], self.info.plane_shape).astype(np.float32)

    def read_measurements(self, i):
        return {"kspace": np.asarray(self._k[i])}

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


# --------------------------------------------------------------------------- Zarr


class ZarrSource(VolumeSource):
    def __init__(self, path: Path, inner: str | None):
        import zarr

        self.path = Path(path)
        try:
            node = zarr.open(str(self.path), mode="r")
        except Exception as exc:
            raise ValueError(f"not a readable Zarr store ({str(exc).splitlines()[0]})") from exc
        group_attrs: dict = {}
        array_path = inner.strip("/") if inner else ""
        if isinstance(node, zarr.Group):
            group_attrs = dict(node.attrs)
            if not array_path:
                ms = group_attrs.get("multiscales") or group_attrs.get("ome", {}).get("multiscales")
                if ms:
                    array_path = ms[0]["datasets"][0]["path"]
                else:
                    arrays = [name for name, _ in node.arrays()]
                    if len(arrays) != 1:
                        raise ValueError(f"{self.path.name} holds {len(arrays)} arrays; name one as {self.path.name}:/path")
                    array_path = arrays[0]
            try:
                arr = node[array_path]
            except KeyError:
                raise ValueError(f"no array {array_path!r} in {self.path.name}") from None
        else:
            arr = node
        self._arr = arr
        axes = _zarr_axes(group_attrs, arr)
        meta = {"format": "zarr", "array": array_path, "attrs": dict(arr.attrs), "group_attrs": group_attrs}
        self.info = VolumeInfo(arr.shape, arr.dtype, axes, meta)

    def read_plane(self, i):
        idx = self.info.plane_index(i)
        return np.asarray(self._arr[idx] if idx else self._arr[...])


def _zarr_axes(group_attrs: dict, arr) -> str:
    ms = group_attrs.get("multiscales") or group_attrs.get("ome", {}).get("multiscales")
    if ms and "axes" in ms[0]:
        names = [a["name"] if isinstance(a, dict) else a for a in ms[0]["axes"]]
        if len(names) == arr.ndim and all(len(n) == 1 for n in names):
            return "".join(names).upper()
    return _axes_attr(arr, arr.shape)


class ZarrSink(VolumeSink):
    def __init__(self, arr, info: VolumeInfo):
        self._arr = arr
        self.info = info

    def write_plane(self, i, data):
        idx = self.info.plane_index(i)
        if idx:
            self._arr[idx] = data
        else:
            self._arr[...] = data


@dataclass
class ZarrVolume(VolumeFormat):
    """Zarr v3 arrays and OME-Zarr images (level 0); chunks of one plane, what Dask pipelines read."""

    name = "zarr"
    suffixes = (".zarr",)
    parallel_writes = True  # every chunk lies within one plane (_plane_chunks)

    def open(self, path, inner=None):
        return ZarrSource(path, inner)

    def create(self, path, like, source=None, inner=None):
        import zarr

        meta = like.metadata
        if Path(path).exists():
            shutil.rmtree(path)
        array_path = (inner or meta.get("array") or "").strip("/")
        chunks = _plane_chunks(like)
        if array_path:
            group = zarr.open_group(str(path), mode="w", zarr_format=3)
            attrs = dict(meta.get("group_attrs", {}))
            ms_key = "multiscales" if "multiscales" in attrs else ("ome" if "ome" in attrs else None)
            if ms_key == "multiscales":  # only the full-resolution level is restored
                attrs["multiscales"] = [dict(m, datasets=[d for d in m["datasets"] if d["path"] == array_path]) for m in attrs["multiscales"]]
            elif ms_key == "ome" and "multiscales" in attrs["ome"]:
                ome = dict(attrs["ome"])
                ome["multiscales"] = [dict(m, datasets=[d for d in m["datasets"] if d["path"] == array_path]) for m in ome["multiscales"]]
                attrs["ome"] = ome
            group.attrs.update(jsonable(attrs))
            arr = group.create_array(array_path, shape=like.shape, dtype=like.dtype, chunks=chunks)
        else:
            arr = zarr.create_array(str(path), shape=like.shape, dtype=like.dtype, chunks=chunks)
        attrs = dict(meta.get("attrs", {}))
        attrs.setdefault("axes", like.axes)
        arr.attrs.update(jsonable(attrs))
        return ZarrSink(arr, like)

    def reopen(self, path, like, inner=None):
        import zarr

        array_path = (inner or like.metadata.get("array") or "").strip("/")
        node = zarr.open(str(path), mode="r+")
        arr = node[array_path] if array_path else node
        if tuple(arr.shape) != like.shape:
            raise ValueError(f"{path} is not a partial output of this volume")
        return ZarrSink(arr, like)


@hookimpl
def register_volume_formats(register):
    register(TiffVolume)
    register(H5Volume)
    register(ZarrVolume)
