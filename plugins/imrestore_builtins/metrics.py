"""Built-in metrics: PSNR and SSIM (scikit-image's), MSE and fastMRI's NMSE; and, for real acquisitions with no
clean image, the no-reference ``noise``, ``residual`` and ``whiteness``.

Images in the pipeline are in [0, 1], so ``data_range`` defaults to 1, which
matches scikit-image's dtype-based default on the integer files.

>>> import numpy as np
>>> ref = np.linspace(0, 1, 16).reshape(4, 4)
>>> round(PSNR()(ref, ref + 0.1), 3)
20.0
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage

from imrestore import hookimpl
from imrestore.errors import NotMeasurable
from imrestore.interfaces import Metric
from imrestore.noise import estimate_noise, unclipped_median
from imrestore.params import param
from imrestore.report import REMOVED_STRUCTURE
from imrestore.similarity import block_ssim, squared_error_sum, squares_sum, ssim


def _data_range(metric_range: float | None, reference: np.ndarray) -> float:
    return float(metric_range) if metric_range is not None else 1.0


def _mse(reference: np.ndarray, estimate: np.ndarray) -> float:
    return squared_error_sum(reference, estimate) / max(reference.size, 1)


@dataclass
class PSNR(Metric):
    """Peak signal-to-noise ratio in dB (as skimage.metrics.peak_signal_noise_ratio), accumulated block by block."""

    name = "psnr"
    float32 = True
    data_range: Optional[float] = param(None, min=0, min_exclusive=True, max=1e12, help="peak value; default 1 (images in [0, 1])")

    def compute(self, reference, estimate):
        return self._psnr(_mse(reference, estimate))

    def from_sums(self, squared_error, squared_reference, count):
        return self._psnr(squared_error / max(count, 1))

    def _psnr(self, mse: float) -> float:
        if mse == 0:
            return float("inf")
        return 10 * math.log10(_data_range(self.data_range, None) ** 2 / mse)


@dataclass
class SSIM(Metric):
    """Structural similarity (as skimage.metrics.structural_similarity, channels last): float32, in strips."""

    name = "ssim"
    float32 = True
    data_range: Optional[float] = param(None, min=0, min_exclusive=True, max=1e12, help="value range; default 1 (images in [0, 1])")
    gaussian_weights: bool = param(False, help="scikit-image's gaussian_weights=True: 11x11 Gaussian window, sample covariance")
    gaussian: bool = param(False, help="Wang et al.'s SSIM, what most papers report: 11x11 Gaussian window of sigma 1.5, "
                           "population covariance")
    volumetric: bool = param(False, key="3d", help="volumes: a 3-D window (7x7x7, or 11x11x11 Gaussian) over each Z stack, "
                             "for isotropic sampling; default: the mean of the planes' SSIM (fastMRI)")

    @property
    def spatial_ndim(self) -> int:
        return 3 if self.volumetric else 2

    def measure_blocks(self, shape, read):
        gaussian = self.gaussian or self.gaussian_weights
        return block_ssim(shape, read, data_range=_data_range(self.data_range, None), gaussian=gaussian,
                          sample_covariance=not self.gaussian)

    def compute(self, reference, estimate):
        if self.volumetric:
            raise NotMeasurable("ssim:3d=true measures a volume's Z stack as a whole; this is a 2-D image")
        channel_axis = -1 if reference.ndim == 3 else None
        gaussian = self.gaussian or self.gaussian_weights
        small = min(reference.shape[:2])
        win = None if small >= (11 if gaussian else 7) else (small if small % 2 else small - 1)
        if win is not None and (win < 3 or gaussian):
            need = "11x11" if gaussian else "3x3"
            raise NotMeasurable(f"ssim: image {reference.shape[:2]} is too small (needs at least {need})")
        # float32, separable filters, strips of rows: scikit-image's value within 1e-4, at a fraction of its time and memory
        return ssim(reference, estimate, data_range=_data_range(self.data_range, reference), win_size=win, gaussian=gaussian,
                    sample_covariance=not self.gaussian, channel_axis=channel_axis)


@dataclass
class MSE(Metric):
    """Mean squared error (in [0, 1] units), accumulated block by block."""

    name = "mse"
    float32 = True
    higher_is_better = False

    def compute(self, reference, estimate):
        return _mse(reference, estimate)

    def from_sums(self, squared_error, squared_reference, count):
        return squared_error / max(count, 1)


@dataclass
class NMSE(Metric):
    """Normalised MSE as in fastMRI: ||ref - est||^2 / ||ref||^2, accumulated block by block."""

    name = "nmse"
    float32 = True
    higher_is_better = False

    def compute(self, reference, estimate):
        return self.from_sums(squared_error_sum(reference, estimate), squares_sum(reference), reference.size)

    def from_sums(self, squared_error, squared_reference, count):
        if squared_reference == 0:
            return float("inf") if squared_error else 0.0
        return squared_error / squared_reference


# --------------------------------------------------------------------------- no reference: real acquisitions


@dataclass
class NoiseLevel(Metric):
    """No reference: the noise standard deviation left in the image, at the median level of its pixels that are not
    clipped (a masked background of zeros is left out; estimated; [0, 1] units x scale)."""

    name = "noise"
    higher_is_better = False
    needs_reference = False
    estimate_only = True
    model: str = param("auto", choices=("auto", "gaussian", "poisson-gaussian", "mri"), help="noise model to fit (see imrestore.noise)")
    scale: float = param(255.0, min=0, min_exclusive=True, help="units of the result: 255 gives the 0-255 scale of the literature")

    def compute(self, reference, estimate):
        model = estimate_noise(estimate, self.model).model
        return model.std_at(unclipped_median(estimate)) * self.scale


def _residual(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    return reference - estimate


@dataclass
class ResidualStructure(Metric):
    """No reference: |correlation| of what the restorer removed (input - output) with its output; 0 = no structure removed."""

    name = "residual"
    higher_is_better = False
    needs_reference = False

    def compute(self, reference, estimate):
        removed = _residual(reference, estimate).ravel()
        out = estimate.ravel()
        if removed.std() == 0 or out.std() == 0:
            return 0.0
        return abs(float(np.corrcoef(removed, out)[0, 1]))


#: ``edges`` above this says the restorer removed structure (calibrated in benchmarks/bench_report_flag.py).
EDGES_FLAG = REMOVED_STRUCTURE


@dataclass
class ResidualEdges(Metric):
    """No reference: how much the energy of the removed part (input - output) follows the output's edges and texture
    (the local energy of its Laplacian of Gaussian, one pixel), as a correlation in [0, 1]; removed noise does not
    follow them, removed detail does: above ``EDGES_FLAG`` (0.3) the restorer removed structure.

    >>> import numpy as np
    >>> from scipy import ndimage
    >>> clean = np.kron(np.random.default_rng(0).random((8, 8)), np.ones((8, 8)))
    >>> ResidualEdges()(clean, ndimage.gaussian_filter(clean, 2)) > EDGES_FLAG
    True
    """

    name = "edges"
    higher_is_better = False
    needs_reference = False

    def compute(self, reference, estimate):
        removed = np.asarray(_residual(reference, estimate), np.float64)
        out = np.asarray(estimate, np.float64)
        if removed.ndim == 3:  # YXC: the channels' energies and edges add up
            removed, out = np.sqrt((removed**2).sum(-1)), out.mean(-1)
        energy = ndimage.gaussian_filter(removed**2, 2.0)  # where the removed part is strong
        edges = np.sqrt(ndimage.gaussian_filter(ndimage.gaussian_laplace(out, 1.0) ** 2, 2.0))  # where the result has edges and texture
        if energy.std() == 0 or edges.std() == 0:
            return 0.0
        return max(float(np.corrcoef(energy.ravel(), edges.ravel())[0, 1]), 0.0)


@dataclass
class ResidualWhiteness(Metric):
    """No reference: mean |correlation| of the removed part with itself one pixel away; 0 = white, as noise should be."""

    name = "whiteness"
    higher_is_better = False
    needs_reference = False

    def compute(self, reference, estimate):
        removed = _residual(reference, estimate)
        removed = removed - removed.mean()
        var = float(np.mean(removed * removed))
        if var == 0:
            return 0.0
        lag_y = float(np.mean(removed[1:] * removed[:-1])) / var
        lag_x = float(np.mean(removed[:, 1:] * removed[:, :-1])) / var
        return (abs(lag_y) + abs(lag_x)) / 2


NO_REFERENCE_METRICS = ("noise", "residual", "whiteness", "edges")


@hookimpl
def register_metrics(register):
    for cls in (PSNR, SSIM, MSE, NMSE, NoiseLevel, ResidualStructure, ResidualWhiteness, ResidualEdges):
        register(cls)
