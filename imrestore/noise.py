"""Noise models of real acquisitions, their estimation from one image, and variance-stabilising transforms.

Two models, both in the image's [0, 1] units:

- :class:`Gaussian` — white noise of standard deviation ``sigma``;
- :class:`PoissonGaussian` — signal-dependent variance ``a * x + b`` (photon
  counting with gain ``a`` plus read noise of variance ``b``), the model of
  fluorescence microscopes and of most cameras.

:func:`estimate_noise` fits a model to a single noisy image (``"auto"`` picks
the one the data support, and says why), :func:`estimate_gaussian` and
:func:`estimate_poisson_gaussian` fit one on purpose.  A model's
``stabilise`` makes its noise white with unit variance (for Poisson-Gaussian,
the generalised Anscombe transform) and ``unstabilise`` maps a denoised
stabilised image back with the *exact unbiased inverse* (Mäkitalo & Foi
2013), not the algebraic one, which is biased at low counts.  So a denoiser
made for white Gaussian noise serves photon-limited data.

Third parties add models with the ``register_noise_models`` hook: a class
deriving from :class:`imrestore.interfaces.NoiseModel` with ``variance``,
``stabilise``, ``unstabilise`` and an ``estimate`` classmethod; denoisers then
take ``noise=NAME``.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> clean = np.tile(np.linspace(0.05, 0.95, 256), (256, 1))
>>> noisy = clean + rng.normal(0, 1, clean.shape) * np.sqrt(0.02 * clean + 0.001)
>>> model = estimate_poisson_gaussian(noisy)
>>> round(model.a, 3), round(model.b, 3)
(0.022, 0.001)
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage, stats
from skimage.restoration import estimate_sigma

from .errors import ParameterError
from .interfaces import NoiseModel
from .params import param
from .registry import get_registry

#: High-pass filter with unit gain on white noise: its output's variance is the local noise variance.
_HIGH_PASS = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]) / 6.0


@dataclass
class Gaussian(NoiseModel):
    """White Gaussian noise of standard deviation sigma ([0, 1] units)."""

    name = "gaussian"
    sigma: float = param(0.0, min=0, help="standard deviation, in [0, 1] units")

    def variance(self, signal):
        return np.full_like(np.asarray(signal, dtype=np.float64), self.sigma**2) if np.ndim(signal) else self.sigma**2

    def stabilise(self, image):
        return np.asarray(image, np.float64) / max(self.sigma, 1e-12)

    def unstabilise(self, stabilised):
        return np.asarray(stabilised, np.float64) * max(self.sigma, 1e-12)

    def describe(self) -> str:
        return f"white Gaussian, sigma {self.sigma:.4g} ({self.sigma * 255:.2f}/255)"

    @classmethod
    def estimate(cls, image):
        return estimate_gaussian(image)


@dataclass
class PoissonGaussian(NoiseModel):
    """Signal-dependent noise of variance a*x + b: Poisson photon counts with gain a plus Gaussian read noise of variance b."""

    name = "poisson-gaussian"
    a: float = param(0.0, min=0, help="gain: the variance added per unit of signal")
    b: float = param(0.0, help="variance at zero signal (read noise); may be slightly negative after an offset")

    def variance(self, signal):
        return self.a * np.asarray(signal, np.float64) + self.b if np.ndim(signal) else self.a * signal + self.b

    @property
    def _read_noise(self) -> float:
        """The Gaussian part's standard deviation in photon units (sigma / a)."""
        return math.sqrt(max(self.b, 0.0)) / self.a

    def stabilise(self, image):
        """The generalised Anscombe transform: 2 * sqrt(x/a + 3/8 + (sigma/a)^2), noise of unit variance."""
        if self.a <= 0:
            return Gaussian(math.sqrt(max(self.b, 1e-24))).stabilise(image)
        photons = np.asarray(image, np.float64) / self.a
        return 2.0 * np.sqrt(np.maximum(photons + 0.375 + self._read_noise**2, 0.0))

    def unstabilise(self, stabilised):
        """The exact unbiased inverse: the signal whose expected transform is ``stabilised`` (tabulated, then interpolated)."""
        if self.a <= 0:
            return Gaussian(math.sqrt(max(self.b, 1e-24))).unstabilise(stabilised)
        grid, expected = unbiased_table(round(self._read_noise, 4))
        d = np.asarray(stabilised, np.float64)
        photons = np.interp(d, expected, grid)
        beyond = d > expected[-1]  # far above the table: the asymptotic (algebraic, unbiased there) inverse
        photons[beyond] = (d[beyond] / 2.0) ** 2 - 0.125 - self._read_noise**2
        photons[d < expected[0]] = 0.0
        return photons * self.a

    def describe(self) -> str:
        return f"Poisson-Gaussian, variance {self.a:.4g}*x + {self.b:.4g}"

    @classmethod
    def estimate(cls, image):
        return estimate_poisson_gaussian(image)


@dataclass
class MRIMagnitude(NoiseModel):
    """The noise of an MRI magnitude image: white Gaussian of standard deviation ``sigma`` in the image where the signal
    stands well above it, Rician below (the magnitude of complex Gaussian noise: weaker, and biased up, where the
    signal is low; Gudbjartsson & Patz 1995). Stabilised as white Gaussian noise of level ``sigma``."""

    name = "mri"
    sigma: float = param(0.0, min=0, help="standard deviation of the Gaussian noise in each of the real and imaginary channels, [0, 1] units")

    def variance(self, signal):
        """The variance of the magnitude at an observed mean level ``signal``: sigma^2 far above the floor, down to
        (2 - pi/2) sigma^2 (Rayleigh) where there is no signal."""
        if self.sigma <= 0:
            return np.zeros_like(np.asarray(signal, np.float64)) if np.ndim(signal) else 0.0
        level, ratio = _rician_table()
        out = np.interp(np.asarray(signal, np.float64) / self.sigma, level, ratio) * self.sigma**2
        return out if np.ndim(signal) else float(out)

    def stabilise(self, image):
        return Gaussian(self.sigma).stabilise(image)

    def unstabilise(self, stabilised):
        return Gaussian(self.sigma).unstabilise(stabilised)

    def describe(self) -> str:
        return f"MRI magnitude (Gaussian, Rician at low signal), sigma {self.sigma:.4g} ({self.sigma * 255:.2f}/255)"

    @classmethod
    def estimate(cls, image):
        return cls(estimate_mri_sigma(image))


@functools.lru_cache(maxsize=1)
def _rician_table() -> tuple[np.ndarray, np.ndarray]:
    """The mean and the variance of a Rician variable of unit sigma as its signal grows from 0 to 12: (mean, variance)."""
    from scipy.special import ive

    nu = np.linspace(0.0, 12.0, 241)
    t = nu**2 / 4.0  # the mean: sqrt(pi/2) L_{1/2}(-nu^2/2), with scaled Bessel functions for stability
    mean = np.sqrt(np.pi / 2) * ((1 + 2 * t) * ive(0, t) + 2 * t * ive(1, t))
    return mean, 2.0 + nu**2 - mean**2


#: Blocks of this side whose high-pass energy estimates the noise (one value per block) ...
BLOCK = 8
#: ... and the quantile of their energies that estimates it (the flattest blocks hold little but noise).  Both chosen
#: on 15 of scikit-image's photographs with white noise of sigma 2, 5 and 10 added (the smallest mean |log| error,
#: 0.12, of blocks 4, 6, 8 and quantiles 0.005-0.05), not on MRI data.
BLOCK_QUANTILE = 0.01


def estimate_mri_sigma(image: np.ndarray | Sequence[np.ndarray]) -> float:
    """The noise sigma of an MRI magnitude image, or of a stack of them (a list of planes: one sigma for all, from the
    blocks of every plane together), from its flattest parts.

    Anatomy has texture at the scale of a pixel everywhere (a local estimate sees it as noise), and the background is
    often masked to zero, so neither the background nor smooth regions are at hand. Instead: the high-pass energy of
    each ``BLOCK``-sided block inside the object (no zero or clipped pixel, above the Rician floor), its
    ``BLOCK_QUANTILE`` quantile (the flattest blocks), divided by what that quantile is for white noise of unit
    variance (``WHITE_QUANTILE``).  The more blocks, the flatter the flattest: a stack's planes
    pooled estimate far better than one small plane (on a real EPI series, 9.7 against 13.7 per plane for a
    repeated-acquisition sigma of 8.9: benchmarks/bench_mri_realdata.py).  A ``YXC`` image pools its channels.
    """
    planes = [p for im in (image if isinstance(image, (list, tuple)) else [image]) for p in _planes(im)]
    found = [_block_energies(p) for p in planes]
    energies, levels = np.concatenate([e for e, _ in found]), np.concatenate([lv for _, lv in found])
    sigma = math.nan
    for _ in range(3):  # blocks on the Rician floor (signal below 3 sigma) have weaker noise: leave them out
        keep = levels > 3 * sigma if math.isfinite(sigma) else np.ones(levels.shape, bool)
        if keep.sum() < 20:  # too little of the object: the wavelet estimate
            return float(np.median([estimate_gaussian(p).sigma for p in planes]))
        sigma = math.sqrt(float(np.quantile(energies[keep], BLOCK_QUANTILE)) / WHITE_QUANTILE)
    return sigma


def _block_energies(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean squared high-pass residual of each block inside the object (no clipped or zero pixel in or next to it),
    and each block's mean level."""
    residual = ndimage.convolve(plane, _HIGH_PASS, mode="reflect")
    low, high = _clipped_levels(plane)
    inside = (plane > 0) & (plane != low) & (plane != high) if (low is not None or high is not None) else plane > 0
    inside = ndimage.binary_erosion(inside, iterations=2)
    h, w = (n // BLOCK * BLOCK for n in plane.shape)
    if not h or not w:
        return np.zeros(0), np.zeros(0)
    blocks = lambda a: a[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK * BLOCK)
    keep = blocks(inside).all(axis=1)
    return (blocks(residual) ** 2).mean(axis=1)[keep], blocks(plane).mean(axis=1)[keep]


#: ``BLOCK_QUANTILE`` of the block energies of white noise of unit variance (:func:`white_quantile` simulates it;
#: tests/test_mri_noise.py checks this value against the simulation).
WHITE_QUANTILE = 0.434


def white_quantile(side: int = 1024, seed: int = 0) -> float:
    """``BLOCK_QUANTILE`` of the block energies of white noise of unit variance, simulated on ``side`` squared pixels."""
    noise = np.random.default_rng(seed).normal(size=(side, side))
    return float(np.quantile(_block_energies(noise + 10.0)[0], BLOCK_QUANTILE))


@functools.lru_cache(maxsize=64)
def unbiased_table(read_noise: float, top: float = 400.0) -> tuple[np.ndarray, np.ndarray]:
    """E[GAT(z)] for z = Poisson(lambda) + N(0, read_noise^2), on a grid of lambda (photons): the exact unbiased inverse's table."""
    grid = np.concatenate([np.linspace(0.0, 2.0, 81)[:-1], np.geomspace(2.0, top, 160)])
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)  # E over the read noise: Gauss-Hermite quadrature
    weights = weights / weights.sum()
    k = np.arange(0, int(top + 12 * math.sqrt(top) + 20))
    expected = np.empty_like(grid)
    for i, lam in enumerate(grid):
        pmf = stats.poisson.pmf(k, lam) if lam > 0 else (k == 0).astype(float)
        keep = pmf > 1e-14
        z = k[keep, None] + read_noise * nodes[None, :]
        f = 2.0 * np.sqrt(np.maximum(z + 0.375 + read_noise**2, 0.0))
        expected[i] = float(pmf[keep] @ (f @ weights))
    return grid, np.maximum.accumulate(expected)  # monotone for interpolation


# --------------------------------------------------------------------------- estimation


@dataclass
class NoiseEstimate:
    """A fitted model and what the fit saw: local means and variances of smooth regions, and why the model was chosen."""

    model: NoiseModel
    means: np.ndarray = field(default_factory=lambda: np.zeros(0))
    variances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reason: str = ""

    def as_dict(self) -> dict:
        """For reports: the model's name, its parameters and the test that chose it."""
        return {"model": self.model.name, **self.model.params(), "reason": self.reason}


def _planes(image: np.ndarray) -> list[np.ndarray]:
    """Grey planes of a ``YX`` or ``YXC`` image (each channel on its own)."""
    image = np.asarray(image, np.float64)
    return [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[-1])]


def estimate_gaussian(image: np.ndarray) -> Gaussian:
    """White Gaussian noise: scikit-image's robust wavelet estimate (the median over channels)."""
    sigmas = [float(estimate_sigma(p)) if np.ptp(p) > 0 else 0.0 for p in _planes(image)]
    sigma = float(np.median(sigmas))
    return Gaussian(sigma=sigma if np.isfinite(sigma) else 0.0)  # a constant (empty) plane: no noise to see


def local_statistics(image: np.ndarray, window: int = 7, bins: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Means and noise variances of the smooth parts of ``image``, in ``bins`` levels of the signal (Foi et al. 2008's idea).

    A high-pass filter with unit gain on white noise gives, in smooth regions,
    the noise alone; pixels near edges (a large local gradient of the smoothed
    image) are left out; in each level set of the local mean the variance is
    taken robustly (the squared MAD), so the texture that is left does not
    count as noise.  Levels touching 0 or 1 are left out (clipping lowers the
    variance there).
    """
    means, variances = [], []
    for plane in _planes(image):
        residual = ndimage.convolve(plane, _HIGH_PASS, mode="reflect")
        local = ndimage.uniform_filter(plane, window, mode="reflect")
        smooth = ndimage.gaussian_filter(plane, 3.0)
        activity = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
        low, high = _clipped_levels(plane)
        interior = np.zeros(plane.shape, bool)  # the filters' footprints reach past the border: leave it out
        interior[tuple(slice(window // 2, -(window // 2) or None) for _ in plane.shape)] = True
        if interior.sum() < 100:
            interior[...] = True
        edges = np.unique(np.quantile(local[interior], np.linspace(0, 1, bins + 1)))
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = (local >= lo) & (local < hi) & interior
            if inside.sum() < 100:
                continue
            act = activity[inside]
            flat = act <= np.quantile(act, 0.5)  # the smoother half of this level (per level: noise varies with it)
            rr, level = residual[inside][flat], float(np.median(local[inside][flat]))
            var = (1.4826 * np.median(np.abs(rr - np.median(rr)))) ** 2
            if (low is not None and level - 3 * math.sqrt(var) <= low) or (high is not None and level + 3 * math.sqrt(var) >= high):
                continue  # clipping lowers the variance near the limit
            means.append(level)
            variances.append(var)
    return np.asarray(means), np.asarray(variances)


def _clipped_levels(plane: np.ndarray) -> tuple[float | None, float | None]:
    """The levels at which the data were clipped (many pixels exactly at the minimum or the maximum), or None."""
    lo, hi = float(plane.min()), float(plane.max())
    return (lo if np.mean(plane == lo) > 1e-3 else None), (hi if np.mean(plane == hi) > 1e-3 else None)


def unclipped_median(image: np.ndarray) -> float:
    """The median of the pixels not at a clipped level (see :func:`_clipped_levels`): a masked background of zeros, or
    a saturated area, is not where the noise is measured.

    >>> round(unclipped_median(np.r_[np.zeros(900), np.linspace(0.5, 0.7, 1001)]), 3)
    0.6
    """
    image = np.asarray(image)
    low, high = _clipped_levels(image.astype(np.float64, copy=False))
    keep = np.ones(image.shape, bool)
    if low is not None:
        keep &= image != low
    if high is not None:
        keep &= image != high
    return float(np.median(image[keep])) if keep.any() else float(np.median(image))


def _variance_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope, intercept and the slope's standard error of variances ``y`` against levels ``x``: least squares
    re-weighted to ignore outliers (Tukey's biweight), each point weighted by 1 / fit^2 and judged by its residual
    relative to the fit, since a variance estimate's spread grows with the variance (as in Foi et al.'s likelihood):
    the quiet dark levels pin the intercept that the noisy bright ones blur.
    """
    w = np.ones_like(x)
    slope, intercept = 0.0, float(np.median(y))
    floor = 1e-3 * max(float(np.median(np.abs(y))), 1e-30)
    for _ in range(20):
        ww = w / np.maximum(slope * x + intercept, floor) ** 2
        design = np.stack([x * np.sqrt(ww), np.sqrt(ww)], axis=1)
        slope, intercept = np.linalg.lstsq(design, y * np.sqrt(ww), rcond=None)[0]
        resid = (y - (slope * x + intercept)) / np.maximum(slope * x + intercept, floor)
        scale = 1.4826 * np.median(np.abs(resid)) + 1e-18
        u = resid / (4.685 * scale)
        w = np.where(np.abs(u) < 1, (1 - u**2) ** 2, 0.0)
    try:
        se = float(scale * math.sqrt(np.linalg.inv(design.T @ design)[0, 0]))
    except (np.linalg.LinAlgError, ValueError):  # one level left, or all at one mean: the slope is not resolved
        se = float("inf")
    return float(slope), float(intercept), se


def estimate_poisson_gaussian(image: np.ndarray) -> PoissonGaussian:
    """Fit variance = a * x + b to the smooth parts of one image (see :func:`local_statistics`); a >= 0."""
    return _fit_poisson_gaussian(*local_statistics(image))[0]


def _fit_poisson_gaussian(means: np.ndarray, variances: np.ndarray) -> tuple[PoissonGaussian, float]:
    """The fitted model and how many standard errors its slope lies above zero."""
    finite = np.isfinite(means) & np.isfinite(variances)  # NaN pixels (a float TIFF's masked area) leave NaN levels
    means, variances = means[finite], variances[finite]
    if means.size < 3:
        return PoissonGaussian(0.0, float(np.median(variances)) if variances.size else 0.0), 0.0
    a, b, se = _variance_line(means, variances)
    t = a / se if se > 0 else 0.0
    if a < 0:
        a, b = 0.0, float(np.median(variances))
    return PoissonGaussian(a=a, b=b), t


#: ``auto`` takes Poisson-Gaussian noise unless its fitted variance is flat: grows by less than this from dark to bright
#: levels.  White Gaussian noise is its special case a = 0, and the fit's spurious slope on white noise makes the
#: transform nearly linear (bench_realdata: the blind n2n-unet within 0.07 dB of the true sigma from sigma 5 to 50),
#: while missing the real slope of a dim image, whose variance grows by only 3-15 % over its narrow range of levels,
#: cost up to 1.2 dB.
AUTO_RATIO = 1.02
#: ... and its slope lies at least this many standard errors above zero (on a flat image the levels span too little to
#: resolve a slope: a weak test, as the costs are unequal).
AUTO_T = 1.0


#: ``noise=auto`` on many planes of one acquisition (a stack, a data set): a signal dependence that the flattest blocks
#: do not hold is texture, not noise. The ``BLOCK_QUANTILE`` of their energies over the Poisson-Gaussian fit's variance at
#: their levels, against white noise's (1 where the fit is the noise), below this vetoes the fit: 0.95-1.06 on photon-
#: limited stacks (the tests' and imrestore.synthetic's), 0.43-0.78 on sets of planes of a real MRI (EPI) series, whose
#: bright tissue has more texture than its dark tissue. Set with that series in view (not on independent data), between
#: the two, and nearer the noise: a false veto removes photon noise as white noise of the flattest blocks' level (less
#: than it could), a missed one lets texture pass for noise (structure removed). Judged only on at least
#: ``TEXTURE_BLOCKS`` blocks (a quantile of few is too noisy).
AUTO_TEXTURE = 0.8
TEXTURE_BLOCKS = 500


@dataclass(frozen=True)
class TextureVeto:
    """What :func:`texture_veto` found: the flattest blocks' share of the fitted noise, and the noise they hold."""

    ratio: float
    sigma: float
    planes: int

    def reason(self, seen: str = "") -> str:
        return (f"the variance grows with the signal{f' ({seen})' if seen else ''}, but the flattest blocks of {self.planes} "
                f"planes hold {self.ratio:.2f}x the noise that growth predicts: texture, not signal-dependent noise; "
                "white Gaussian, its level from those blocks")


def texture_veto(planes: Sequence[np.ndarray]) -> TextureVeto | None:
    """Whether a Poisson-Gaussian fit to ``planes`` (grey, of one acquisition) is texture (see ``AUTO_TEXTURE``): the
    veto, or None where the fit holds or there are too few blocks to judge."""
    stats = [local_statistics(p) for p in planes]
    pg, _ = _fit_poisson_gaussian(np.concatenate([m for m, _ in stats]), np.concatenate([v for _, v in stats]))
    found = [_block_energies(np.asarray(p, np.float64)) for p in planes]
    energies, levels = np.concatenate([e for e, _ in found]), np.concatenate([lv for _, lv in found])
    if energies.size < TEXTURE_BLOCKS or pg.a <= 0:
        return None
    ratio = float(np.quantile(energies / np.maximum(pg.variance(levels), 1e-20), BLOCK_QUANTILE)) / WHITE_QUANTILE
    return TextureVeto(ratio, estimate_mri_sigma(list(planes)), len(planes)) if ratio < AUTO_TEXTURE else None


def check_model_name(name: str) -> str:
    """``name`` if it is ``auto`` or a registered noise model, else a :class:`ParameterError` that lists them."""
    known = ["auto", *get_registry().entries["noise-model"]]
    if name not in known:
        raise ParameterError(f"unknown noise model {name!r}; use one of {', '.join(known)}")
    return name


def noise_model(name: str, **params: float) -> NoiseModel:
    """The registered noise model ``name`` with ``params`` (as a checkpoint or a report records it).

    >>> noise_model("poisson-gaussian", a=0.01, b=0.0)
    PoissonGaussian(a=0.01, b=0.0)
    """
    check_model_name(name)
    return get_registry().lookup(name, kind="noise-model").cls(**params)


def estimate_noise(image: np.ndarray, model: str = "auto") -> NoiseEstimate:
    """Fit a noise model to one image: ``"gaussian"``, ``"poisson-gaussian"`` or ``"auto"``.

    ``auto`` takes Poisson-Gaussian when the fitted variance grows with the
    signal at all over the image's range of levels (the variance at the 95th
    percentile of the local means at least ``AUTO_RATIO`` = 1.02 times the
    variance at the 5th, and the slope at least ``AUTO_T`` = 1 standard error
    above zero), white Gaussian (its special case) otherwise; ``reason`` says
    what the test found.
    """
    if model == "gaussian":
        return NoiseEstimate(estimate_gaussian(image), reason="white Gaussian, as asked")
    if model == "mri":
        return NoiseEstimate(MRIMagnitude.estimate(image), reason="MRI magnitude, as asked")
    means, variances = local_statistics(image)
    pg, t = _fit_poisson_gaussian(means, variances)
    if model == "poisson-gaussian":
        return NoiseEstimate(pg, means, variances, "Poisson-Gaussian, as asked")
    if model != "auto":
        cls = get_registry().lookup(model, kind="noise-model").cls  # a plugin's model (an unknown name lists the known ones)
        return NoiseEstimate(cls.estimate(image), reason=f"{model}, as asked")
    if means.size < 3:
        return NoiseEstimate(estimate_gaussian(image), means, variances, "too few smooth regions to see a signal dependence")
    lo, hi = np.quantile(means, [0.05, 0.95])
    v_lo, v_hi = pg.variance(float(lo)), pg.variance(float(hi))
    ratio = v_hi / v_lo if v_lo > 0 else float("inf")
    seen = f"{ratio:.2f}x from level {lo:.2f} to {hi:.2f}, slope {t:+.1f} standard errors from 0"
    if ratio >= AUTO_RATIO and t >= AUTO_T:
        return NoiseEstimate(pg, means, variances, f"the noise variance grows with the signal ({seen})")
    return NoiseEstimate(estimate_gaussian(image), means, variances, f"the noise variance does not grow with the signal ({seen})")
