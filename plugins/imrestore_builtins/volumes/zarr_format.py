"""Zarr v3 arrays and OME-Zarr images (level 0), written in chunks of one plane."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imrestore.interfaces import VolumeFormat, VolumeInfo, VolumeSink, VolumeSource

from .common import _axes_attr, _plane_chunks, jsonable

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


