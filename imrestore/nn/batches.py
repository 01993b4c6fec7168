"""Training batches and the validation set: pure functions of the seed, whatever the number of data workers.

:class:`BatchMaker` turns step ``k`` of a run into one (inputs, targets) batch: seeded crops of the training images,
corrupted by the chain (a multi-scale network's chain takes each scale's down-sampling in turn), or paired with a
second acquisition (Noise2Noise as acquired); :func:`val_set` draws the validation pairs once.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..chain import Chain
from ..registry import build
from .data import center_crops, stack_nhwc, stack_volumes
from .train_options import TrainOptions

__all__ = ["BatchMaker", "val_set", "with_factor"]


class BatchMaker(torch.utils.data.Dataset):
    """Step ``k`` of the run -> one (inputs, targets) batch; a pure function of the seed."""

    def __init__(self, images: list[np.ndarray], chain: Chain, options: TrainOptions, crop: int, steps_per_epoch: int,
                 depth: int | None = None, partners: list[np.ndarray] | None = None):
        self.images, self.chain, self.o, self.crop, self.spe = images, chain, options, crop, steps_per_epoch
        self.depth = depth  # ZYX stacks for a 3-D network: crops this deep
        self.partners = partners  # a second acquisition of each image: Noise2Noise pairs as acquired
        #: A multi-scale network: the chain with each scale's down-sampling, step k taking scale k mod len (one per batch)
        self.chains = [with_factor(chain, s) for s in options.scales] if len(options.scales) > 1 else [chain]

    def __len__(self) -> int:
        return self.o.epochs * self.spe

    def _crop(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.depth:
            return self._crop_stack(img, rng)
        c = self.crop
        h, w = img.shape[:2]
        if h < c or w < c:
            pad = ((0, max(c - h, 0)), (0, max(c - w, 0))) + (((0, 0),) if img.ndim == 3 else ())
            img = np.pad(img, pad, mode="reflect" if min(h, w) > 1 else "edge")
            h, w = img.shape[:2]
        y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        out = img[y : y + c, x : x + c]
        if self.o.flips:
            if rng.random() < 0.5:
                out = out[:, ::-1]
            if rng.random() < 0.5:
                out = out[::-1]
        return np.ascontiguousarray(out)

    def _crop_stack(self, vol: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A ``depth x crop x crop`` box of a ZYX stack (padded by reflection where the stack is smaller), flipped in Y/X."""
        d, c = self.depth, self.crop
        short = [(0, max(want - have, 0)) for want, have in zip((d, c, c), vol.shape)]
        if any(after for _, after in short):
            vol = np.pad(vol, short, mode="reflect" if min(vol.shape) > 1 else "edge")
        z, y, x = (int(rng.integers(0, n - want + 1)) for n, want in zip(vol.shape, (d, c, c)))
        out = vol[z : z + d, y : y + c, x : x + c]
        if self.o.flips:
            if rng.random() < 0.5:
                out = out[:, :, ::-1]
            if rng.random() < 0.5:
                out = out[:, ::-1]
        return np.ascontiguousarray(out)

    def __getitem__(self, step: int):
        epoch, k = divmod(step, self.spe)
        n = len(self.images)
        perm = np.random.default_rng([self.o.seed, epoch]).permutation(n)
        rng = np.random.default_rng([self.o.seed, epoch, k, 1])
        inputs, targets = [], []
        for j in range(self.o.batch_size):
            index = perm[(k * self.o.batch_size + j) % n]
            img = self.images[index]
            if self.partners is not None:  # the same crop of both acquisitions, either one the input
                x, y = _split_pair(self._crop(_pair(img, self.partners[index]), rng), img)
                inputs.append(x if rng.random() < 0.5 else y)
                targets.append(y if inputs[-1] is x else x)
                continue
            clean = self._crop(img, rng)
            key = f"train/{epoch}/{k}/{j}"
            if self.o.targets == "self":  # the images are the noisy data: the method makes its own targets
                inputs.append(clean)
                continue
            chain = self.chains[step % len(self.chains)]
            x, _ = chain.corrupt(clean, seed=self.o.seed, key=key)
            if self.o.targets == "noisy":
                y, _ = chain.corrupt(clean, seed=self.o.seed, key=key + "/target")
            else:
                y = clean
            inputs.append(x)
            targets.append(y)
        stack = stack_volumes if self.depth else stack_nhwc
        batch = stack(inputs)
        return batch, (stack(targets) if targets else batch)


def with_factor(chain: Chain, factor: int) -> Chain:
    """``chain`` with its down-sampling by ``factor`` (the other corruptions as they are)."""
    return Chain([build(f"downsample:factor={factor}") if c.name == "downsample" else c for c in chain.corruptions],
                 chain.restorer, chain.metrics)


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two acquisitions of one image side by side in the channels (cropped and flipped together)."""
    return np.concatenate([a if a.ndim == 3 else a[..., None], b if b.ndim == 3 else b[..., None]], axis=-1)


def _split_pair(both: np.ndarray, like: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = both.shape[-1] // 2
    a, b = both[..., :half], both[..., half:]
    return (a[..., 0], b[..., 0]) if like.ndim == 2 else (a, b)


def val_set(images: list[np.ndarray], chain: Chain, options: TrainOptions, crop: int | None,
             partners: list[np.ndarray] | None = None) -> tuple[list, list]:
    """Validation pairs (reference, input): the clean image and its corruption (seeded), or, for two acquisitions,
    the second acquisition and the first (a noisy reference: its PSNR ranks the epochs as the clean one would)."""
    if partners is not None:
        both = center_crops([_pair(a, b) for a, b in zip(images[: options.max_val], partners)], crop)
        pairs = [_split_pair(p, img) for p, img in zip(both, images)]
        return [b for _, b in pairs], [a for a, _ in pairs]
    clean, noisy = [], []
    factor = math.prod(int(getattr(c, "factor", 1)) for c in chain.corruptions if c.name == "downsample")
    for i, img in enumerate(images[: options.max_val]):
        if crop is not None:
            h, w = img.shape[:2]
            c = min(crop, h, w) // factor * factor  # the restored size must equal the clean one
            y, x = (h - c) // 2, (w - c) // 2
            img = np.ascontiguousarray(img[y : y + c, x : x + c])
        x_, _ = chain.corrupt(img, seed=options.seed + 1, key=f"val/{i}")
        clean.append(img)
        noisy.append(x_)
    return clean, noisy
