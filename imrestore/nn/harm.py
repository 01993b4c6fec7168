"""Does a network beat the data as they are?  A check with no clean image that does not trust a noise model.

The **J-invariant held-out loss** (Batson & Royer 2019, Noise2Self): hide a
set ``J`` of pixels, more than one pixel apart (each replaced by the median of
its 8 neighbours, as blind-spot training does), restore, and score the
restoration *at the hidden pixels* against their noisy values.  For noise that
is independent from pixel to pixel and of mean zero, whatever its distribution
or its dependence on the signal, the restoration of a hidden pixel cannot know
that pixel's noise, so

    E[loss] = MSE (against the unseen clean image) + mean noise variance.

It needs no noise model, so it stays honest where the model fitted to the data
is wrong (the failure it guards against: a noise level overestimated from
texture makes SURE remove structure and call it an improvement).  Two networks
compare by their losses alone (the noise term is the same).  Leaving the data
as they are has an MSE of the noise variance, so a network beats the data
where ``loss < 2 * noise variance``; the variance is taken as the *lowest* of
the estimates at hand (the fitted model's and scikit-image's wavelet estimate),
so that an overestimate, which is what the texture of real data produces,
cannot pass a harmful network: the check fails safe.  It is pessimistic for a
network that leans on each pixel's own value (it is scored without it), so it
can keep data that a network would have improved a little; never the
reverse.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> clean = np.tile(np.linspace(0.2, 0.8, 64), (64, 1))
>>> noisy = (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)
>>> from scipy import ndimage
>>> smooth = lambda images: [ndimage.uniform_filter(im, 5) for im in images]   # a fine denoiser for this image
>>> check = harm_check(smooth, [noisy], noise_var=0.01)
>>> check.helps, round(check.loss / 0.01, 1)
(True, 1.0)
>>> harm_check(lambda images: [ndimage.gaussian_filter(im, 30) for im in images], [noisy], noise_var=0.01).helps
False
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..noise import NoiseModel, estimate_gaussian
from .selfsup import blind_spot_mask, neighbour_median

#: Mask draws per image (each hides one pixel in 25, so 4 draws score 16 % of the pixels).
DRAWS = 4

Restore = Callable[[list[np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class HarmCheck:
    """The J-invariant held-out loss of a restoration and the noise variance it is weighed against (data units)."""

    loss: float
    noise_var: float

    @property
    def mse(self) -> float:
        """The estimated error against the clean image (an overestimate where ``noise_var`` is low, as it is meant to be)."""
        return max(self.loss - self.noise_var, 0.0)

    @property
    def helps(self) -> bool:
        """Whether the restoration beats the data as they are (whose error is the noise variance)."""
        return bool(self.mse < self.noise_var) if math.isfinite(self.loss) else False

    @property
    def gain_db(self) -> float:
        """How much closer to the clean image than the data it is estimated to be, in dB (negative: farther)."""
        if self.noise_var <= 0:
            return -math.inf
        return 10 * math.log10(self.noise_var / self.mse) if self.mse > 0 else math.inf

    def as_dict(self) -> dict:
        """For a checkpoint's metadata and the training log."""
        gain = self.gain_db
        return {"helps": self.helps, "jinv_loss": self.loss, "noise_var": self.noise_var,
                "estimated_gain_db": gain if math.isfinite(gain) else None,
                "criterion": "J-invariant held-out loss (MSE + noise variance, no noise model) < 2 x the lowest noise-variance estimate"}

    def describe(self) -> str:
        """One line for a log: the verdict and its figures (the noise on the 0-255 scale of the data's range)."""
        noise = f"the noise's {math.sqrt(self.noise_var) * 255:.2f}/255"
        if self.mse > 0:
            figures = f"estimated error {math.sqrt(self.mse) * 255:.2f}/255 against {noise}" + (
                f", {self.gain_db:+.2f} dB" if math.isfinite(self.gain_db) else "")
        else:
            figures = f"no error left that the noise estimate can resolve, against {noise}"
        return ("beats the data as they are" if self.helps else "does NOT beat the data as they are") + (f" ({figures})" if figures else "")


def jinv_loss(restore: Restore, images: Sequence[np.ndarray], seed: int = 0, draws: int = DRAWS) -> float:
    """The mean squared difference, at hidden pixels, between ``restore`` of the images with those pixels hidden and
    their noisy values (``YX``, ``YXC`` or, for a 3-D network, ``ZYX`` arrays; ``restore`` maps a list to a list)."""
    total, count = 0.0, 0
    for draw in range(draws):
        hidden, masks = [], []
        for i, image in enumerate(images):
            y = _nchw(image)
            mask = blind_spot_mask(y.shape, torch.Generator().manual_seed(int(np.random.default_rng([seed, draw, i]).integers(2**62))))
            masks.append(_like(mask.expand_as(y), image))
            hidden.append(_like(torch.where(mask, neighbour_median(y), y), image).astype(np.float32))
        for image, mask, out in zip(images, masks, restore(hidden)):
            err = (np.asarray(out, np.float64) - np.asarray(image, np.float64)) ** 2
            total += float(err[mask].sum())
            count += int(mask.sum())
    return total / count if count else math.nan


def _nchw(image: np.ndarray) -> torch.Tensor:
    """A ``YX`` image as 1x1xHxW, ``YXC`` as 1xCxHxW; a ``ZYX`` stack of a 3-D network as 1x1xDxHxW."""
    t = torch.from_numpy(np.ascontiguousarray(image, np.float32))
    return t.movedim(-1, 0)[None] if image.ndim == 3 and image.shape[-1] in (1, 3) else t[None, None]


def _like(t: torch.Tensor, image: np.ndarray) -> np.ndarray:
    return (t[0].movedim(0, -1) if image.ndim == 3 and image.shape[-1] in (1, 3) else t[0, 0]).numpy()


def lowest_noise_variance(images: Sequence[np.ndarray], model: NoiseModel | None = None) -> float:
    """The lower of two estimates of the mean noise variance of ``images``: the noise ``model``'s variance at their
    pixels (where one was fitted or given) and scikit-image's wavelet estimate (median over images and channels)."""
    planes = [p for im in images for p in (im if im.ndim == 3 and im.shape[-1] not in (1, 3) else [im])]
    wavelet = float(np.median([estimate_gaussian(p).sigma for p in planes])) ** 2
    if model is None:
        return wavelet
    modelled = float(np.mean([np.mean(model.variance(np.clip(p, 0, None))) for p in planes]))
    return min(wavelet, max(modelled, 0.0))


def harm_check(restore: Restore, images: Sequence[np.ndarray], noise_var: float | None = None, model: NoiseModel | None = None,
               seed: int = 0, draws: int = DRAWS) -> HarmCheck:
    """Score ``restore`` on noisy ``images`` against leaving them as they are (see the module's docstring)."""
    var = noise_var if noise_var is not None else lowest_noise_variance(images, model)
    return HarmCheck(jinv_loss(restore, images, seed, draws), var)
