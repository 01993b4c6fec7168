"""Structural similarity that costs little: float32, separable filters, in strips of rows with bounded memory.

:func:`ssim` gives scikit-image's ``structural_similarity`` (within 1e-4)
for its default settings (a 7x7 uniform window, the sample covariance) and
for ``gaussian=True`` (Wang et al.'s 11x11 Gaussian window of sigma 1.5 and
the population covariance, what most papers report), without float64 copies
of the images: a plane is measured in strips of rows (each with the window's
halo), so the temporaries are a few strips in float32 whatever the plane's
size.

Example
-------
>>> import numpy as np
>>> from skimage.metrics import structural_similarity
>>> rng = np.random.default_rng(0)
>>> ref = rng.random((64, 64))
>>> est = np.clip(ref + rng.normal(0, 0.1, ref.shape), 0, 1)
>>> bool(abs(ssim(ref, est) - structural_similarity(ref, est, data_range=1.0)) < 1e-4)
True
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

K1, K2 = 0.01, 0.03
#: Rows per strip: a few strips of this many rows in float32 are all the memory a plane's SSIM needs.
STRIP_ROWS = 256
#: Elements per block of the error sums: a block's float32 temporaries stay in the cache, whatever the image's size.
BLOCK = 1 << 18


def _blocks(a: np.ndarray, b: np.ndarray | None = None):
    """Matching flat blocks of ``a`` (and ``b``): float64 where either is float64, else float32; views where the data
    have that type already, else copies of one block."""
    dtype = np.float64 if np.float64 in (a.dtype, getattr(b, "dtype", None)) else np.float32
    flat_a = a.reshape(-1)
    flat_b = None if b is None else b.reshape(-1)
    for start in range(0, flat_a.size, BLOCK):
        block_a = np.asarray(flat_a[start : start + BLOCK], dtype)
        yield block_a, (None if flat_b is None else np.asarray(flat_b[start : start + BLOCK], dtype))


def squared_error_sum(reference: np.ndarray, estimate: np.ndarray) -> float:
    """The sum of squared differences, block by block (float32 data in float32), accumulated in float64: no full-size temporary.

    >>> squared_error_sum(np.zeros((3, 3), np.float32), np.full((3, 3), 0.5, np.float32))
    2.25
    """
    total = 0.0
    for a, b in _blocks(np.asarray(reference), np.asarray(estimate)):
        d = np.subtract(a, b)
        total += float(np.dot(d, d))
    return total


def squares_sum(array: np.ndarray) -> float:
    """The sum of squares, block by block (see :func:`squared_error_sum`)."""
    return sum(float(np.dot(a, a)) for a, _ in _blocks(np.asarray(array)))


def _window(gaussian: bool, win_size: int | None) -> tuple[int, object]:
    """The window's side and the separable filter that averages over it."""
    if gaussian:
        side = 11 if win_size is None else win_size
        return side, lambda x, out: ndimage.gaussian_filter(x, 1.5, output=out, mode="reflect", truncate=3.5)
    side = 7 if win_size is None else win_size
    return side, lambda x, out: ndimage.uniform_filter(x, side, output=out, mode="reflect")


def _ssim_map_sum(x: np.ndarray, y: np.ndarray, rows: slice, cols: slice, smooth, data_range: float,
                  cov_norm: float) -> tuple[float, int]:
    """Sum and count of the SSIM map over ``rows`` x ``cols`` of a strip of ``x`` and ``y`` (with its halo).

    Four filters, not five: the denominator needs only var(x) + var(y), the
    filtered x^2 + y^2.  Every product is computed in place.
    """
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    ux = smooth(x, np.empty_like(x))[rows, cols]
    uy = smooth(y, np.empty_like(y))[rows, cols]
    prod, tmp = np.multiply(x, x), np.multiply(y, y)
    prod += tmp
    sq = smooth(prod, tmp)[rows, cols]  # E[x^2 + y^2]
    np.multiply(x, y, out=prod)
    cross = smooth(prod, np.empty_like(prod))[rows, cols]  # E[xy]
    uxuy = ux * uy
    usq = np.multiply(ux, ux, out=ux)
    usq += np.multiply(uy, uy, out=uy)  # ux^2 + uy^2
    cross -= uxuy  # cov(x, y) / cov_norm
    sq -= usq  # (var x + var y) / cov_norm
    cross *= 2 * cov_norm
    cross += c2
    sq *= cov_norm
    sq += c2
    uxuy *= 2
    uxuy += c1
    usq += c1
    uxuy *= cross  # numerator
    usq *= sq  # denominator
    uxuy /= usq
    return float(uxuy.sum(dtype=np.float64)), uxuy.size


def _plane_ssim(ref: np.ndarray, est: np.ndarray, side: int, smooth, data_range: float, cov_norm: float, strip_rows: int) -> float:
    """Mean SSIM of one 2-D plane over the rows and columns at least half a window from the border (as scikit-image)."""
    h, w = ref.shape
    pad = (side - 1) // 2
    halo = side  # enough for the window (and a Gaussian's truncated support) around every kept row
    total, count = 0.0, 0
    for top in range(pad, h - pad, strip_rows):
        bottom = min(top + strip_rows, h - pad)
        lo, hi = max(0, top - halo), min(h, bottom + halo)
        x = np.asarray(ref[lo:hi], dtype=np.float32)
        y = np.asarray(est[lo:hi], dtype=np.float32)
        # rows and columns within pad of the border are left out, as scikit-image's crop does
        s, n = _ssim_map_sum(x, y, slice(top - lo, bottom - lo), slice(pad, w - pad), smooth, data_range, cov_norm)
        total, count = total + s, count + n
    return total / count if count else float("nan")


def ssim(reference: np.ndarray, estimate: np.ndarray, *, data_range: float = 1.0, win_size: int | None = None,
         gaussian: bool = False, sample_covariance: bool | None = None, channel_axis: int | None = None,
         strip_rows: int = STRIP_ROWS) -> float:
    """Mean structural similarity of two images (``YX``, or ``YXC`` with ``channel_axis=-1``: the mean over channels).

    ``gaussian=False`` is scikit-image's default (7x7 uniform window, sample
    covariance); ``gaussian=True`` is Wang et al.'s (11x11 Gaussian of sigma
    1.5, population covariance).  ``sample_covariance`` overrides the
    covariance (scikit-image's ``gaussian_weights=True`` keeps the sample one).
    """
    reference, estimate = np.asarray(reference), np.asarray(estimate)
    if reference.shape != estimate.shape:
        raise ValueError(f"ssim: shapes differ, {reference.shape} vs {estimate.shape}")
    if channel_axis is not None:
        ref_c, est_c = np.moveaxis(reference, channel_axis, -1), np.moveaxis(estimate, channel_axis, -1)
        return float(np.mean([ssim(ref_c[..., c], est_c[..., c], data_range=data_range, win_size=win_size, gaussian=gaussian,
                                   sample_covariance=sample_covariance, strip_rows=strip_rows) for c in range(ref_c.shape[-1])]))
    side, smooth = _window(gaussian, win_size)
    if min(reference.shape) < side:
        raise ValueError(f"ssim: the image {reference.shape} is smaller than the {side}x{side} window")
    sample = (not gaussian) if sample_covariance is None else sample_covariance
    cov_norm = side**2 / (side**2 - 1) if sample else 1.0
    return _plane_ssim(reference, estimate, side, smooth, float(data_range), cov_norm, strip_rows)
