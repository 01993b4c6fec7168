"""Built-in corruptions: noise, erasure, blur, masking, down-sampling, k-space.

All take and return float32 images in [0, 1] (``YX`` or ``YXC``) and draw every
random number from the generator they are given, so a seed fixes the result.

>>> import numpy as np
>>> img = np.full((4, 4), 0.5, np.float32)
>>> bool(GaussianNoise(sigma=25)(img, 0).std() > 0)
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from imrestore import hookimpl
from imrestore.errors import ParameterError
from imrestore.interfaces import Corruption
from imrestore.mri import rss_image
from imrestore.operators import Convolve, Fourier, Mask, Pool
from imrestore.params import param


def _spatial(image: np.ndarray) -> tuple[int, int]:
    return image.shape[0], image.shape[1]


def _pixel_mask(image: np.ndarray, mask2d: np.ndarray) -> np.ndarray:
    """Broadcast a YX mask to the image's axes."""
    return mask2d[..., None] if image.ndim == 3 else mask2d


@dataclass
class GaussianNoise(Corruption):
    """Additive white Gaussian noise, sigma on the 0-255 scale of the literature."""

    is_noise = True
    name = "gaussian"
    aliases = ("awgn",)
    provides = ("noise_sigma",)
    preserves = frozenset({"mean", "median", "mode"})
    sigma: float = param(25.0, min=0, max=255, help="standard deviation on the 0-255 scale (25 = the usual sigma 25)")
    clip: bool = param(False, help="clip the result to [0, 1] (the literature does not)")
    sigma_max: Optional[float] = param(None, min=0, max=255, help="if set, sigma is drawn uniformly in [sigma, sigma_max] per image (blind training)")

    def __post_init__(self):
        super().__post_init__()
        if self.sigma_max is not None and self.sigma_max < self.sigma:
            raise ParameterError(f"gaussian: sigma_max ({self.sigma_max}) must be at least sigma ({self.sigma})")

    def forward(self, image, rng):
        sigma = self.sigma if self.sigma_max is None else float(rng.uniform(self.sigma, self.sigma_max))
        noisy = image + rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma / 255.0)
        if self.clip:
            noisy = np.clip(noisy, 0, 1)
        return noisy.astype(np.float32), {"noise_sigma": sigma / 255.0}


@dataclass
class PoissonNoise(Corruption):
    """Shot noise: photon counts with the given peak, scaled back to [0, 1]."""

    is_noise = True
    name = "poisson"
    provides = ("poisson_peak", "noise_a")
    preserves = frozenset({"mean"})
    peak: float = param(30.0, min=0, min_exclusive=True, max=1e6, help="photon count of a pixel of value 1")

    def forward(self, image, rng):
        counts = rng.poisson(np.clip(image, 0, None).astype(np.float64) * self.peak)
        # variance x / peak: the Poisson-Gaussian model with a = 1/peak, b = 0
        return (counts / self.peak).astype(np.float32), {"poisson_peak": self.peak, "noise_a": 1.0 / self.peak, "noise_b": 0.0}


@dataclass
class PoissonGaussianNoise(Corruption):
    """Photon-counting camera noise: variance a*x + b (Poisson counts of gain a, plus Gaussian read noise of variance b)."""

    is_noise = True
    name = "poisson-gaussian"
    aliases = ("pg",)
    provides = ("noise_a",)
    preserves = frozenset({"mean"})
    a: float = param(0.01, min=0, min_exclusive=True, max=1, help="gain: variance per unit of signal ([0, 1] units)")
    b: float = param(0.0001, min=0, max=1, help="read-noise variance ([0, 1] units)")
    clip: bool = param(False, help="clip the result to [0, 1] (a camera clips at its saturation)")

    def forward(self, image, rng):
        counts = rng.poisson(np.clip(image, 0, None).astype(np.float64) / self.a)
        noisy = counts * self.a + rng.standard_normal(image.shape) * np.sqrt(self.b)
        if self.clip:
            noisy = np.clip(noisy, 0, 1)
        return noisy.astype(np.float32), {"noise_a": self.a, "noise_b": self.b}


@dataclass
class SaltPepper(Corruption):
    """Salt-and-pepper noise: a fraction p of pixels set to 0 or 1 (half each)."""

    name = "saltpepper"
    aliases = ("salt-pepper",)
    provides = ("mask",)
    p: float = param(0.1, min=0, max=1, help="fraction of pixels hit")

    def preserved(self):
        return frozenset({"median"} | ({"mode"} if 1 - self.p > self.p / 2 else set()))

    def operator(self, info, in_shape):
        return Mask(~np.asarray(info["mask"], bool))

    def forward(self, image, rng):
        hit = rng.random(_spatial(image)) < self.p
        salt = rng.random(_spatial(image)) < 0.5
        out = image.copy()
        m = _pixel_mask(image, hit)
        out = np.where(m, _pixel_mask(image, salt).astype(np.float32), out)
        return out.astype(np.float32), {"mask": hit}


@dataclass
class ImpulseNoise(Corruption):
    """Random-valued impulse noise: a fraction p of values replaced by uniform ones."""

    name = "impulse"
    provides = ("mask",)
    p: float = param(0.5, min=0, max=1, help="fraction of pixels replaced (0.7 = the Noise2Noise setting)")

    def preserved(self):
        return frozenset({"mode"} if self.p < 1 else set())  # uniform impulses leave the clean value the mode

    def operator(self, info, in_shape):
        return Mask(~np.asarray(info["mask"], bool))

    def forward(self, image, rng):
        hit = rng.random(_spatial(image)) < self.p
        values = rng.random(image.shape, dtype=np.float32)
        out = np.where(_pixel_mask(image, hit), values, image)
        return out.astype(np.float32), {"mask": hit}


@dataclass
class Erase(Corruption):
    """Pixel erasure: each pixel set to ``value`` with probability p."""

    name = "erase"
    provides = ("mask",)
    p: float = param(0.5, min=0, max=1, help="probability that a pixel is erased")
    value: float = param(1.0, min=0, max=1, help="value of erased pixels (1 = white)")

    def preserved(self):
        return frozenset(({"median"} if self.p < 0.5 else set()) | ({"mode"} if self.p < 0.5 else set()))

    def operator(self, info, in_shape):
        return Mask(~np.asarray(info["mask"], bool))

    def forward(self, image, rng):
        hit = rng.random(_spatial(image)) < self.p
        out = np.where(_pixel_mask(image, hit), np.float32(self.value), image)
        return out.astype(np.float32), {"mask": hit}


def gaussian_psf(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """A normalised 2-D Gaussian kernel (what :class:`GaussianBlur` applies)."""
    radius = max(1, int(truncate * sigma + 0.5))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / max(sigma, 1e-12)) ** 2)
    psf = np.outer(g, g)
    return psf / psf.sum()


@dataclass
class GaussianBlur(Corruption):
    """Gaussian blur (reflecting borders), sigma in pixels."""

    name = "blur"
    provides = ("psf",)
    sigma: float = param(2.0, min=0, max=100, help="standard deviation of the blur, in pixels")

    def operator(self, info, in_shape):
        return Convolve(info["psf"])

    def forward(self, image, rng):
        from scipy import ndimage

        sig = (self.sigma, self.sigma, 0) if image.ndim == 3 else self.sigma
        out = ndimage.gaussian_filter(image.astype(np.float64), sigma=sig, mode="reflect", truncate=4.0)
        return out.astype(np.float32), {"psf": gaussian_psf(self.sigma)}


@dataclass
class Block(Corruption):
    """A square block set to ``value``, centred or at a random position."""

    name = "block"
    provides = ("mask",)
    size: int = param(10, min=1, max=100000, help="side of the square, in pixels")
    value: float = param(1.0, min=0, max=1, help="value inside the block (1 = white)")
    position: str = param("center", choices=("center", "random"), help="where the block goes")

    def operator(self, info, in_shape):
        return Mask(~np.asarray(info["mask"], bool))

    def forward(self, image, rng):
        h, w = _spatial(image)
        sh, sw = min(self.size, h), min(self.size, w)
        if self.position == "center":
            y, x = (h - sh) // 2, (w - sw) // 2
        else:
            y, x = int(rng.integers(0, h - sh + 1)), int(rng.integers(0, w - sw + 1))
        mask = np.zeros((h, w), bool)
        mask[y : y + sh, x : x + sw] = True
        out = np.where(_pixel_mask(image, mask), np.float32(self.value), image)
        return out.astype(np.float32), {"mask": mask}


@dataclass
class Downsample(Corruption):
    """Down-sampling by average pooling over factor x factor blocks."""

    name = "downsample"
    provides = ("scale", "shape")
    factor: int = param(2, min=1, max=64, help="pooling factor (the image shrinks by it)")

    def operator(self, info, in_shape):
        return Pool(int(info["scale"]))

    def forward(self, image, rng):
        f = self.factor
        h, w = _spatial(image)
        if h < f or w < f:
            raise ValueError(f"downsample: image {h}x{w} is smaller than the factor {f}")
        hh, ww = h // f, w // f
        crop = image[: hh * f, : ww * f].astype(np.float64)
        pooled = crop.reshape(hh, f, ww, f, *image.shape[2:]).mean(axis=(1, 3))
        return pooled.astype(np.float32), {"scale": f, "shape": image.shape}


def kspace_mask(
    num_cols: int,
    acceleration: float,
    center_fraction: float,
    kind: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """fastMRI's Cartesian column mask and each column's sampling probability.

    Returns ``(mask, prob)`` over the (centred) columns; ``prob`` is 1 for the
    fully sampled centre.
    """
    num_low = int(round(num_cols * center_fraction))
    num_low = min(max(num_low, 1), num_cols)
    pad = (num_cols - num_low + 1) // 2
    center = np.zeros(num_cols, bool)
    center[pad : pad + num_low] = True
    if kind == "random":
        denom = max(num_cols - num_low, 1)
        prob = float(np.clip((num_cols / acceleration - num_low) / denom, 0.0, 1.0))
        mask = (rng.random(num_cols) < prob) | center
        probs = np.where(center, 1.0, prob)
    else:  # equispaced, as fastMRI's EquispacedMaskFunc
        denom = num_low * acceleration - num_cols
        adjusted = (acceleration * (num_low - num_cols)) / denom if denom != 0 else acceleration
        step = max(int(round(adjusted)), 1)
        offset = int(rng.integers(0, step))
        mask = center.copy()
        mask[offset::step] = True
        probs = np.where(center, 1.0, 1.0 / step)
    return mask, probs


@dataclass
class KSpace(Corruption):
    """Cartesian under-sampling of the 2-D Fourier transform (fastMRI masks).

    On an image, the result is the zero-filled reconstruction (real part); on a
    scan that holds k-space (fastMRI's HDF5 layout), the measured k-space is
    masked and the result is its zero-filled root-sum-of-squares image.  With
    ``scale=true`` each kept column is divided by its sampling probability, as in
    the Noise2Noise MRI experiment, which makes the result unbiased.
    """

    name = "kspace"
    provides = ("kspace", "kspace_mask")
    acceleration: float = param(4.0, min=1, max=64, help="under-sampling factor (4 keeps ~1/4 of the columns)")
    center_fraction: float = param(0.08, min=0, max=1, min_exclusive=True, help="fraction of low-frequency columns always kept")
    mask: str = param("random", choices=("random", "equispaced"), help="fastMRI mask type")
    scale: bool = param(False, help="divide kept samples by their probability (unbiased, Noise2Noise MRI)")

    def preserved(self):
        return frozenset({"mean"} if self.scale else set())

    consumes = ("kspace",)

    def forward_measured(self, image, measured, rng):
        """Mask a scan's own centred k-space (fastMRI layout) and return its zero-filled RSS image."""
        kspace = np.asarray(measured["kspace"])
        mask, probs = kspace_mask(kspace.shape[-1], self.acceleration, self.center_fraction, self.mask, rng)
        weights = np.where(mask, 1.0 / probs if self.scale else 1.0, 0.0)
        masked = (kspace * weights).astype(np.complex64)
        lo, hi = measured.get("value_range", (0.0, 1.0))
        out = (rss_image(masked, image.shape[:2]) - lo) / (hi - lo)
        info = {"kspace": masked, "kspace_mask": mask, "kspace_layout": "fastmri", "kspace_crop": image.shape[:2],
                "value_range": (lo, hi)}
        return out.astype(np.float32), info

    def operator(self, info, in_shape):
        # an image's k-space only: a scan's own (forward_measured) gives a root-sum-of-squares image, not linear
        return Fourier(info["kspace_weights"]) if "kspace_weights" in info else None

    def forward(self, image, rng):
        num_cols = image.shape[1]
        mask, probs = kspace_mask(num_cols, self.acceleration, self.center_fraction, self.mask, rng)
        weights = np.where(mask, 1.0 / probs if self.scale else 1.0, 0.0)
        weights = np.fft.ifftshift(weights)  # masks are defined on centred columns
        axes = (0, 1)
        spectrum = np.fft.fft2(image.astype(np.float64), axes=axes)
        w = weights[None, :, None] if image.ndim == 3 else weights[None, :]
        measured = (spectrum * w).astype(np.complex64)
        out = np.fft.ifft2(measured, axes=axes).real
        return out.astype(np.float32), {"kspace": measured, "kspace_mask": np.fft.ifftshift(mask), "kspace_weights": weights}


BUILTIN_CORRUPTIONS = (
    GaussianNoise,
    PoissonNoise,
    PoissonGaussianNoise,
    SaltPepper,
    ImpulseNoise,
    Erase,
    GaussianBlur,
    Block,
    Downsample,
    KSpace,
)


@hookimpl
def register_corruptions(register):
    for cls in BUILTIN_CORRUPTIONS:
        register(cls)
