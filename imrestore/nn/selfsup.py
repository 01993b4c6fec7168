"""Self-supervised training: a denoiser learnt from the noisy data alone (``imrestore train --targets self``).

Each method is a loss of the network on a batch of noisy crops ``y`` (NCHW),
with no clean image and no second acquisition:

- ``blind-spot`` — Noise2Void / Noise2Self (Krull et al. 2019; Batson & Royer
  2019): some pixels are replaced by the median of their 8 neighbours and the
  network is scored on predicting their noisy values, which it cannot see; for
  noise that is independent from pixel to pixel, the best prediction is the
  clean value. The masked pixels are more than one pixel apart, so no
  replacement uses another masked value (:func:`blind_spot_mask`). With N2V2's
  fixes (Höck et al. 2022): median replacement, no top-level skip and
  max-blur-pooling in the U-Net.
- ``neighbor`` — Neighbor2Neighbor (Huang et al. 2021): two half-size images
  drawn from neighbouring pixels of each 2x2 cell are a Noise2Noise pair; a
  regulariser (ramped up to 2 over the run, as the paper does) makes the
  full-size output consistent with the half-size ones.
- ``sure`` — Stein's unbiased risk estimate of the MSE (Soltanayev & Chun 2018),
  for white Gaussian noise of known level; Poisson-Gaussian noise is first
  stabilised by the generalised Anscombe transform into a fixed domain where it
  is white with a known level (the network works there; the checkpoint records
  the domain and ``imrestore run`` maps back with the exact unbiased inverse).

``auto`` picks SURE where the noise model fits (its loss sees every pixel, the
others one in 25 or one in 4), and says why.

>>> import torch
>>> y = torch.rand(2, 1, 32, 32)
>>> method = make_method("neighbor")
>>> float(method.loss(lambda t: t, y, torch.Generator().manual_seed(0), progress=0.0)) > 0
True
"""
from __future__ import annotations

import abc
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..denoising import UnitDomain
from ..errors import ImrestoreUsageError, option
from ..noise import Gaussian, MRIMagnitude, NoiseEstimate, PoissonGaussian, estimate_mri_sigma, estimate_noise, texture_veto
from .adapt import sure_loss

METHODS = ("blind-spot", "neighbor", "sure")

#: Blind-spot masking: one pixel in each SPACING x SPACING cell (4 %), more than RADIUS pixels from any other.
SPACING = 5
RADIUS = 1

Net = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- blind spot
def blind_spot_mask(shape: Sequence[int], generator: torch.Generator, spacing: int = SPACING, radius: int = RADIUS) -> torch.Tensor:
    """A boolean ``N1HW`` (or ``N1DHW``) mask: one pixel per ``spacing``-sided cell, at an offset in
    ``[0, spacing - radius - 1]`` along each axis.

    Two masked pixels are then more than ``radius`` apart (along some axis), so
    the ``(2 radius + 1)``-sided window around one holds no other.  (In 3-D the
    cells are ``spacing - 1`` a side, so 1.6 % of the voxels are masked.)

    >>> m = blind_spot_mask((1, 1, 10, 10), torch.Generator().manual_seed(0))
    >>> int(m.sum())
    4
    """
    n, spatial = shape[0], tuple(shape[2:])
    cell = (spacing - 1,) * 3 if len(spatial) == 3 else (spacing,) * len(spatial)
    counts = [-(-size // c) for size, c in zip(spatial, cell)]
    coords = []
    for axis, (c, k) in enumerate(zip(cell, counts)):
        offset = torch.randint(0, c - radius, (n, *counts), generator=generator)
        base = torch.arange(k).reshape([1] * (axis + 1) + [k] + [1] * (len(counts) - axis - 1)) * c
        coords.append((base + offset).reshape(n, -1))
    mask = torch.zeros(n, 1, *(k * c for k, c in zip(counts, cell)), dtype=torch.bool)
    mask[(torch.arange(n)[:, None], 0, *coords)] = True
    return mask[(..., *(slice(0, size) for size in spatial))]


def neighbour_median(y: torch.Tensor) -> torch.Tensor:
    """The median of each pixel's 8 (in 3-D, 26) neighbours, reflected at the border, per channel; the pixel itself is
    left out."""
    spatial = y.shape[2:]
    padded = F.pad(y, (1, 1) * len(spatial), mode="reflect")
    shifts = []
    for offset in itertools.product(range(3), repeat=len(spatial)):
        if all(o == 1 for o in offset):
            continue
        shifts.append(padded[(..., *(slice(o, o + size) for o, size in zip(offset, spatial)))])
    return torch.stack(shifts).median(dim=0).values


def blind_spot_input(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``y`` with each masked pixel replaced by the median of its 8 neighbours (none of them masked: see
    :func:`blind_spot_mask`), so the network's input holds nothing of a masked pixel's own noisy value."""
    return torch.where(mask, neighbour_median(y), y)


# --------------------------------------------------------------------------- Neighbor2Neighbor
#: Ordered pairs of 4-neighbours within a 2x2 cell (cell index = 2 * row + column).
_PAIRS = torch.tensor([[0, 1], [0, 2], [1, 3], [2, 3], [1, 0], [2, 0], [3, 1], [3, 2]])


def neighbour_subsample(y: torch.Tensor, choice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two half-size images of ``y`` (``N C [D] H W``, even H and W): from each 2x2 cell of each plane, the two
    neighbours ``_PAIRS[choice]`` (``choice``: ``N [D] H/2 W/2`` integers in [0, 8)). Z, if any, is kept whole."""
    *lead, h, w = y.shape
    cells = y.reshape(*lead, h // 2, 2, w // 2, 2).movedim(-3, -2).reshape(*lead, h // 2, w // 2, 4)
    pair = _PAIRS.to(y.device)[choice].unsqueeze(1).expand(*lead, h // 2, w // 2, 2)  # the same cells in every channel
    picked = cells.gather(-1, pair)
    return picked[..., 0], picked[..., 1]


# --------------------------------------------------------------------------- the methods
class Method(abc.ABC):
    """A self-supervised loss: ``loss(net, y, generator, progress)`` on a batch of noisy crops ``y``."""

    name: str = ""
    #: Network config values the method prefers for a network trained from scratch (the user's --net wins).
    net_defaults: dict[str, Any] = {}

    @abc.abstractmethod
    def loss(self, net: Net, y: torch.Tensor, generator: torch.Generator, progress: float) -> torch.Tensor:
        """The loss to minimise on ``y``; ``progress`` in [0, 1] is how far the run is."""


class BlindSpot(Method):
    name = "blind-spot"
    net_defaults = {"top_skip": False, "blur_pool": True}

    def loss(self, net, y, generator, progress):
        mask = blind_spot_mask(y.shape, generator).to(y.device)
        err = (net(blind_spot_input(y, mask)) - y) ** 2
        return (err * mask).sum() / (mask.sum() * y.shape[1]).clamp(min=1)


class Neighbor(Method):
    name = "neighbor"
    #: The weight of the consistency term at the end of the run (ramped up linearly from 0, as in the paper).
    gamma = 2.0

    def loss(self, net, y, generator, progress):
        h, w = y.shape[-2:]
        y = y[..., : h - h % 2, : w - w % 2]
        cells = (y.shape[0], *y.shape[2:-2], y.shape[-2] // 2, y.shape[-1] // 2)
        choice = torch.randint(0, len(_PAIRS), cells, generator=generator).to(y.device)
        g1, g2 = neighbour_subsample(y, choice)
        out = net(g1)
        with torch.no_grad():
            f1, f2 = neighbour_subsample(net(y), choice)
        diff = out - g2
        return torch.mean(diff**2) + self.gamma * progress * torch.mean((diff - (f1 - f2)) ** 2)


class Sure(Method):
    name = "sure"

    def __init__(self, sigma: float):
        self.sigma = sigma

    def loss(self, net, y, generator, progress):
        if y.device.type != "cpu":  # the probe is drawn where y lives, from the step's seed
            generator = torch.Generator(device=y.device).manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
        return sure_loss(net, y, self.sigma, generator)


def make_method(name: str, sigma: float | None = None) -> Method:
    """The method called ``name`` (``sure`` needs the noise level ``sigma`` in the network's domain)."""
    if name == "blind-spot":
        return BlindSpot()
    if name == "neighbor":
        return Neighbor()
    if name == "sure":
        if sigma is None:
            raise ImrestoreUsageError(f"{option('self_method', 'sure')} needs the noise level")
        return Sure(sigma)
    raise ImrestoreUsageError(f"{option('self_method')} must be auto or one of {', '.join(METHODS)}, got {name!r}")


# --------------------------------------------------------------------------- choosing, and the domain
@dataclass
class SelfSupervision:
    """What ``--targets self`` decided for a data set: the method, the noise model seen, the network's domain, and why."""

    method: Method
    noise: NoiseEstimate
    domain: UnitDomain | None  # None: the network works on the data as they are
    reason: str

    def to_domain(self, image: np.ndarray) -> np.ndarray:
        """An image of the data in the network's domain."""
        if self.domain is None:
            return np.asarray(image, np.float32)
        return self.domain.into(image)

    def record(self) -> dict[str, Any]:
        """For the checkpoint: the method, the noise model, and the domain ``imrestore run`` must apply."""
        out: dict[str, Any] = {"method": self.method.name, "noise": self.noise.as_dict(), "reason": self.reason}
        if self.domain is not None:
            out["domain"] = self.domain.as_dict()
        return out


def data_noise(images: Sequence[np.ndarray], model: str = "auto", at_most: int = 8) -> NoiseEstimate:
    """One noise model for a data set: fitted on up to ``at_most`` images spread over it; the majority model, median parameters."""
    if model == "mri":  # one sigma for the data set, from the flattest blocks of all its planes together
        return NoiseEstimate(MRIMagnitude(estimate_mri_sigma(list(images))),
                             reason=f"MRI magnitude, as asked (the flattest blocks of all {len(images)} images)")
    picks = np.unique(np.linspace(0, len(images) - 1, min(at_most, len(images))).round().astype(int))
    fits = [estimate_noise(images[i], model) for i in picks]
    names = [f.model.name for f in fits]
    winner = max(set(names), key=names.count)
    spread = np.unique(np.linspace(0, len(images) - 1, min(2 * at_most, len(images))).round().astype(int))
    grey = [np.asarray(images[i], np.float64) for i in spread if np.ndim(images[i]) == 2]
    veto = texture_veto(grey) if model == "auto" and winner == "poisson-gaussian" and len(grey) > 1 else None
    if veto is not None:  # the images together say that the growth with the signal is texture
        return NoiseEstimate(Gaussian(veto.sigma), reason=veto.reason())
    chosen = [f for f in fits if f.model.name == winner]
    params = {k: float(np.median([f.model.params()[k] for f in chosen])) for k in chosen[0].model.params()}
    reason = chosen[0].reason if len(chosen) == 1 else f"{len(chosen)} of {len(fits)} images: {chosen[0].reason}"
    return NoiseEstimate(type(chosen[0].model)(**params), reason=reason)


def choose(requested: str, noise: NoiseEstimate) -> SelfSupervision:
    """The method for ``requested`` (``auto`` or a name) on data with ``noise``, and the domain it trains in."""
    model = noise.model
    if isinstance(model, MRIMagnitude):  # Gaussian in the image (SURE's Rician floor is left as Gaussian)
        model = Gaussian(model.sigma)
    known = isinstance(model, (Gaussian, PoissonGaussian))
    if requested == "auto":
        requested = "sure" if known else "blind-spot"
        why = (f"the noise fits a model ({model.describe()}), so SURE can score every pixel" if known
               else f"no noise model imrestore knows ({model.name}): blind-spot training assumes only pixel-independent noise")
    else:
        why = "as asked"
    if requested != "sure":
        return SelfSupervision(make_method(requested), noise, None, why)
    if isinstance(model, Gaussian):
        return SelfSupervision(make_method("sure", max(model.sigma, 1e-6)), noise, None, why)
    if isinstance(model, PoissonGaussian):
        domain = UnitDomain.fixed(model)
        return SelfSupervision(make_method("sure", domain.sigma), noise, domain,
                               why + "; in the domain of the generalised Anscombe transform")
    raise ImrestoreUsageError(f"{option('self_method', 'sure')} needs Gaussian or Poisson-Gaussian noise, not {model.name}; "
                              f"use {option('self_method', 'blind-spot')}")


def psnr_estimate(mse: float) -> float:
    """PSNR (dB, peak 1) of an estimated MSE; NaN where the estimate is not positive."""
    return 10 * math.log10(1.0 / mse) if mse > 0 else float("nan")
