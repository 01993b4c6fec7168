"""The eight flips and rotations of an image (the dihedral group of the square) and their inverses.

A network trained on natural images has no preferred orientation, yet its errors do: averaging its outputs over the
eight transforms of the input (the self-ensemble of Lim et al. 2017) or turning the input by the next transform at each
step of an iterative loop (DPIR's in-loop augmentation, Zhang et al. 2021) keeps those errors from adding up.

>>> import numpy as np
>>> x = np.arange(6.0).reshape(2, 3)
>>> all(np.array_equal(undo(transform(x, k, f), k, f), x) for k in range(4) for f in (False, True))
True
>>> calls = cycle(lambda im, s: im + s)
>>> [float(calls(x, 1.0)[0, 2]) for _ in range(8)] == [3.0] * 8
True
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

__all__ = ["transform", "undo", "cycle"]

#: The eight transforms as (quarter turns, flip).
TRANSFORMS = tuple((k, flip) for flip in (False, True) for k in range(4))


def transform(x: np.ndarray, k: int, flip: bool, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """``x`` flipped along ``axes[1]`` (if ``flip``), then turned ``k`` quarter turns in the plane of ``axes``."""
    x = np.flip(x, axes[1]) if flip else x
    return np.rot90(x, k, axes=axes)


def undo(y: np.ndarray, k: int, flip: bool, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """The inverse of :func:`transform`: ``undo(transform(x, k, flip), k, flip) == x``."""
    y = np.rot90(y, -k, axes=axes)
    return np.flip(y, axes[1]) if flip else y


def cycle(denoise: Callable[[np.ndarray, float], np.ndarray],
          axes: tuple[int, int] = (0, 1)) -> Callable[[np.ndarray, float], np.ndarray]:
    """``denoise`` whose n-th call sees its image under the n-th of the eight transforms (mod 8), mapped back.

    One call per step, as before; over a loop the orientation-dependent errors of a network average out instead of
    accumulating.  ``axes`` are the image's Y and X (``(1, 2)`` for a ZYX slab denoised plane by plane).
    """
    counter = itertools.count()

    def denoise_turned(image: np.ndarray, sigma: float) -> np.ndarray:
        k, flip = TRANSFORMS[next(counter) % len(TRANSFORMS)]
        turned = np.ascontiguousarray(transform(np.asarray(image), k, flip, axes))
        return np.ascontiguousarray(undo(np.asarray(denoise(turned, sigma)), k, flip, axes))

    return denoise_turned
