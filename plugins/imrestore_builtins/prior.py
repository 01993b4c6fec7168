"""``restorer:pnp``: any denoiser as the prior of a linear inverse problem (plug-and-play).

A denoiser trained with the quadratic loss computes E[X | X̃]; combined with the forward operator of a degradation
(blur, missing pixels, down-sampling, k-space under-sampling: :mod:`imrestore.forward`) it inverts that degradation
(:func:`imrestore.priors.pnp`, half-quadratic splitting with DPIR's annealed schedule, or ADMM).  The prior is a
denoiser's spec inside this one's, in brackets where it has parameters::

    imrestore run "blur:sigma=2 gaussian:sigma=2.55 restorer:pnp" camera.png out.png
    imrestore run "restorer:pnp:denoiser=[bm3d:profile=np]" ...
    imrestore run restorer:pnp:psf=psf.tif widefield.tif deconvolved.tif      # real data: a measured PSF

>>> import numpy as np
>>> keep = np.random.default_rng(0).random((32, 32)) > 0.5
>>> from imrestore.operators import Mask
>>> pnp = PlugAndPlay(denoiser="tv", sigma=1.0)
>>> out = pnp(np.where(keep, 0.5, 0.0).astype(np.float32), {"operators": [Mask(keep)], "unmodelled": []})
>>> bool(abs(out.mean() - 0.5) < 0.01)
True
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from imrestore import hookimpl
from imrestore.denoising import MIN_SIGMA
from imrestore.errors import ParameterError
from imrestore.forward import OperatorChoice, choose_operator, read_mask, read_psf
from imrestore.interfaces import EXTRA_OUTPUTS, Restorer
from imrestore.noise import estimate_noise
from imrestore.operators import Compose, LinearOperator
from imrestore.params import param
from imrestore.priors import pnp, pnp_sample
from imrestore.registry import build

from .corruptions import gaussian_psf

log = logging.getLogger("imrestore")

#: Denoiser calls by default: DPIR's 8 where the measurement holds every pixel (deblurring, denoising), 24 where the
#: operator drops pixels or pools them (masks, down-sampling), whose gaps the prior fills over more steps; 100 for
#: k-space under-sampling, whose missing frequencies spread over the whole image (benchmarks/bench_mri_prior.py: at 8x,
#: 24 calls gain 2.1 dB over zero filling, 100 gain 4.3).
ITERATIONS = {"complete": 8, "incomplete": 24, "kspace": 100}


def _drops(op: LinearOperator) -> bool:
    """Whether ``op`` loses pixels or frequencies outright (not merely attenuates them)."""
    if isinstance(op, Compose):
        return any(_drops(o) for o in op.ops)
    return op.kind in ("mask", "pool", "fourier")


def _has(op: LinearOperator, kind: str) -> bool:
    """Whether ``op`` is, or composes, an operator of ``kind``."""
    return any(_has(o, kind) for o in op.ops) if isinstance(op, Compose) else op.kind == kind


def denoiser_call(prior: Restorer):
    """``denoise(image, sigma)`` of a prior, or None where the restorer is no denoiser."""
    return getattr(prior, "denoise", None) if callable(getattr(prior, "denoise", None)) else None


@dataclass
class PlugAndPlay(Restorer):
    """Plug-and-play restoration: a denoiser as the prior, inverting the chain's blur, masks, down-sampling or k-space
    under-sampling (DPIR's half-quadratic splitting; ADMM as an option), or a PSF, factor or mask given for real data."""

    name = "pnp"
    aliases = ("plug-and-play",)
    tiling_safe = False
    uses_gpu = True

    denoiser: str = param("tv", help="the prior: a denoiser's spec, in brackets where it has parameters "
                          "(denoiser=[bm3d:profile=np], denoiser=n2n-unet); default: total variation, which beats the "
                          "shipped noise-level-conditioned U-Net as a prior (benchmarks/results/bench_prior.md)")
    method: str = param("hqs", choices=("hqs", "admm"), help="half-quadratic splitting (DPIR) or ADMM")
    iterations: Optional[int] = param(None, min=1, max=1000, help="denoiser calls per image; default: 8 where every pixel "
                                      "is measured (deblurring), 24 where pixels are missing or pooled (masks, "
                                      "down-sampling), 100 for under-sampled k-space")
    sigma_start: float = param(49.0, min=0, min_exclusive=True, max=255, help="the prior's noise level at the first "
                               "iteration (0-255 scale); the schedule falls log-evenly to the measurement's")
    lam: float = param(0.23, min=0, min_exclusive=True, max=1000, help="weight of the data against the prior (DPIR's lambda)")
    sigma: Optional[float] = param(None, min=0, max=255, help="the measurement's noise sigma (0-255 scale); default: "
                                   "from the chain, else estimated")
    psf: Optional[str] = param(None, help="real data: a measured PSF, an image file or .npy, 2-D (normalised to sum 1)")
    psf_sigma: Optional[float] = param(None, min=0, min_exclusive=True, max=100, help="real data: a Gaussian PSF of this "
                                       "sigma in pixels")
    factor: Optional[int] = param(None, min=2, max=16, help="real data: up-sample by this factor (the measurement is an "
                                  "average-pooled image)")
    mask: Optional[str] = param(None, help="real data: an image file (or .npy) of the image's size whose non-zero pixels "
                                "are missing")
    samples: Optional[int] = param(None, min=1, max=1000, help="draw this many posterior samples (DiffPIR) instead of one "
                                   "point estimate: the output is their mean, and their per-pixel standard deviation is "
                                   "written beside it as NAME.std.EXT (where the restoration is uncertain); each sample "
                                   "costs the iterations' denoiser calls")
    zeta: float = param(0.5, min=0, max=1, help="with samples: the share of fresh noise when a sample is noised again "
                        "for the next step (DiffPIR's zeta; 0 keeps the noise the denoiser saw)")

    def __post_init__(self) -> None:
        super().__post_init__()
        prior = build(self.denoiser, kind="restorer")
        if denoiser_call(prior) is None:
            raise ParameterError(f"pnp: {prior.name} is not a denoiser (it has no denoise(image, sigma)); the prior must "
                                 "be one, e.g. denoiser=n2n-unet, bm3d, tv, nlmeans or wavelet")
        if getattr(prior, "spatial_ndim", 2) != 2:
            raise ParameterError(f"pnp: {prior.name} denoises ZYX volumes; the prior must be a 2-D denoiser")
        self._prior = prior
        self._psf = read_psf(self.psf) if self.psf is not None else None
        if self._psf is not None and self.psf_sigma is not None:
            raise ParameterError("pnp: give psf=FILE or psf_sigma=PIXELS, not both")
        self._mask = read_mask(self.mask) if self.mask is not None else None
        self._said = False

    def prepare(self, corruptions: list) -> None:
        self._prior.prepare([])  # the prior serves a loop, not the chain: the weights for white noise

    def _choice(self, image: np.ndarray, degradation: dict) -> OperatorChoice:
        return self._choose(image.shape, degradation)

    def _choose(self, shape: tuple[int, ...], degradation: dict) -> OperatorChoice:
        psf, name = self._psf, f"psf={self.psf}"
        if self.psf_sigma is not None:
            psf, name = gaussian_psf(self.psf_sigma), f"psf_sigma={self.psf_sigma:g}"
        return choose_operator(degradation, shape, psf=psf, psf_name=name, factor=self.factor,
                               mask=self._mask, mask_name=f"mask={self.mask}")

    @property
    def extra_outputs(self) -> tuple[str, ...]:
        return ("std",) if self.samples else ()

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """A PSF larger than the image or a mask of another size stops a run on real data before it writes."""
        if self._psf is not None or self.factor is not None or self._mask is not None:
            self._choose(tuple(shape), {})

    def _noise(self, image: np.ndarray, start: np.ndarray, degradation: dict) -> tuple[float, str]:
        """The measurement's noise sigma ([0, 1] units) and where it came from."""
        if self.sigma is not None:
            return self.sigma / 255.0, "given: sigma"
        if "noise_sigma" in degradation:
            return float(degradation["noise_sigma"]), "the chain"
        if "noise_a" in degradation:  # Poisson-Gaussian: its level at the median signal
            a, b = float(degradation["noise_a"]), float(degradation.get("noise_b", 0.0))
            return float(np.sqrt(max(a * np.median(image) + b, 0.0))), "the chain (Poisson-Gaussian, at the median level)"
        if degradation.get("operators"):  # a synthetic chain of linear corruptions and no noise: the data are exact
            return 0.0, "the chain (no noise corruption)"

        sigma = float(estimate_noise(np.asarray(start, np.float32), "gaussian").model.sigma)
        return sigma, "estimated (white Gaussian, wavelet MAD)"

    def calls(self, choice: OperatorChoice) -> int:
        """Denoiser calls per image for this operator."""
        if self.iterations is not None:
            return self.iterations
        if _has(choice.op, "fourier"):
            return ITERATIONS["kspace"]
        return ITERATIONS["incomplete" if _drops(choice.op) else "complete"]

    def restore_one(self, image, degradation):
        choice = self._choice(image, degradation)
        y = np.asarray(image, np.float64)
        start = choice.op.initial(y, choice.out_shape)
        # the noise is judged where every pixel is measured: the first guess fills a mask's gaps, not a blur's
        sigma, sigma_from = self._noise(image, start if _drops(choice.op) and start.shape == y.shape else y, degradation)
        if choice.op.kind == "identity" and sigma_from.startswith("estimated") and sigma < MIN_SIGMA:
            # nothing to invert and too little noise to remove: as every denoiser does, keep the data (do no harm)
            note = (f"pnp: no operator to invert and the estimated noise (sigma {sigma * 255:.2f}) is below what can be "
                    "removed; the image is kept as it is (give sigma=, or psf=/factor=/mask= for what to invert)")
            degradation.setdefault("estimated", {})["note"] = note
            if not self._said:
                self._said = True
                log.warning(note)
            return np.array(image, dtype=np.float32, copy=True)
        iterations = self.calls(choice)
        if not self._said:
            self._said = True
            how = (f"{self.samples} samples x {iterations} = {self.samples * iterations} calls" if self.samples
                   else f"{iterations} calls")
            log.info(f"pnp: {how} of {self._prior.name} per image ({'diffpir' if self.samples else self.method}; "
                     f"operator {choice.op.kind} from {choice.source})")
        denoise = denoiser_call(self._prior)
        if self.samples:
            rng = degradation.get("rng") or np.random.default_rng(0)
            out, std, info = pnp_sample(y, choice.op, denoise, sigma, self.samples, iterations=iterations,
                                        sigma_start=self.sigma_start / 255.0, x0=start, lam=self.lam, zeta=self.zeta,
                                        rng=rng, in_shape=choice.out_shape)
            degradation[EXTRA_OUTPUTS] = {"std": std.astype(np.float32)}
        else:
            out, info = pnp(y, choice.op, denoise, sigma, iterations=iterations, sigma_start=self.sigma_start / 255.0,
                            x0=start, lam=self.lam, method=self.method, in_shape=choice.out_shape)
        degradation.setdefault("estimated", {})["pnp"] = {
            "operator": choice.record(), "prior": self._prior.spec,
            "prior_note": getattr(self._prior, "prior_note", "the denoiser at the schedule's noise level"),
            "method": info["method"], "iterations": iterations, "lambda": info["lambda"],
            "noise_sigma": {"value": round(sigma * 255, 3), "from": sigma_from, "units": "0-255"},
            "sigmas": [round(s * 255, 3) for s in info["sigmas"]],
            "data_residual": [round(r * 255, 4) for r in info["data_residual"]],
            "denoiser_calls": info["denoiser_calls"], **({"samples": info["samples"], "zeta": info["zeta"]}
                                                         if self.samples else {})}
        return out.astype(np.float32)


@hookimpl
def register_restorers(register):
    register(PlugAndPlay)
