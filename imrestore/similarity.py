"""Structural similarity that costs little: float32, separable sliding sums, in blocks with bounded memory.

:func:`ssim` gives scikit-image's ``structural_similarity`` (within 1e-4)
for its default settings (a 7x7 uniform window, the sample covariance) and
for ``gaussian=True`` (Wang et al.'s 11x11 Gaussian window of sigma 1.5 and
the population covariance, what most papers report), without float64 copies
of the images.  scikit-image leaves the border (half a window) out of the
mean, so every value it keeps needs only pixels inside the image: the window
is applied as "valid" sliding sums, with no padding (a uniform window of 7 is
four shifted additions per axis, by binary decomposition).  A plane is
measured in strips of rows (each with half a window above and below): the
temporaries are a few strips in float32 whatever the plane's size, and they
stay in the processor's cache.  ``volumetric=True`` applies a 3-D window
(7x7x7, or 11x11x11 Gaussian) to ``ZYX`` stacks, in blocks of planes and rows.

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

import itertools
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

K1, K2 = 0.01, 0.03
#: Elements per strip (or block) of the SSIM: its float32 temporaries stay in the processor's cache.
STRIP_ELEMENTS = 1 << 16
#: Kept columns per block: a wide strip is measured in blocks this wide (with half a window on each side), so that a
#: block's temporaries fit the processor's cache with enough rows to make the rows' halo cheap.
BLOCK_COLUMNS = 512
#: Output planes per block of a 3-D SSIM (each block reads half a window more on either side).
BLOCK_PLANES = 4
#: Elements per block of the error sums: a block's float32 temporaries stay in the cache, whatever the image's size.
BLOCK = 1 << 16
#: Wang et al.'s window, as scikit-image: a Gaussian of sigma 1.5 truncated at 3.5 sigma (radius 5: 11 taps).
GAUSSIAN_SIGMA, GAUSSIAN_RADIUS = 1.5, 5
#: Threads that measure strips side by side (NumPy lets go of the GIL in its loops); None: the processor count, at most 4.
#: A process-pool worker of a run gets its share of the processors (see :mod:`imrestore.executors`).
THREADS: int | None = None
#: ``read(lo, hi)``: the reference's and the estimate's float32 block from ``lo`` to ``hi`` along the leading axes.
BlockReader = Callable[[Sequence[int], Sequence[int]], "tuple[np.ndarray, np.ndarray]"]


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
        total += _squares(d)
    return total


def squares_sum(array: np.ndarray) -> float:
    """The sum of squares, block by block (see :func:`squared_error_sum`)."""
    return sum(_squares(np.array(a)) for a, _ in _blocks(np.asarray(array)))


def _squares(block: np.ndarray) -> float:
    """The sum of squares of a block (squared in place), summed in float64.  Not ``np.dot``: BLAS may hand a float64 dot
    product to threads, which on a busy machine wait for a processor (hundreds of times slower)."""
    block *= block
    return float(block.sum(dtype=np.float64))


def _take(a: np.ndarray, axis: int, start: int, length: int) -> np.ndarray:
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, start + length)
    return a[tuple(index)]


def _box_sums(x: np.ndarray, side: int, axis: int) -> np.ndarray:
    """Sums of ``side`` consecutive elements along ``axis``, wherever all of them are inside (``n - side + 1`` sums).

    Partial sums of 1, 2, 4... elements, each one addition from the one
    before, are added at the offsets of ``side``'s binary digits: a window of
    7 = 1 + 2 + 4 takes four additions.

    >>> _box_sums(np.arange(6.0), 3, 0)
    array([ 3.,  6.,  9., 12.])
    """
    m = x.shape[axis] - side + 1
    if side == 1:
        return x.copy()
    out, first, offset, power, width, rest = None, None, 0, x, 1, side
    while True:
        if rest & 1:
            part = _take(power, axis, offset, m)
            if first is None:  # kept as a view until a second part comes: no copy
                first = part
            elif out is None:
                out = np.add(first, part)
            else:
                out += part
            offset += width
        rest >>= 1
        if not rest:
            return out if out is not None else first.copy()
        n = power.shape[axis] - width
        power = np.add(_take(power, axis, 0, n), _take(power, axis, width, n))
        width *= 2


def _weighted_sums(x: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """Correlation with a symmetric kernel along ``axis``, where it is all inside: each pair of taps is one addition."""
    side = len(weights)
    m, r = x.shape[axis] - side + 1, side // 2
    out = np.multiply(_take(x, axis, r, m), weights[r])
    pair = np.empty_like(out)
    for k in range(r):
        np.add(_take(x, axis, k, m), _take(x, axis, side - 1 - k, m), out=pair)
        pair *= weights[k]
        out += pair
    return out


def _window(gaussian: bool, win_size: int | None) -> tuple[int, np.ndarray | None]:
    """The window's side and its 1-D weights (None: uniform; the sums are divided by the window's size once)."""
    if gaussian:
        if win_size not in (None, 2 * GAUSSIAN_RADIUS + 1):
            raise ValueError(f"ssim: the Gaussian window is {2 * GAUSSIAN_RADIUS + 1} wide; win_size is for the uniform one")
        taps = np.exp(-0.5 * (np.arange(-GAUSSIAN_RADIUS, GAUSSIAN_RADIUS + 1) / GAUSSIAN_SIGMA) ** 2)
        return 2 * GAUSSIAN_RADIUS + 1, (taps / taps.sum()).astype(np.float32)
    side = 7 if win_size is None else int(win_size)
    if side < 1 or side % 2 == 0:
        raise ValueError(f"ssim: win_size must be odd, not {side}")
    return side, None


def _smooth(x: np.ndarray, side: int, weights: np.ndarray | None, axes: Sequence[int]) -> np.ndarray:
    """The window's (valid) local means (uniform: sums; see :func:`_ssim_block_sum`) over ``axes``, the last axis first."""
    for axis in sorted(axes, reverse=True):
        x = _box_sums(x, side, axis) if weights is None else _weighted_sums(x, weights, axis)
    return x


def _ssim_block_sum(x: np.ndarray, y: np.ndarray, side: int, weights: np.ndarray | None, data_range: float,
                    cov_norm: float) -> tuple[float, int]:
    """Sum and count of the SSIM map of a block of ``x`` and ``y`` (float32, with half a window around what it keeps).

    Four filters, not five: the denominator needs only var(x) + var(y), the
    filtered x^2 + y^2.  Every product is computed in place.  (A uniform
    window's sums are divided by its size: keeping the sums and scaling the
    constants instead saves four passes, but loses a digit in flat regions.)
    """
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    axes = range(x.ndim)
    ux, uy = _smooth(x, side, weights, axes), _smooth(y, side, weights, axes)
    prod, tmp = np.multiply(x, x), np.multiply(y, y)
    prod += tmp
    sq = _smooth(prod, side, weights, axes)  # E[x^2 + y^2]
    np.multiply(x, y, out=prod)
    cross = _smooth(prod, side, weights, axes)  # E[xy]
    del prod, tmp
    if weights is None:  # sums to means
        inv = np.float32(1.0 / side**x.ndim)
        for a in (ux, uy, sq, cross):
            a *= inv
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


def block_ssim(shape: Sequence[int], read: BlockReader, *, data_range: float = 1.0, win_size: int | None = None,
               gaussian: bool = False, sample_covariance: bool | None = None, chunks: Sequence[int] | None = None) -> float:
    """Mean SSIM of two arrays of ``shape`` (``YX``, or ``ZYX`` for a 3-D window) that ``read`` hands over block by block.

    ``read`` hands over strips along every axis but the last (``chunks``:
    how many kept rows, planes... each holds; by default a block of about
    :data:`STRIP_ELEMENTS` elements, :data:`BLOCK_PLANES` planes deep in 3-D),
    which are measured in blocks of :data:`BLOCK_COLUMNS` columns; each
    reaches half a window beyond what it keeps.  The map's border is
    left out, as scikit-image's crop does.
    """
    side, weights = _window(gaussian, win_size)
    if min(shape) < side:
        window = "x".join([str(side)] * len(shape))
        raise ValueError(f"ssim: the image {tuple(shape)} is smaller than the {window} window")
    sample = (not gaussian) if sample_covariance is None else sample_covariance
    n = side ** len(shape)
    cov_norm = n / (n - 1) if sample else 1.0
    pad = side // 2
    lead = list(shape[:-1])
    width = shape[-1] - 2 * pad  # kept columns
    columns = [(c, min(c + BLOCK_COLUMNS, width)) for c in range(0, width, BLOCK_COLUMNS)]
    if chunks is None:
        deep = [BLOCK_PLANES] * (len(lead) - 1)
        block_width = min(shape[-1], BLOCK_COLUMNS + 2 * pad)
        rows = max(1, STRIP_ELEMENTS // (block_width * int(np.prod([c + 2 * pad for c in deep], dtype=np.int64))))
        chunks = [*deep, rows]
    boxes = []
    for starts in itertools.product(*[range(pad, size - pad, max(1, c)) for size, c in zip(lead, chunks)]):
        lo = [s - pad for s in starts]
        boxes.append((lo, [min(s + max(1, c), size - pad) + pad for s, c, size in zip(starts, chunks, lead)]))
    def measure(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        parts = [_ssim_block_sum(x[..., c0 : c1 + 2 * pad], y[..., c0 : c1 + 2 * pad], side, weights, float(data_range), cov_norm)
                 for c0, c1 in columns]
        return sum(s for s, _ in parts), sum(k for _, k in parts)

    sums = _each_block(boxes, read, measure)
    total, count = sum(s for s, _ in sums), sum(k for _, k in sums)
    return total / count if count else float("nan")


_POOL: tuple[int, ThreadPoolExecutor] | None = None


def threads() -> int:
    """How many threads measure strips side by side (:data:`THREADS`)."""
    return max(1, THREADS if THREADS is not None else min(4, os.cpu_count() or 1))


def _each_block(boxes: list, read: BlockReader, measure) -> list:
    """``measure`` of each block, in order; blocks are read here (``read`` need not be thread-safe) and measured on
    :func:`threads` threads, at most two blocks a thread in flight (memory stays a few strips)."""
    global _POOL
    n = threads()
    if n == 1 or len(boxes) == 1:
        return [measure(*read(lo, hi)) for lo, hi in boxes]
    if _POOL is None or _POOL[0] != n:
        _POOL = (n, ThreadPoolExecutor(n, thread_name_prefix="imrestore-ssim"))
    out, pending = [], deque()
    for lo, hi in boxes:
        pending.append(_POOL[1].submit(measure, *read(lo, hi)))
        if len(pending) >= 2 * n:
            out.append(pending.popleft().result())
    out.extend(f.result() for f in pending)
    return out


def ssim(reference: np.ndarray, estimate: np.ndarray, *, data_range: float = 1.0, win_size: int | None = None,
         gaussian: bool = False, sample_covariance: bool | None = None, channel_axis: int | None = None,
         volumetric: bool = False, strip_rows: int | None = None) -> float:
    """Mean structural similarity of two images (``YX``, or ``YXC`` with ``channel_axis=-1``: the mean over channels).

    ``gaussian=False`` is scikit-image's default (7x7 uniform window, sample
    covariance); ``gaussian=True`` is Wang et al.'s (11x11 Gaussian of sigma
    1.5, population covariance).  ``sample_covariance`` overrides the
    covariance (scikit-image's ``gaussian_weights=True`` keeps the sample one).
    ``volumetric=True``: ``ZYX`` stacks and a 3-D window, as scikit-image's
    ``structural_similarity`` on 3-D arrays.  ``strip_rows`` sets the rows a
    strip keeps (the result does not depend on it).

    >>> a = np.random.default_rng(1).random((9, 32, 32), dtype=np.float32)
    >>> round(ssim(a, a, volumetric=True), 6)
    1.0
    """
    reference, estimate = np.asarray(reference), np.asarray(estimate)
    if reference.shape != estimate.shape:
        raise ValueError(f"ssim: shapes differ, {reference.shape} vs {estimate.shape}")
    if channel_axis is not None:
        ref_c, est_c = np.moveaxis(reference, channel_axis, -1), np.moveaxis(estimate, channel_axis, -1)
        # one channel at a time as a contiguous float32 plane: the strips are then views, not strided gathers
        return float(np.mean([ssim(np.ascontiguousarray(ref_c[..., c], np.float32), np.ascontiguousarray(est_c[..., c], np.float32),
                                   data_range=data_range, win_size=win_size, gaussian=gaussian, sample_covariance=sample_covariance,
                                   volumetric=volumetric, strip_rows=strip_rows)
                              for c in range(ref_c.shape[-1])]))
    ndim = 3 if volumetric else 2
    if reference.ndim != ndim:
        raise ValueError(f"ssim: expected a {'ZYX stack' if volumetric else 'YX plane'}, got shape {reference.shape}")

    def read(lo: Sequence[int], hi: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        return np.asarray(reference[box], np.float32), np.asarray(estimate[box], np.float32)

    chunks = None if strip_rows is None else [*([BLOCK_PLANES] * (ndim - 2)), strip_rows]
    return block_ssim(reference.shape, read, data_range=data_range, win_size=win_size, gaussian=gaussian,
                      sample_covariance=sample_covariance, chunks=chunks)
