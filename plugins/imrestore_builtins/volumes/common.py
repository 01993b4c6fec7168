"""Helpers the HDF5 and Zarr formats share: axes from attributes, JSON attributes, one-plane chunks."""
from __future__ import annotations

import numpy as np

from imrestore.interfaces import VolumeInfo


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


def _plane_chunks(info: VolumeInfo) -> tuple[int, ...]:
    lead = len(info.shape) - info.plane_ndim
    plane = list(info.plane_shape)
    # at most ~4 MiB per chunk: split the rows of large planes
    row_bytes = int(np.prod(plane[1:])) * info.dtype.itemsize
    plane[0] = max(1, min(plane[0], (4 * 2**20) // max(row_bytes, 1)))
    return (1,) * lead + tuple(plane)


