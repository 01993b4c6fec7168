"""Built-in classical restorers (no training), built on scikit-image.

Restorers that need to know the degradation (the PSF, the factor, the mask, the
noise level) read it from the ``degradation`` record that the corruptions
earlier in the chain fill; an explicit parameter overrides it.

>>> import numpy as np
>>> Identity()(np.zeros((4, 4), np.float32)).shape
(4, 4)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from skimage import restoration, transform

from imrestore import hookimpl
from imrestore.chain import INVERTED
from imrestore.denoising import Denoiser
from imrestore.errors import ParameterError
from imrestore.forward import read_array
from imrestore.interfaces import Restorer
from imrestore.mri import rss_image
from imrestore.noise import Gaussian, MRIMagnitude, PoissonGaussian
from imrestore.params import param

from .corruptions import gaussian_psf


def load_kernel(path: str, what: str, normalise: bool = True) -> np.ndarray:
    """A PSF or a mask from a file (an image imrestore can read, or .npy), as float64; a PSF is normalised to sum 1."""
    p = Path(path)
    arr = read_array(path, what)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and what == "mask":
        arr = arr[..., :3].max(axis=-1)
    if normalise:
        if arr.ndim not in (2, 3) or not np.isfinite(arr).all() or arr.min() < 0 or arr.sum() <= 0:
            raise ParameterError(f"{what}: {p} must be a 2-D or 3-D array of non-negative numbers with a positive sum")
        arr = arr / arr.sum()
    return arr


def _channel_axis(image: np.ndarray) -> int | None:
    return -1 if image.ndim == 3 else None


@dataclass
class Identity(Restorer):
    """Returns its input unchanged (the baseline, and for pipeline overhead)."""

    name = "identity"

    def restore_one(self, image, degradation):
        return np.array(image, dtype=np.float32, copy=True)


@dataclass
class TotalVariation(Denoiser):
    """Total-variation denoising (Chambolle); weight from the noise level if not given."""

    name = "tv"
    weight: Optional[float] = param(None, min=0, min_exclusive=True, max=100, help="TV weight; default: the noise sigma in [0, 1] units")

    def denoise(self, image, sigma):
        weight = self.weight if self.weight is not None else max(sigma, 1e-3)
        return restoration.denoise_tv_chambolle(image, weight=weight, channel_axis=_channel_axis(image)).astype(np.float32)


@dataclass
class NLMeans(Denoiser):
    """Non-local means (fast mode); sigma from the chain or estimated when not given."""

    name = "nlmeans"
    aliases = ("nl-means",)
    h: float = param(0.8, min=0, min_exclusive=True, max=10, help="filter strength, as a multiple of sigma")
    patch_size: int = param(5, min=1, max=31, help="patch side, in pixels")
    patch_distance: int = param(6, min=1, max=50, help="search radius, in pixels")

    def denoise(self, image, sigma):
        out = restoration.denoise_nl_means(
            image,
            h=self.h * sigma,
            sigma=sigma,
            patch_size=self.patch_size,
            patch_distance=self.patch_distance,
            fast_mode=True,
            channel_axis=_channel_axis(image),
        )
        return out.astype(np.float32)


@dataclass
class TotalVariation3D(Denoiser):
    """3-D total-variation denoising (Chambolle) of ZYX volumes, in overlapping slabs of planes.

    On a volume, neighbouring planes help each other: noise is independent
    from plane to plane, structures are not.  On a single image it is 2-D TV.
    The noise model, when estimated, is the middle plane's.
    """

    name = "tv3d"
    channels = (1,)
    spatial_ndim = 3
    slab_depth = 16
    slab_halo = 4
    weight: Optional[float] = param(None, min=0, min_exclusive=True, max=100, help="TV weight; default: the noise sigma in [0, 1] units")

    def noise_model(self, image, degradation):
        middle = image if image.ndim == 2 else image[image.shape[0] // 2]
        return super().noise_model(middle, degradation)

    def denoise(self, image, sigma):
        weight = self.weight if self.weight is not None else max(sigma, 1e-3)
        return restoration.denoise_tv_chambolle(image, weight=weight).astype(np.float32)  # every axis: Z too


@dataclass
class Wavelet(Denoiser):
    """Wavelet shrinkage denoising (BayesShrink, soft thresholds)."""

    name = "wavelet"
    wavelet: str = param("db1", help="PyWavelets wavelet name")

    def denoise(self, image, sigma):
        out = restoration.denoise_wavelet(
            image.astype(np.float64),
            sigma=sigma,
            wavelet=self.wavelet,
            method="BayesShrink",
            mode="soft",
            rescale_sigma=True,
            channel_axis=_channel_axis(image),
        )
        return out.astype(np.float32)


@dataclass
class RichardsonLucy(Restorer):
    """Richardson-Lucy deconvolution with reflect padding; PSF from the chain's blur."""

    name = "deconv"
    aliases = ("richardson-lucy",)
    needs = ("psf",)
    need_params = {"psf": ("psf=FILE", "sigma=PIXELS")}
    sigma: Optional[float] = param(None, min=0, min_exclusive=True, max=100, help="Gaussian PSF sigma in pixels; default: the chain's blur")
    psf: Optional[str] = param(None, help="a measured PSF: an image file (TIFF, PNG...) or .npy, 2-D; normalised to sum 1")
    iterations: int = param(30, min=1, max=10000, help="number of Richardson-Lucy iterations")

    def __post_init__(self):
        super().__post_init__()
        self._psf = load_kernel(self.psf, "psf") if self.psf is not None else None

    def overrides(self, key):
        return key == "psf" and (self.sigma is not None or self.psf is not None)

    def restore_one(self, image, degradation):
        if self._psf is not None:
            psf = self._psf
        else:
            psf = gaussian_psf(self.sigma) if self.sigma is not None else np.asarray(degradation["psf"])
        if self._psf is not None or self.sigma is not None:  # real data: a blur inverted (its metrics say so)
            degradation.setdefault("estimated", {})[INVERTED] = f"convolve ({'psf=' + str(self.psf) if self.psf else f'sigma={self.sigma:g}'})"
        pad = max(psf.shape) // 2 * 2
        widths = ((pad, pad), (pad, pad)) + (((0, 0),) if image.ndim == 3 else ())
        padded = np.pad(np.clip(image.astype(np.float64), 1e-6, None), widths, mode="reflect")
        if image.ndim == 3:
            out = np.stack(
                [restoration.richardson_lucy(padded[..., c], psf, num_iter=self.iterations, clip=False) for c in range(image.shape[2])],
                axis=-1,
            )
        else:
            out = restoration.richardson_lucy(padded, psf, num_iter=self.iterations, clip=False)
        return out[pad:-pad, pad:-pad].astype(np.float32)


_ORDERS = {"nearest": 0, "bilinear": 1, "bicubic": 3}


@dataclass
class Interpolate(Restorer):
    """Up-sampling by interpolation (nearest, bilinear, bicubic spline)."""

    name = "interp"
    needs = ("scale",)
    order: str = param("bicubic", choices=tuple(_ORDERS), help="interpolation order")
    factor: Optional[int] = param(None, min=1, max=64, help="up-sampling factor; default: the chain's downsample factor")

    def overrides(self, key):
        return key == "scale" and self.factor is not None

    def prepare(self, corruptions: list) -> None:
        super().prepare(corruptions)
        # factor= with no down-sampling in the chain changes the size by factor (what a volume run refuses up front);
        # the chain's own down-sampling is undone to the original size
        down = any(c.name == "downsample" for c in corruptions)
        self.scale = self.factor if self.factor is not None and not down else 1

    def restore_one(self, image, degradation):
        f = self.factor if self.factor is not None else int(degradation["scale"])
        h, w = image.shape[:2]
        target = (h * f, w * f) + image.shape[2:]
        out = transform.resize(image.astype(np.float64), target, order=_ORDERS[self.order], mode="reflect", anti_aliasing=False)
        shape = degradation.get("shape")
        if self.factor is None and shape is not None and tuple(shape[:2]) != target[:2]:
            # average pooling cropped the border: pad back to the original size
            extra = ((0, shape[0] - target[0]), (0, shape[1] - target[1])) + (((0, 0),) if image.ndim == 3 else ())
            out = np.pad(out, extra, mode="edge")
        return out.astype(np.float32)


@dataclass
class Biharmonic(Restorer):
    """Biharmonic inpainting of the pixels the chain erased or masked."""

    name = "inpaint"
    needs = ("mask",)
    need_params = {"mask": ("mask=FILE", "value=V")}
    value: Optional[float] = param(None, min=0, max=1, help="inpaint pixels equal to this value instead of the chain's mask")
    mask: Optional[str] = param(None, help="an image file (or .npy) of the image's size whose non-zero pixels are to be inpainted")

    def __post_init__(self):
        super().__post_init__()
        self._mask = load_kernel(self.mask, "mask", normalise=False) != 0 if self.mask is not None else None

    def overrides(self, key):
        return key == "mask" and (self.value is not None or self.mask is not None)

    def restore_one(self, image, degradation):
        if self._mask is not None:
            if self._mask.shape != image.shape[:2]:
                raise ValueError(f"inpaint: the mask {self.mask} is {self._mask.shape[0]}x{self._mask.shape[1]}, "
                                 f"the image {image.shape[0]}x{image.shape[1]}")
            mask = self._mask
        elif self.value is not None:
            hit = np.isclose(image, self.value, atol=1e-6)
            mask = hit.all(axis=-1) if image.ndim == 3 else hit
        else:
            mask = np.asarray(degradation["mask"], bool)
        if not mask.any():
            return image.astype(np.float32, copy=True)
        out = restoration.inpaint_biharmonic(image.astype(np.float64), mask, channel_axis=_channel_axis(image))
        return out.astype(np.float32)


@dataclass
class ZeroFill(Restorer):
    """Zero-filled reconstruction: the inverse FFT of the measured k-space.

    The measured (masked) k-space comes from the ``kspace`` corruption earlier in
    the chain or, with no corruption, from the fastMRI file itself (its k-space
    as acquired); ``magnitude=true`` returns |ifft| (fastMRI's convention for
    complex data) instead of the real part.
    """

    name = "zerofill"
    needs = ("kspace",)
    consumes = ("kspace",)
    magnitude: bool = param(False, help="return |ifft| instead of the real part")

    def restore_one(self, image, degradation):
        if "kspace" not in degradation:
            measured = degradation.get("measured")
            if not measured:
                raise ValueError("zerofill needs measured k-space: a fastMRI file (with a kspace dataset), or the kspace corruption in the chain")
            lo, hi = measured.get("value_range", (0.0, 1.0))
            return ((rss_image(np.asarray(measured["kspace"]), image.shape[:2]) - lo) / (hi - lo)).astype(np.float32)
        if degradation.get("kspace_layout") == "fastmri":  # a scan's centred, multi-coil k-space
            lo, hi = degradation["value_range"]
            return ((rss_image(degradation["kspace"], degradation["kspace_crop"]) - lo) / (hi - lo)).astype(np.float32)
        rec = np.fft.ifft2(np.asarray(degradation["kspace"], np.complex128), axes=(0, 1))
        out = np.abs(rec) if self.magnitude else rec.real
        return out.astype(np.float32)


BUILTIN_RESTORERS = (Identity, TotalVariation, TotalVariation3D, NLMeans, Wavelet, RichardsonLucy, Interpolate, Biharmonic, ZeroFill)


@hookimpl
def register_restorers(register):
    for cls in BUILTIN_RESTORERS:
        register(cls)


@hookimpl
def register_noise_models(register):
    register(Gaussian)
    register(PoissonGaussian)
    register(MRIMagnitude)
