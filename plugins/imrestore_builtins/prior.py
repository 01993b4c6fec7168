"""``restorer:pnp``: any denoiser as the prior of a linear inverse problem (plug-and-play).

A denoiser trained with the quadratic loss computes E[X | X̃]; combined with the forward operator of a degradation
(blur, missing pixels, down-sampling, k-space under-sampling: :mod:`imrestore.forward`) it inverts that degradation
(:func:`imrestore.priors.pnp`, half-quadratic splitting with DPIR's annealed schedule, or ADMM).  The prior is a
denoiser's spec inside this one's, in brackets where it has parameters::

    imrestore run "blur:sigma=2 gaussian:sigma=2.55 restorer:pnp" camera.png out.png
    imrestore run "restorer:pnp:denoiser=[bm3d:profile=np]" ...
    imrestore run restorer:pnp:psf=psf.tif widefield.tif deconvolved.tif      # real data: a measured PSF
    imrestore run restorer:pnp scan.h5 recon.h5       # a fastMRI file: its own under-sampled k-space, single or multi-coil

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

from imrestore import dihedral, hookimpl
from imrestore.chain import INVERTED
from imrestore.denoising import MIN_SIGMA, noise_model_for, record, record_kept, typical_std
from imrestore.errors import ParameterError
from imrestore.forward import OperatorChoice, choose_operator, read_mask, read_psf
from imrestore.interfaces import EXTRA_OUTPUTS, Restorer
from imrestore.mri import CoilFourier, center_crop, check_calibration, coil_maps, kspace_noise_sigma, sampling_mask
from imrestore.noise import check_model_name, estimate_noise
from imrestore.operators import Compose, LinearOperator
from imrestore.params import param
from imrestore.priors import LAMBDA, SIGMA_FLOOR, pnp, pnp_sample
from imrestore.registry import build

from .corruptions import gaussian_psf

log = logging.getLogger("imrestore")

#: Denoiser calls by default: DPIR's 8 where the measurement holds every pixel (deblurring, denoising), 24 where the
#: operator drops pixels or pools them (masks, down-sampling), whose gaps the prior fills over more steps; 100 for
#: k-space under-sampling, whose missing frequencies spread over the whole image (benchmarks/bench_mri_prior.py: at 8x,
#: 24 calls gain 2.1 dB over zero filling, 100 gain 4.3).
ITERATIONS = {"complete": 8, "incomplete": 24, "kspace": 100}
#: The data's weight for multi-coil k-space.  DPIR's 0.23 trusts the data four times more than the posterior does;
#: where several coils un-alias an under-sampled image (parallel imaging), that inversion amplifies the noise, and
#: at 8x with 8 coils the reconstruction fell below zero filling (brain slices 5 and 17 of nibabel's EPI series, not
#: the benchmark's: 22.45 dB against 22.77 zero-filled; with 1: 27.81; at 4x 1 costs 1.0 dB: 29.82 against 30.78).
LAMBDA_COILS = 1.0
#: Planes per slab where a 3-D PSF makes pnp work on ZYX slabs of a volume (its halo: the PSF's depth).
SLAB_DEPTH = 16


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


def loop_noise(prior: Restorer, sigma: float, sigma_from: str, inverts: bool = True) -> tuple[float, str | None]:
    """The noise level a loop assumes for the measurement with this prior, and why where it is not ``sigma``.

    A prior may say (``loop_noise_scale``) that a loop must assume more noise than the measurement holds: a network
    that learnt white noise only passes on the loop's own non-white residue (the data step's ringing at the
    frequencies a blur attenuates), unless it is asked for a higher level.  A level the user gave is taken as it is,
    and so is the measurement's where there is nothing to invert (``inverts=False``: plain denoising leaves no residue).

    >>> loop_noise(object(), 0.01, "the chain")
    (0.01, None)
    """
    scale = float(getattr(prior, "loop_noise_scale", 1.0))
    if scale == 1.0 or sigma_from.startswith("given") or not inverts:
        return sigma, None
    loop = max(sigma, SIGMA_FLOOR) * scale
    return loop, getattr(prior, "loop_noise_note", f"the prior asks the loop to assume {scale:g}x the noise")


@dataclass
class PlugAndPlay(Restorer):
    """Plug-and-play restoration: a denoiser as the prior, inverting the chain's blur, masks, down-sampling or k-space
    under-sampling (DPIR's half-quadratic splitting; ADMM as an option), or a PSF, factor or mask given for real data."""

    name = "pnp"
    aliases = ("plug-and-play",)
    consumes = ("kspace",)  # a fastMRI file: its own k-space and sampling mask are the measurement

    denoiser: str = param("n2n-unet", help="the prior: a denoiser's spec, in brackets where it has parameters "
                          "(denoiser=[bm3d:profile=np], denoiser=tv); default: the shipped noise-level-conditioned "
                          "U-Net, the best prior without a plugin on deblurring, inpainting, x4 and MRI "
                          "(benchmarks/results/bench_prior_six.md, bench_mri_prior.md); tv is 10-30x faster")
    method: str = param("hqs", choices=("hqs", "admm"), help="half-quadratic splitting (DPIR) or ADMM")
    iterations: Optional[int] = param(None, min=1, max=1000, help="denoiser calls per image; default: 8 where every pixel "
                                      "is measured (deblurring), 24 where pixels are missing or pooled (masks, "
                                      "down-sampling), 100 for under-sampled k-space")
    sigma_start: float = param(49.0, min=0, min_exclusive=True, max=255, help="the prior's noise level at the first "
                               "iteration (0-255 scale); the schedule falls log-evenly to the measurement's")
    lam: Optional[float] = param(None, min=0, min_exclusive=True, max=1000, help="weight of the data against the prior "
                                 "(DPIR's lambda); default: DPIR's 0.23, and 1 for multi-coil k-space, whose parallel-"
                                 "imaging inversion amplifies the noise where the data are trusted more")
    sigma: Optional[float] = param(None, min=0, max=255, help="the measurement's noise sigma (0-255 scale); default: "
                                   "from the chain, else estimated")
    noise: str = param("auto", help="real data: the noise model to estimate where neither the chain nor sigma= says: "
                       "auto (tests which fits), gaussian, poisson-gaussian, mri (MRI magnitude) or a plugin's, as the "
                       "denoisers do; the loop takes its level at the median signal")
    psf: Optional[str] = param(None, help="real data: a measured PSF, an image file or .npy (normalised to sum 1): 2-D, "
                               "or 3-D ZYX for a stack, which is then restored in slabs of 16 planes with the PSF's "
                               "depth of planes around them")
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
    augment: bool = param(True, help="turn the image by the next of the 8 flips and rotations at each denoiser call "
                          "(DPIR's in-loop augmentation: the same calls, a network's orientation-bound errors average "
                          "out; benchmarks/results/bench_prior.md)")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_model_name(self.noise)
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
        if self._psf is not None and self._psf.ndim == 3:
            # a stack's PSF: volume runs hand over ZYX slabs, with planes around them that the PSF reaches into
            self.spatial_ndim, self.slab_depth, self.slab_halo = 3, SLAB_DEPTH, self._psf.shape[0]

    def prepare(self, corruptions: list) -> None:
        # the prior serves a loop, not the chain: the weights for white noise (a learned prior says how it is readied)
        getattr(self._prior, "prepare_as_prior", lambda: self._prior.prepare([]))()

    def _choice(self, image: np.ndarray, degradation: dict) -> OperatorChoice:
        return self._choose(image.shape, degradation)

    def _choose(self, shape: tuple[int, ...], degradation: dict) -> OperatorChoice:
        psf, name = self._psf, f"psf={self.psf}"
        if self.psf_sigma is not None:
            psf, name = gaussian_psf(self.psf_sigma), f"psf_sigma={self.psf_sigma:g}"
        return choose_operator(degradation, shape, psf=psf, psf_name=name, factor=self.factor,
                               mask=self._mask, mask_name=f"mask={self.mask}", stack=self._stack(shape))

    def _stack(self, shape: tuple[int, ...]) -> bool:
        """Whether an input of ``shape`` is a ZYX slab that a 3-D PSF blurs (a 2-D image is refused by the operator)."""
        return self.spatial_ndim == 3 and len(shape) == 3

    @property
    def extra_outputs(self) -> tuple[str, ...]:
        return ("std",) if self.samples else ()

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """A PSF larger than the image or a mask of another size stops a run on real data before it writes."""
        if self._psf is not None or self.factor is not None or self._mask is not None:
            self._choose(tuple(shape), {})  # a volume's ZYX where a 3-D PSF makes pnp work on slabs

    def check_measured(self, measured: dict) -> None:
        """A fastMRI file's first slice: its sampling mask must be readable or inferable, and several coils need sigpy."""
        if "kspace" not in measured:
            return
        self._no_image_parameters()
        kspace = np.asarray(measured["kspace"])
        mask, _ = sampling_mask(kspace, measured.get("mask"))
        if kspace.ndim == 3 and kspace.shape[0] > 1:
            check_calibration(mask)

    def _no_image_parameters(self) -> None:
        given = [n for n in ("psf", "psf_sigma", "factor", "mask") if getattr(self, n) is not None]
        if given:
            raise ParameterError(f"pnp: {', '.join(given)} describe an image's degradation; a fastMRI file's own "
                                 "k-space and sampling mask are its measurement (leave them out)")
        if self.samples:
            raise ParameterError("pnp: samples= is for images; from k-space, pnp gives one reconstruction")

    def _noise(self, image: np.ndarray, start: np.ndarray, degradation: dict, inverts: bool) -> tuple[float, str]:
        """The measurement's noise sigma ([0, 1] units) and where it came from (``inverts``: an operator is inverted)."""
        if self.sigma is not None:
            return self.sigma / 255.0, "given: sigma"
        if "noise_sigma" in degradation:
            return float(degradation["noise_sigma"]), "the chain"
        if "noise_a" in degradation:  # Poisson-Gaussian: its level at the median signal
            a, b = float(degradation["noise_a"]), float(degradation.get("noise_b", 0.0))
            return float(np.sqrt(max(a * np.median(image) + b, 0.0))), "the chain (Poisson-Gaussian, at the median level)"
        if degradation.get("operators"):  # a synthetic chain of linear corruptions and no noise: the data are exact
            return 0.0, "the chain (no noise corruption)"

        judged = np.asarray(start, np.float32)
        if inverts:  # the loop's one level of white noise: a model's level at the median would be 0 where the median
            # is a masked background (an MRI slice: 0, and a deconvolution with no noise to hold it rings)
            return float(estimate_noise(judged, "gaussian").model.sigma), "estimated (white Gaussian, wavelet MAD)"
        # nothing to invert: the noise model every denoiser estimates (with what the whole volume says: a texture veto,
        # an MRI acquisition's sigma), and so their decision to keep data too clean to denoise
        estimate = noise_model_for(judged, degradation, noise=self.noise)
        record(estimate, degradation)
        return typical_std(estimate.model, judged), f"estimated ({estimate.model.describe()}, at the median level)"

    def calls(self, choice: OperatorChoice) -> int:
        """Denoiser calls per image for this operator."""
        if self.iterations is not None:
            return self.iterations
        if _has(choice.op, "fourier"):
            return ITERATIONS["kspace"]
        return ITERATIONS["incomplete" if _drops(choice.op) else "complete"]

    def _scan(self, degradation: dict) -> dict | None:
        """A scan's k-space behind this plane: as acquired (a fastMRI file, no corruption) or as the kspace corruption
        under-sampled it; None for an image."""
        measured = degradation.get("measured")
        if measured and "kspace" in measured:
            return {"kspace": measured["kspace"], "mask": measured.get("mask"), "from": "the file",
                    "value_range": measured.get("value_range", (0.0, 1.0))}
        if degradation.get("kspace_layout") == "fastmri":  # a scan's k-space, under-sampled by the chain
            k = np.asarray(degradation["kspace"])
            return {"kspace": k, "mask": np.asarray(degradation["kspace_mask"], bool), "from": "the chain's kspace corruption",
                    "value_range": degradation.get("value_range", (0.0, 1.0))}
        return None

    def _restore_scan(self, image: np.ndarray, degradation: dict, scan: dict) -> np.ndarray:
        """Reconstruct a plane from its k-space: the acquisition as a :class:`CoilFourier` operator (the sampling mask,
        and ESPIRiT coil sensitivities for several coils), the prior on the complex image's real and imaginary parts."""
        self._no_image_parameters()
        lo, hi = (float(v) for v in scan["value_range"])
        kspace = np.asarray(scan["kspace"], np.complex128) / hi  # the image's magnitude then in about [0, 1]
        coils = kspace if kspace.ndim == 3 else kspace[None]
        mask, mask_from = sampling_mask(coils, scan["mask"])
        maps, maps_from = (None, "single coil") if coils.shape[0] == 1 else coil_maps(coils, mask)
        op = CoilFourier(mask, maps)
        y = coils * mask
        if self.sigma is not None:
            sigma, sigma_from = self.sigma / 255.0, "given: sigma"
        else:
            sigma, sigma_from = kspace_noise_sigma(coils, mask), "estimated from the outer k-space (MAD)"
        loop_sigma, why = loop_noise(self._prior, sigma, sigma_from)
        iterations = self.iterations or ITERATIONS["kspace"]
        self._announce(iterations, op, scan["from"])
        denoise = self._loop_denoiser(complex_prior(denoiser_call(self._prior)))
        out, info = pnp(y, op, denoise, loop_sigma, iterations=iterations,
                        sigma_start=self.sigma_start / 255.0, lam=self.lam or (LAMBDA_COILS if maps is not None else LAMBDA),
                        method=self.method, in_shape=coils.shape[-2:])
        choice = OperatorChoice(op, tuple(coils.shape[-2:]), f"k-space from {scan['from']}; sampling mask: {mask_from}; "
                                f"coil sensitivities: {maps_from}")
        self._record(degradation, choice, iterations, sigma, sigma_from, info, (loop_sigma, why))
        magnitude = center_crop(np.abs(out), image.shape[:2]) * hi
        return ((magnitude - lo) / (hi - lo)).astype(np.float32)

    def _loop_denoiser(self, denoise, axes: tuple[int, int] = (0, 1)):
        """The prior as the loop calls it: turned by the next flip or rotation at each call where ``augment``."""
        return dihedral.cycle(denoise, axes) if self.augment else denoise

    def _announce(self, iterations: int, op: LinearOperator, source: str) -> None:
        if not self._said:
            self._said = True
            how = (f"{self.samples} samples x {iterations} = {self.samples * iterations} calls" if self.samples
                   else f"{iterations} calls")
            log.info(f"pnp: {how} of {self._prior.name} per image ({'diffpir' if self.samples else self.method}; "
                     f"operator {op.kind} from {source})")

    def _record(self, degradation: dict, choice: OperatorChoice, iterations: int, sigma: float, sigma_from: str,
                info: dict, loop: tuple[float, str | None] = (0.0, None)) -> None:
        if choice.op.kind != "identity" and not choice.source.startswith("the chain"):  # real data: an operator inverted
            degradation.setdefault("estimated", {})[INVERTED] = f"{choice.op.kind} ({choice.source})"
        degradation.setdefault("estimated", {})["pnp"] = {
            "operator": choice.record(), "prior": self._prior.spec,
            "prior_note": getattr(self._prior, "prior_note", "the denoiser at the schedule's noise level"),
            "method": info["method"], "iterations": iterations, "lambda": info["lambda"],
            "noise_sigma": {"value": round(sigma * 255, 3), "from": sigma_from, "units": "0-255",
                            **({"loop": round(loop[0] * 255, 3), "loop_why": loop[1]} if loop[1] else {})},
            "sigmas": [round(s * 255, 3) for s in info["sigmas"]],
            "data_residual": [round(r * 255, 4) for r in info["data_residual"]],
            "denoiser_calls": info["denoiser_calls"], "augment": self.augment,
            **({"projected": "the measurement holds no noise: the result meets it exactly"} if info.get("projected") else {}),
            **({"samples": info["samples"], "zeta": info["zeta"]} if "samples" in info else {})}

    def restore_one(self, image, degradation):
        scan = self._scan(degradation)
        if scan is not None:
            return self._restore_scan(image, degradation, scan)
        choice = self._choice(image, degradation)
        y = np.asarray(image, np.float64)
        start = choice.op.initial(y, choice.out_shape)
        stack = self._stack(y.shape)
        # the noise is judged where every pixel is measured: the first guess fills a mask's gaps, not a blur's
        judged = start if _drops(choice.op) and start.shape == y.shape else y
        sigma, sigma_from = self._noise(image, judged[len(judged) // 2] if stack else judged, degradation,
                                        inverts=choice.op.kind != "identity")
        if choice.op.kind == "identity" and sigma_from.startswith("estimated") and sigma < MIN_SIGMA:
            # nothing to invert and too little noise to remove: as every denoiser does, keep the data (do no harm)
            note = (f"pnp: no operator to invert and the estimated noise (sigma {sigma * 255:.2f}) is below what can be "
                    "removed; the image is kept as it is (give sigma=, or psf=/factor=/mask= for what to invert)")
            record_kept(degradation, note)
            if not self._said:
                self._said = True
                log.warning(note)
            return np.array(image, dtype=np.float32, copy=True)
        loop_sigma, why = loop_noise(self._prior, sigma, sigma_from, inverts=choice.op.kind != "identity")
        iterations = self.calls(choice)
        self._announce(iterations, choice.op, choice.source)
        denoise = denoiser_call(self._prior)
        if stack:  # the prior is a 2-D denoiser: plane by plane through the slab
            denoise = planewise(denoise)
        denoise = self._loop_denoiser(denoise, axes=(1, 2) if stack else (0, 1))
        if self.samples:
            rng = degradation.get("rng") or np.random.default_rng(0)
            out, std, info = pnp_sample(y, choice.op, denoise, loop_sigma, self.samples, iterations=iterations,
                                        sigma_start=self.sigma_start / 255.0, x0=start, lam=self.lam or LAMBDA, zeta=self.zeta,
                                        rng=rng, in_shape=choice.out_shape, exact=sigma == 0)
            degradation[EXTRA_OUTPUTS] = {"std": std.astype(np.float32)}
        else:
            out, info = pnp(y, choice.op, denoise, loop_sigma, iterations=iterations, sigma_start=self.sigma_start / 255.0,
                            x0=start, lam=self.lam or LAMBDA, method=self.method, in_shape=choice.out_shape,
                            exact=sigma == 0)
        self._record(degradation, choice, iterations, sigma, sigma_from, info, (loop_sigma, why))
        return out.astype(np.float32)


def planewise(denoise):
    """A 2-D denoiser applied to each Z plane of a ZYX slab.

    >>> planewise(lambda p, s: p * 0 + p.mean())(np.arange(8.0).reshape(2, 2, 2), 0.1)[:, 0, 0].tolist()
    [1.5, 5.5]
    """
    def denoise_stack(stack: np.ndarray, sigma: float) -> np.ndarray:
        return np.stack([np.asarray(denoise(plane, sigma)) for plane in stack])
    return denoise_stack


def complex_prior(denoise):
    """A real image's denoiser as the prior of a complex MR image: its real and imaginary parts are denoised one by
    one (two calls), as in plug-and-play MRI with real/imaginary channels (Ahmad et al., IEEE SPM 2020).  Aliasing
    from under-sampling sits in both parts; a prior on the magnitude alone, the phase kept, leaves it in the phase.

    >>> d = complex_prior(lambda im, s: np.clip(im, 0, 0.5))
    >>> np.round(d(np.array([[1 + 1j, -0.2j]]), 0.1), 3).tolist()
    [[(0.5+0.5j), 0j]]
    """
    def denoise_complex(image: np.ndarray, sigma: float) -> np.ndarray:
        image = np.asarray(image)
        if not np.iscomplexobj(image):
            return denoise(image, sigma)
        real, imag = (np.asarray(denoise(np.ascontiguousarray(part, np.float32), sigma), np.float64)
                      for part in (image.real, image.imag))
        return real + 1j * imag
    return denoise_complex


@hookimpl
def register_restorers(register):
    register(PlugAndPlay)
