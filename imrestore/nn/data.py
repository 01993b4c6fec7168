"""Training data as the networks need it: grey or RGB, and a seeded train/validation split.

(Reading data sets from files or packages is :mod:`imrestore.datasets`'s job.)
"""
from __future__ import annotations

import numpy as np
import torch

from ..channels import to_channels

__all__ = ["center_crops", "split", "stack_nhwc", "stack_volumes", "to_channels", "to_nchw"]


def split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random permutation split (never first-N / last-M: MNIST is sorted by class)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    if n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def stack_nhwc(arrays: list[np.ndarray]) -> torch.Tensor:
    """Images as stored, ``NHWC`` (``NHW1`` for grey): the device makes the NCHW view."""
    arr = np.stack([a[..., None] if a.ndim == 2 else a for a in arrays]).astype(np.float32, copy=False)
    return torch.from_numpy(arr)


def to_nchw(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """NHWC host batch -> NCHW on ``device``; on CUDA the permuted view is channels_last as is.
    A batch of stacks (``N1DHW``, from :func:`stack_volumes`) is already in its network's layout."""
    if batch.ndim == 5:
        return batch.to(device, non_blocking=True)
    x = batch.to(device, non_blocking=True).permute(0, 3, 1, 2)
    return x if device.type == "cuda" else x.contiguous()


def stack_volumes(volumes: list[np.ndarray]) -> torch.Tensor:
    """``ZYX`` stacks of one shape -> an ``N1ZYX`` float32 batch for a 3-D network."""
    return torch.from_numpy(np.stack(volumes).astype(np.float32, copy=False)[:, None])


def center_crops(images: list[np.ndarray], crop: int | None, dims: int = 2) -> list[np.ndarray]:
    """The central ``crop``-sided square of each image, or of each plane of ``ZYX`` stacks (``dims=3``); all of a smaller one."""
    if crop is None:
        return list(images)
    out = []
    for img in images:
        h, w = img.shape[-2:] if dims == 3 else img.shape[:2]
        ch, cw = min(crop, h), min(crop, w)
        y, x = (h - ch) // 2, (w - cw) // 2
        box = (..., slice(y, y + ch), slice(x, x + cw)) if dims == 3 else (slice(y, y + ch), slice(x, x + cw))
        out.append(np.ascontiguousarray(img[box]))
    return out
