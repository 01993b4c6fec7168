"""Which forward operator a restorer inverts, and why: from the chain's record or, on real data, from parameters.

The one place that turns a degradation record (the operators the chain's corruptions declared, in chain order) or a
real acquisition's parameters (a measured PSF, a Gaussian PSF's sigma, a down-sampling factor, a mask of missing pixels)
into an :class:`imrestore.operators.LinearOperator`, with a record of what it used that goes into report.json, as the
noise model's does.  Parameters override the chain: a user who names a PSF means it.

>>> import numpy as np
>>> choice = choose_operator({"operators": [], "unmodelled": []}, (8, 8), factor=2)
>>> choice.op.kind, choice.source, choice.out_shape
('pool', 'factor=2', (16, 16))
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ChainError, ParameterError, error_reason
from .files import read_image
from .operators import Compose, Convolve, Identity, LinearOperator, Mask, Pool

__all__ = ["OperatorChoice", "choose_operator", "read_array", "read_psf", "read_mask"]


@dataclass
class OperatorChoice:
    """The operator, the shape of the image it maps from (the restoration's shape), and where it came from."""

    op: LinearOperator
    out_shape: tuple[int, ...]
    source: str

    def record(self) -> dict[str, Any]:
        """For report.json: the operator's kind and parameters, and where they came from."""
        return {**self.op.describe(), "from": self.source}


def read_array(path: str, what: str) -> np.ndarray:
    """An image file imrestore can read, or .npy, as float64; a missing or unreadable file is a one-line error."""
    p = Path(path)
    if not p.exists():
        raise ParameterError(f"{what}: {p} does not exist")
    try:
        suffix = p.suffix.lower()
        if suffix == ".npy":
            arr = np.load(p)
        elif suffix in (".tif", ".tiff"):  # any number of axes: a 3-D PSF is a ZYX stack
            import tifffile

            arr = np.squeeze(tifffile.imread(p))
        else:
            arr = read_image(p).data
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{what}: cannot read {p}: {error_reason(exc)}") from exc
    return np.asarray(arr, np.float64)


def read_psf(path: str, what: str = "psf") -> np.ndarray:
    """A measured PSF (an image file or .npy, 2-D or 3-D ZYX) normalised to sum 1; refuses what is not a PSF.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "p.npy"); np.save(f, np.ones((3, 3)))
    >>> float(read_psf(f).sum())
    1.0
    """
    arr = read_array(path, what)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ParameterError(f"{what}: {path} is {arr.ndim}-D of shape {arr.shape}; a PSF is a 2-D (YX) or 3-D (ZYX) array")
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.sum() <= 0:
        raise ParameterError(f"{what}: {path} must hold finite, non-negative numbers with a positive sum")
    return arr / arr.sum()


def read_mask(path: str, what: str = "mask") -> np.ndarray:
    """A mask file whose non-zero pixels are *missing* (as ``inpaint`` reads it), as a YX bool array."""
    arr = read_array(path, what)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].max(axis=-1)
    if arr.ndim != 2:
        raise ParameterError(f"{what}: {path} is of shape {arr.shape}; a mask is a 2-D (YX) image")
    return arr != 0


def choose_operator(degradation: dict, image_shape: tuple[int, ...], *, psf: np.ndarray | None = None,
                    psf_name: str = "", factor: int | None = None,
                    mask: np.ndarray | None = None, mask_name: str = "", stack: bool = False) -> OperatorChoice:
    """The operator that maps the restoration to the measurement of ``image_shape`` (YX or YXC).

    ``psf_name`` says where ``psf`` came from (``psf=FILE`` or ``psf_sigma=2``).  ``stack``: the image is a ZYX slab of
    a volume, which a 3-D PSF blurs along Z too.  Parameters (real data) override the chain's record; with neither, the operator is the identity (denoising).
    A corruption in the chain that is neither noise nor declares an operator cannot be inverted: a one-line error.
    """
    given = psf is not None or factor is not None or mask is not None
    if not given:
        missing = degradation.get("unmodelled") or []
        if missing:
            raise ChainError(f"{', '.join(missing)} declares no forward operator, so plug-and-play cannot invert it; "
                             "put it after the restorer, or give the corruption plugin an operator()")
        ops = list(degradation.get("operators") or [])
        op = Compose(ops) if len(ops) != 1 else ops[0]
        if not ops:
            return OperatorChoice(Identity(), tuple(image_shape), "no linear corruption in the chain and no psf=, "
                                  "psf_sigma=, factor= or mask=: plain denoising")
        shape = tuple(degradation.get("shape") or image_shape)
        if tuple(op.out_shape(shape)[:2]) != tuple(image_shape[:2]):  # the record is of another image (a crop): scale it
            raise ChainError(f"the chain's operators map {shape[:2]} to {op.out_shape(shape)[:2]}, but the image is {image_shape[:2]}")
        return OperatorChoice(op, shape, "the chain: " + ", ".join(o.kind for o in ops))
    ops: list[LinearOperator] = []
    parts = []
    if psf is not None:
        if psf.ndim == 3 and not stack:
            raise ParameterError(f"{psf_name}: a 3-D PSF is for stacks (a ZYX volume: a TIFF stack, HDF5 or Zarr); "
                                 "this image is 2-D")
        plane = tuple(image_shape[1:3]) if stack else tuple(image_shape[:2])
        if psf.shape[-2] > plane[0] or psf.shape[-1] > plane[1]:
            raise ParameterError(f"{psf_name}: the PSF ({psf.shape[-2]}x{psf.shape[-1]}) is larger than the image "
                                 f"({plane[0]}x{plane[1]})")
        ops.append(Convolve(psf))
        parts.append(psf_name)
    shape = tuple(image_shape)
    if factor is not None:
        ops.append(Pool(int(factor)))
        shape = (shape[0] * factor, shape[1] * factor) + shape[2:]
        parts.append(f"factor={factor}")
    if mask is not None:
        if mask.shape != tuple(shape[:2]):
            raise ParameterError(f"{mask_name}: the mask is {mask.shape[0]}x{mask.shape[1]}, the image "
                                 f"{shape[0]}x{shape[1]}")
        if factor is not None:
            raise ParameterError("mask= with factor= is not supported: give the mask of the measured image, without factor=")
        ops.insert(0, Mask(~mask))
        parts.append(f"mask={mask_name}")
    return OperatorChoice(ops[0] if len(ops) == 1 else Compose(ops), shape, ", ".join(parts))
