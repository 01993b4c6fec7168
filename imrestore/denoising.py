"""Denoisers that serve real acquisitions: the noise model comes from the user, the chain or the data, and white-Gaussian
denoisers handle signal-dependent noise through a variance-stabilising transform.

A :class:`Denoiser` is a restorer of white Gaussian noise of known level
(``denoise(image, sigma)``).  Its ``restore_one`` decides the noise model in
this order: ``sigma=`` (white Gaussian), ``noise_a=``/``noise_b=``
(Poisson-Gaussian), what the chain's corruption recorded, else an estimate
from the image itself (``noise=auto`` chooses the model by a test, see
:func:`imrestore.noise.estimate_noise`).  Poisson-Gaussian noise is removed in
the domain of the generalised Anscombe transform, where it is white with unit
variance, and mapped back with the exact unbiased inverse.  What was
estimated is recorded in the degradation record under ``"estimated"`` (the
run puts it in the report), and noise too weak to remove leaves the image as
it is (do no harm).

Example
-------
>>> import numpy as np
>>> from dataclasses import dataclass
>>> from scipy import ndimage
>>> @dataclass
... class Blur(Denoiser):
...     name = "blur-denoiser"
...     def denoise(self, image, sigma):
...         return ndimage.gaussian_filter(image, 1.0)
>>> rng = np.random.default_rng(0)
>>> noisy = (0.5 + rng.normal(0, 0.1, (64, 64))).astype(np.float32)
>>> record = {}
>>> out = Blur().restore_one(noisy, record)
>>> record["estimated"]["noise"]["model"], bool(out.std() < noisy.std())
('gaussian', True)
"""
from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy import ndimage

from .interfaces import Restorer
from .noise import (
    Gaussian,
    MRIMagnitude,
    NoiseEstimate,
    NoiseModel,
    PoissonGaussian,
    TextureVeto,
    check_model_name,
    estimate_noise,
    local_statistics,
    noise_model,
)
from .params import param

log = logging.getLogger("imrestore")

#: Estimated noise below this standard deviation ([0, 1] units: 4.7 grey levels of 8-bit data) is left alone: clean
#: photographs and micrographs show 1-3 levels of texture, grain and compression that the estimate takes for noise
#: (up to 4.7 with 2 levels of real noise on top, in benchmarks/bench_realdata.py), and removing them moves the
#: image away from itself.  Noise that the user or the chain states is always removed.
MIN_SIGMA = 4.7 / 255


def noise_model_for(image: np.ndarray, degradation: dict, *, sigma255: float | None = None, noise: str = "auto",
                    noise_a: float | None = None, noise_b: float | None = None) -> NoiseEstimate:
    """The noise model of ``image``: given (``sigma255``, ``noise_a``/``noise_b``), recorded by the chain, or estimated.

    >>> noise_model_for(np.zeros((8, 8)), {"noise_sigma": 0.1}).model
    Gaussian(sigma=0.1)
    >>> noise_model_for(np.zeros((8, 8)), {}, noise_a=0.01, noise_b=0.0).reason
    'given: noise_a=0.01, noise_b=0.0'
    """
    if sigma255 is not None:
        return NoiseEstimate(Gaussian(sigma=sigma255 / 255.0), reason=f"given: sigma={sigma255}")
    if noise_a is not None or noise_b is not None:
        return NoiseEstimate(_poisson_gaussian(image, noise_a, noise_b),
                             reason=f"given: noise_a={noise_a}, noise_b={noise_b}".replace("=None", " estimated"))
    if "noise_sigma" in degradation:
        return NoiseEstimate(Gaussian(sigma=float(degradation["noise_sigma"])), reason="from the chain")
    if "noise_a" in degradation:
        return NoiseEstimate(PoissonGaussian(float(degradation["noise_a"]), float(degradation.get("noise_b", 0.0))),
                             reason="from the chain")
    mri = noise == "mri" or (noise == "auto" and degradation.get("modality") == "mri")
    why = "MRI magnitude, as asked" if noise == "mri" else "the file is an MRI acquisition (fastMRI layout): MRI magnitude noise"
    if mri and "mri_sigma" in degradation:  # a volume: one sigma for the acquisition, from many planes' flattest blocks
        return NoiseEstimate(MRIMagnitude(float(degradation["mri_sigma"])),
                             reason=f"{why}, sigma from the flattest blocks of {degradation.get('mri_sigma_planes', '?')} planes of the volume")
    if mri:
        return NoiseEstimate(estimate_noise(image, "mri").model, reason=why)
    found = estimate_noise(image, noise)
    veto = degradation.get("texture_veto")
    if noise == "auto" and veto and isinstance(found.model, PoissonGaussian):  # the whole volume says: texture, not noise
        return NoiseEstimate(Gaussian(float(veto["sigma"])), found.means, found.variances, TextureVeto(**veto).reason())
    return found


def _poisson_gaussian(image: np.ndarray, a: float | None, b: float | None) -> PoissonGaussian:
    """A Poisson-Gaussian model with one parameter given and the other fitted to the image (with the given one fixed)."""
    if a is not None and b is not None:
        return PoissonGaussian(a, b)
    means, variances = local_statistics(image)
    if not means.size:
        return PoissonGaussian(a or 0.0, b or 0.0)
    if a is not None:
        return PoissonGaussian(a, float(np.median(variances - a * means)))
    slope = float(np.median((variances - b) / np.maximum(means, 1e-6)))
    return PoissonGaussian(max(slope, 0.0), b)


def typical_std(model: NoiseModel, image: np.ndarray) -> float:
    """The noise standard deviation at the image's median level."""
    return model.std_at(float(np.median(image)))


def record(estimate: NoiseEstimate, degradation: dict) -> None:
    """Put an estimated or given noise model in the degradation record, which the run copies into the report."""
    if estimate.reason != "from the chain":  # the chain's own noise is in the chain's spec already
        degradation.setdefault("estimated", {})["noise"] = estimate.as_dict()


def too_weak(estimate: NoiseEstimate, image: np.ndarray) -> bool:
    """Whether noise that was *estimated* (not given, not from the chain) is too weak to remove (see ``MIN_SIGMA``)."""
    told = estimate.reason.startswith("given") or estimate.reason == "from the chain"
    return not told and typical_std(estimate.model, image) < MIN_SIGMA


#: The least span of a :class:`UnitDomain`, in units of the (stabilised, unit) noise: its noise is then at most 50/255,
#: the top of the range the shipped blind networks learnt; a signal that spans less, drowned in noise, is centred in it.
MIN_SPAN = 255.0 / 50.0


@dataclass(frozen=True)
class UnitDomain:
    """Where a white-Gaussian denoiser sees an image: stabilised by its noise model (unit noise variance), then
    stretched into [0, 1], so that its noise is white of level ``sigma`` = 1 / span; ``back`` returns a result.

    >>> domain, unit = UnitDomain.of(np.linspace(0, 1, 11), Gaussian(0.1))
    >>> round(domain.sigma, 3), np.allclose(domain.back(unit), np.linspace(0, 1, 11))
    (0.108, True)
    """

    model: NoiseModel
    lo: float
    span: float

    @classmethod
    def of(cls, image: np.ndarray, model: NoiseModel) -> tuple["UnitDomain", np.ndarray]:
        """The domain that stretches the *signal's* range of ``image`` (stabilised) onto [0, 1], and the image in it.

        The signal's range is that of the stabilised image lightly smoothed (a Gaussian of one pixel along each axis
        longer than 4, so not across colour channels): the extremes of the noisy image are noise, up to four standard
        deviations beyond the signal, and stretching them onto [0, 1] would squeeze the signal into part of the range
        that a network's training images filled.  The noise overshoots [0, 1] a little, as it did in training.
        """
        stable = model.stabilise(image)
        smooth = ndimage.gaussian_filter(stable, [1.0 if n > 4 else 0.0 for n in stable.shape], mode="nearest")
        lo, span = float(smooth.min()), float(np.ptp(smooth))
        if not np.isfinite(span):  # an empty or NaN image: any domain will do
            lo, span = 0.0, 0.0
        if span < MIN_SPAN:  # noise that dominates the signal: a wider domain, centred on the signal
            lo, span = lo - (MIN_SPAN - span) / 2, MIN_SPAN
        return cls(model, lo, span), ((stable - lo) / span).astype(np.float32)

    @classmethod
    def fixed(cls, model: NoiseModel, low: float = 0.0, high: float = 1.0) -> "UnitDomain":
        """The domain that maps the levels ``low`` .. ``high`` (stabilised) onto [0, 1]: the same for every image of a data set.

        >>> d = UnitDomain.fixed(PoissonGaussian(0.01, 0.0001))
        >>> [round(float(v), 3) for v in d.into(np.array([0.0, 1.0]))]
        [0.0, 1.0]
        """
        lo, hi = (float(v) for v in model.stabilise(np.array([low, high])))
        return cls(model, lo, (hi - lo) or 1.0)

    def into(self, image: np.ndarray) -> np.ndarray:
        """``image`` in this domain (float32)."""
        return ((self.model.stabilise(image) - self.lo) / self.span).astype(np.float32)

    def as_dict(self) -> dict:
        """For a checkpoint's metadata (see :meth:`from_dict`)."""
        return {"model": self.model.name, **self.model.params(), "lo": self.lo, "span": self.span}

    @classmethod
    def from_dict(cls, values: dict) -> "UnitDomain":
        values = dict(values)
        lo, span = float(values.pop("lo")), float(values.pop("span"))
        return cls(noise_model(values.pop("model"), **values), lo, span)

    @property
    def sigma(self) -> float:
        return 1.0 / self.span

    def back(self, result: np.ndarray) -> np.ndarray:
        """A denoised image of this domain, in the image's own units (the unbiased inverse of the stabilisation)."""
        return self.model.unstabilise(np.asarray(result, np.float64) * self.span + self.lo).astype(np.float32)


def through_model(image: np.ndarray, model: NoiseModel, denoise: Callable[[np.ndarray, float], np.ndarray]) -> np.ndarray:
    """Remove noise of ``model`` from ``image`` with ``denoise(image, sigma)``, a denoiser of white Gaussian noise.

    Gaussian noise goes straight to it; other noise through its :class:`UnitDomain`.
    """
    if isinstance(model, Gaussian):
        return np.asarray(denoise(image, model.sigma), np.float32)
    domain, unit = UnitDomain.of(image, model)
    return domain.back(denoise(unit, domain.sigma))


def record_kept(degradation: dict, note: str) -> None:
    """Record that the restorer kept the item as it is, and why: the run's summary, report.json and HTML page count
    such items and say why (an output equal to its input is then no surprise).

    >>> d = {}; record_kept(d, "tv: too little noise"); d["estimated"]
    {'note': 'tv: too little noise', 'kept': True}
    """
    estimated = degradation.setdefault("estimated", {})
    estimated["note"], estimated["kept"] = note, True


def keep_as_is(restorer: Restorer, estimate: NoiseEstimate, image: np.ndarray, degradation: dict) -> bool:
    """Whether the estimated noise is too weak for ``restorer`` to remove (see ``MIN_SIGMA``); if so, the record says so,
    and the log: a warning with what to do the first time this restorer keeps an image, a debug line after."""
    if not too_weak(estimate, image):
        return False
    name = restorer.name
    note = f"{name}: the noise ({estimate.model.describe()}) is below what it can remove; the image is kept as it is"
    record_kept(degradation, note)
    if getattr(restorer, "_said_kept", False):
        log.debug(note)
    else:  # the first time in a run, where a user sees it: an output equal to its input is no surprise then
        restorer._said_kept = True
        log.warning(f"{note} (so are the next such images, said in the report). To remove it anyway, give sigma= or "
                    "noise_a=/noise_b=; where the data fill only part of their dtype's range (a 16-bit camera), "
                    "--range data judges the noise on the data's own scale")
    return True



@dataclass
class Denoiser(Restorer):
    """A denoiser of white Gaussian noise that also serves real acquisitions (see the module's docstring)."""

    sigma: Optional[float] = param(None, min=0, max=255, help="noise sigma (0-255 scale); default: from the chain, else estimated")
    noise: str = param("auto",
                       help="noise model to estimate when neither the chain nor sigma/noise_a/noise_b say: auto (tests which fits), gaussian, poisson-gaussian, mri (MRI magnitude) or a plugin's")
    noise_a: Optional[float] = param(None, min=0, help="Poisson-Gaussian noise, variance a*x + b ([0, 1] units): a; default: estimated")
    noise_b: Optional[float] = param(None, min=-1, max=1, help="Poisson-Gaussian noise: b, the variance at zero signal; default: estimated")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_model_name(self.noise)

    @abc.abstractmethod
    def denoise(self, image: np.ndarray, sigma: float) -> np.ndarray:
        """Remove white Gaussian noise of standard deviation ``sigma`` ([0, 1] units) from ``image``."""

    def noise_model(self, image: np.ndarray, degradation: dict) -> NoiseEstimate:
        """The noise model of one image, recorded in ``degradation["estimated"]["noise"]`` unless the chain stated it."""
        estimate = noise_model_for(image, degradation, sigma255=self.sigma, noise=self.noise,
                                   noise_a=self.noise_a, noise_b=self.noise_b)
        record(estimate, degradation)
        return estimate

    def restore_one(self, image: np.ndarray, degradation: dict) -> np.ndarray:
        estimate = self.noise_model(image, degradation)
        if keep_as_is(self, estimate, image, degradation):
            return np.array(image, dtype=np.float32, copy=True)
        return through_model(image, estimate.model, self.denoise)
