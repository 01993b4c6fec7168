"""Training data as the networks need it: grey or RGB, and a seeded train/validation split.

(Reading data sets from files or packages is :mod:`imrestore.datasets`'s job.)
"""
from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Convert grey <-> RGB as the network needs."""
    if channels == 1 and img.ndim == 3:
        return rgb2gray(img).astype(np.float32)
    if channels == 3 and img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    return img


def split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random permutation split (never first-N / last-M: MNIST is sorted by class)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    if n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
