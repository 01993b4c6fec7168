"""Conversions between file dtypes and the pipeline's float32 in [0, 1].

>>> import numpy as np
>>> x, rng = to_unit(np.array([0, 128, 255], np.uint8))
>>> rng, x.dtype
((0.0, 255.0), dtype('float32'))
>>> from_unit(x, np.uint8, rng)
array([  0, 128, 255], dtype=uint8)
"""
from __future__ import annotations

import dataclasses
from typing import Union

import numpy as np

from .errors import ImrestoreUsageError, option
from .interfaces import Image


def default_range(dtype: np.dtype) -> tuple[float, float] | None:
    """The value range implied by an integer or boolean dtype (None for floats)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return (0.0, 1.0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return (float(min(info.min, 0)), float(info.max))
    return None


def to_unit(array: np.ndarray, value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, tuple[float, float]]:
    """Map an array to float32 in [0, 1]; return it and the range used.

    Integer data use their dtype's range (uint16 -> 0..65535).  Float data in
    [0, 1] are kept; other float data are scaled by their own min and max.
    """
    array = np.asarray(array)
    if np.iscomplexobj(array):
        raise ValueError(f"complex values ({array.dtype}): imrestore restores real-valued images; give their magnitude "
                         "(or a fastMRI file's k-space to restorer:pnp)")
    if value_range is None:
        value_range = default_range(array.dtype)
    if value_range is None:
        finite = array[np.isfinite(array)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        value_range = (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi if hi > lo else lo + 1.0)
    lo, hi = value_range
    out = array.astype(np.float32)
    if lo != 0:
        out -= np.float32(lo)
    out /= np.float32(hi - lo)
    return out, (float(lo), float(hi))


class NonFinitePixels(ValueError):
    """Pixels that are NaN or infinite: what :func:`check_finite` raises (a caller may name the item or plane)."""


def check_finite(array: np.ndarray) -> None:
    """Refuse pixels that are NaN or infinite (a float file's masked area): a restorer would spread them, or a noise
    estimate read them as no noise, and the output would be wrong without a word.

    >>> check_finite(np.array([[0.0, np.nan]]))
    Traceback (most recent call last):
    ...
    imrestore.dtypes.NonFinitePixels: 1 of 2 pixels are NaN or infinite; imrestore restores finite data: fill them first (with the image's median, say)
    """
    finite = np.count_nonzero(np.isfinite(array))
    if finite < array.size:
        raise NonFinitePixels(f"{array.size - finite} of {array.size} pixels are NaN or infinite; imrestore restores finite "
                         "data: fill them first (with the image's median, say)")


def from_unit(data: np.ndarray, dtype: np.dtype, value_range: tuple[float, float]) -> np.ndarray:
    """Map float data in [0, 1] back to ``dtype`` (clipped and rounded for integers)."""
    dtype = np.dtype(dtype)
    lo, hi = value_range
    if dtype == np.bool_:
        return np.asarray(data) >= 0.5
    scaled = np.asarray(data, dtype=np.float64) * (hi - lo)
    if lo != 0:
        scaled += lo
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        np.rint(scaled, out=scaled)
        np.clip(scaled, info.min, info.max, out=scaled)
        return scaled.astype(dtype)
    return scaled.astype(dtype)


def quantize(data: np.ndarray, dtype: np.dtype, value_range: tuple[float, float]) -> np.ndarray:
    """What ``data`` becomes once written as ``dtype`` and read back: float64 in [0, 1] units."""
    lo, hi = value_range
    return (from_unit(data, dtype, value_range).astype(np.float64) - lo) / (hi - lo)


#: What ``--range`` accepts: the dtype's range, the data's own min..max, or fixed values.
RangeSpec = Union[str, tuple[float, float]]


def parse_range(text: str | tuple[float, float] | None) -> RangeSpec:
    """``dtype`` (the default), ``data``, or ``LO:HI`` (e.g. ``0:4095`` for a 12-bit camera in uint16).

    >>> parse_range("0:4095"), parse_range("data"), parse_range(None)
    ((0.0, 4095.0), 'data', 'dtype')
    """
    if isinstance(text, tuple):
        pair = (float(text[0]), float(text[1]))
        text = range_text(pair)
    elif text is None or text.strip().lower() in ("", "dtype"):
        return "dtype"
    elif text.strip().lower() == "data":
        return "data"
    else:
        text = text.strip().lower()
        lo, sep, hi = text.partition(":")
        try:
            if not sep:
                raise ValueError
            pair = (float(lo), float(hi))
        except ValueError:
            raise ImrestoreUsageError(f"{option('value_range', text)}: expected dtype, data or LO:HI (e.g. 0:4095)") from None
    if not all(np.isfinite(pair)) or pair[1] <= pair[0]:
        raise ImrestoreUsageError(f"{option('value_range', text)}: HI must be finite and above LO")
    return pair


def range_text(spec: RangeSpec) -> str:
    """The ``--range`` text of a spec (what reports record)."""
    return spec if isinstance(spec, str) else f"{spec[0]:g}:{spec[1]:g}"


def remap(data: np.ndarray, old: tuple[float, float], new: tuple[float, float]) -> np.ndarray:
    """[0, 1] units of range ``old`` -> [0, 1] units of range ``new`` (same stored values)."""
    scale = (old[1] - old[0]) / (new[1] - new[0])
    out = np.asarray(data, np.float32) * np.float32(scale)
    shift = (old[0] - new[0]) / (new[1] - new[0])
    if shift:
        out += np.float32(shift)
    return out


def resolve_range(spec: RangeSpec, default: tuple[float, float], data_min_max: tuple[float, float]) -> tuple[float, float]:
    """The range a spec means for data whose default range is ``default`` and stored extremes ``data_min_max``."""
    if spec == "dtype":
        return default
    if spec == "data":
        lo, hi = data_min_max
        return (lo, hi) if hi > lo else (lo, lo + 1.0)
    return (float(spec[0]), float(spec[1]))


# --------------------------------------------------------------------------- the --range policy


def range_hint(image: Image, spec: RangeSpec) -> str | None:
    """A hint when 16/32-bit integer data use a small corner of their dtype's range under ``--range dtype``.

    A 12-bit camera's 0..4095 in uint16 is a dim image to the networks, and
    ``gaussian:sigma=25`` would be 25/255 of 65,535 counts.

    >>> import numpy as np
    >>> img = Image(np.array([[0.0, 4000 / 65535]], np.float32), dtype=np.dtype("uint16"), value_range=(0.0, 65535.0))
    >>> print(range_hint(img, "dtype"))
    values reach only 4000 of uint16's 0..65535: --range 0:4095 (12-bit data) or --range data puts the chain and the metrics on their scale
    """
    if spec != "dtype" or image.dtype.kind not in "ui" or image.dtype.itemsize < 2 or not image.data.size:
        return None
    lo, hi = image.value_range
    peak = round(lo + float(np.nanmax(image.data)) * (hi - lo))  # an integer dtype's stored values
    if peak <= 0 or peak >= hi / 16:
        return None
    bits = max(int(np.ceil(np.log2(peak + 1))), 1)
    return (f"values reach only {peak:.0f} of {image.dtype}'s {lo:.0f}..{hi:.0f}: --range 0:{2**bits - 1} ({bits}-bit data) "
            "or --range data puts the chain and the metrics on their scale")


def apply_range(image: Image, spec: RangeSpec) -> Image:
    """``image`` in the [0, 1] units of another value range (``--range``); the stored values are unchanged.

    ``spec`` is ``"dtype"`` (keep the reader's range), ``"data"`` (the image's
    own min..max) or a ``(lo, hi)`` pair.

    >>> import numpy as np
    >>> img = Image(np.array([[0.0, 4095 / 65535]], np.float32), dtype=np.dtype("uint16"), value_range=(0.0, 65535.0))
    >>> apply_range(img, (0.0, 4095.0)).data.round(6).tolist()
    [[0.0, 1.0]]
    """
    spec = parse_range(spec)
    if spec == "dtype":
        return image
    old = image.value_range
    stored = old  # the image's own (finite) extremes are only needed, a copy and a pass over it, for "data"
    if spec == "data":
        finite = image.data[np.isfinite(image.data)]
        if finite.size:
            span = old[1] - old[0]
            stored = (old[0] + float(finite.min()) * span, old[0] + float(finite.max()) * span)
    new = resolve_range(spec, old, stored)
    if new == old:
        return image
    return dataclasses.replace(image, data=remap(image.data, old, new), value_range=new)
