"""TIFF stacks (tifffile): multi-page, BigTIFF, ImageJ and OME hyperstacks; output a pre-allocated contiguous block."""
from __future__ import annotations

import contextlib
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

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


