"""Synthetic data with a known truth: a fluorescence-like stack (blobs and filaments seen through a microscope's PSF).

For tests and benchmarks of real-acquisition tools (noise estimation,
self-supervised training) where the clean volume must be known; noise is
added by the chain (``poisson-gaussian:a=...,b=...``) or by the caller.

>>> vol = fluorescence_stack((8, 64, 64), seed=0)
>>> vol.shape, vol.dtype, float(vol.min()) >= 0, float(vol.max()) <= 1
((8, 64, 64), dtype('float32'), True, True)
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def fluorescence_stack(shape: tuple[int, int, int] = (64, 256, 256), seed: int = 0, blobs: int | None = None,
                       filaments: int | None = None, psf_sigma: tuple[float, float, float] = (2.0, 1.2, 1.2),
                       background: float = 0.04) -> np.ndarray:
    """A ``ZYX`` float32 volume in [0, 1]: Gaussian blobs of several sizes (vesicles, nuclei) and curved filaments
    (a cytoskeleton), blurred by an anisotropic Gaussian PSF (wider in z), on a dim background.

    ``blobs`` and ``filaments`` default to a density that fills a 64x256x256 stack as a cell would.
    """
    rng = np.random.default_rng(seed)
    z, y, x = shape
    scale = z * y * x / (64 * 256 * 256)
    vol = np.zeros(shape, np.float32)
    for _ in range(blobs if blobs is not None else max(1, int(300 * scale))):
        c = rng.uniform([0, 0, 0], shape)
        r = rng.choice([1.0, 1.5, 3.0, 5.0], p=[0.45, 0.3, 0.17, 0.08])
        _splat(vol, c, r * np.array([0.7, 1.0, 1.0]), rng.uniform(0.3, 1.0))
    for _ in range(filaments if filaments is not None else max(1, int(80 * scale))):
        _filament(vol, rng)
    vol = ndimage.gaussian_filter(vol, psf_sigma)
    vol /= max(float(np.quantile(vol, 0.9995)), 1e-6)
    return np.clip(background + (1 - background) * vol, 0, 1).astype(np.float32)


def _splat(vol: np.ndarray, centre: np.ndarray, radii: np.ndarray, amplitude: float) -> None:
    """Add a Gaussian of ``radii`` (ZYX) at ``centre``, computed in its bounding box only."""
    lo = np.maximum(np.floor(centre - 3 * radii).astype(int), 0)
    hi = np.minimum(np.ceil(centre + 3 * radii).astype(int) + 1, vol.shape)
    if np.any(hi <= lo):
        return
    grids = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    d2 = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii))
    vol[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] += amplitude * np.exp(-0.5 * d2).astype(np.float32)


def _filament(vol: np.ndarray, rng: np.random.Generator) -> None:
    """A smooth random walk of thin splats, mostly in the focal plane (filaments lie along the coverslip)."""
    shape = np.array(vol.shape, float)
    p = rng.uniform([0, 0, 0], shape)
    direction = rng.normal(size=3) * np.array([0.15, 1.0, 1.0])
    direction /= np.linalg.norm(direction)
    amplitude = rng.uniform(1.0, 2.5)
    for _ in range(int(rng.uniform(0.3, 1.0) * shape[1:].max())):
        turn = rng.normal(scale=0.15, size=3) * np.array([0.1, 1.0, 1.0])
        direction = direction + turn
        direction /= np.linalg.norm(direction)
        p = p + direction
        if np.any(p < 0) or np.any(p >= shape):
            break
        _splat(vol, p, np.array([0.5, 0.6, 0.6]), amplitude)
