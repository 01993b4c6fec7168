"""Helpers for plugin authors: what a restorer or a metric needs again and again, public and documented.

- :func:`noise_sigma`: the noise level a denoiser should remove (its parameter,
  else what the chain's corruption recorded, else estimated from the image);
- :func:`psnr` and :func:`psnr_from_mse`: peak signal-to-noise ratio in dB;
- :func:`error_reason`: the first line of an exception, for one-line messages.

>>> import numpy as np
>>> round(psnr(np.zeros((8, 8)), np.full((8, 8), 0.1)), 2)
20.0
>>> noise_sigma(np.zeros((8, 8)), {"noise_sigma": 0.1}, None)
0.1
"""
from __future__ import annotations

import math

import numpy as np
from skimage.restoration import estimate_sigma

from .errors import error_reason

__all__ = ["error_reason", "noise_sigma", "psnr", "psnr_from_mse"]


def noise_sigma(image: np.ndarray, degradation: dict, sigma255: float | None = None) -> float:
    """The noise level in [0, 1] units: ``sigma255`` (a 0-255 parameter), else the chain's record, else estimated.

    The estimate is scikit-image's wavelet-based ``estimate_sigma`` (averaged
    over the channels of a ``YXC`` image).
    """
    if sigma255 is not None:
        return sigma255 / 255.0
    if "noise_sigma" in degradation:
        return float(degradation["noise_sigma"])
    channel_axis = -1 if image.ndim == 3 else None
    return float(estimate_sigma(image, channel_axis=channel_axis, average_sigmas=True))


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """PSNR in dB of a mean squared error (infinite for a zero error)."""
    return float(10 * math.log10(data_range**2 / mse)) if mse > 0 else float("inf")


def psnr(reference: np.ndarray, estimate: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR in dB between two arrays of the same shape, accumulated in float64."""
    diff = np.asarray(reference, np.float64) - np.asarray(estimate, np.float64)
    return psnr_from_mse(float(np.mean(diff * diff)), data_range)
