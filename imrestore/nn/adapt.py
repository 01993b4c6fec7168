"""Per-image adaptation of a denoiser by Stein's unbiased risk estimate (SURE).

A network trained on a few natural images misses structure that its training
data lacked (roof tiles, railings, fabric: the repeated textures where BM3D's
block matching shines). For additive white Gaussian noise of a known level
``sigma``, the mean squared error of a denoiser ``f`` against the *unseen*
clean image has an unbiased estimate computed from the noisy image ``y`` alone
(Stein 1981; Ramani, Blu & Unser 2008 for the Monte-Carlo divergence)::

    SURE(f, y) = ||y - f(y)||^2 / N - sigma^2 + 2 sigma^2 / N * div f(y)
    div f(y)  ~= b . (f(y + eps b) - f(y)) / eps,     b ~ N(0, I)

Minimising it for a few dozen steps fine-tunes the network to the image it is
about to restore (Soltanayev & Chun 2018 train denoisers this way from scratch;
here it adapts a trained one). It needs the noise to be Gaussian, white and of
level ``sigma``; for other noise it optimises the wrong target.

>>> import numpy as np, torch
>>> from imrestore.nn.models import N2NUNet, N2NUNetConfig
>>> net = N2NUNet(N2NUNetConfig(features=8))
>>> noisy = np.random.default_rng(0).normal(0.5, 0.1, (32, 32)).astype(np.float32)
>>> tuned, before, after = sure_adapt(net, noisy, sigma=0.1, steps=2)   # a copy, or net itself if SURE finds no gain
>>> tuned is net if after >= before else tuned is not net
True
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch

from .data import stack_nhwc, to_nchw

#: Probes (over all windows) with which SURE compares the adapted network with the trained one.
PROBE_PAIRS = 8
#: Monte-Carlo step of the divergence estimate, in [0, 1] image units (fp32-safe; the U-Net is piecewise linear).
DIVERGENCE_EPS = 1e-3


def sure_loss(model: torch.nn.Module, y: torch.Tensor, sigma: float, generator: torch.Generator | None = None,
              eps: float = DIVERGENCE_EPS) -> torch.Tensor:
    """Monte-Carlo SURE of ``model`` on the noisy batch ``y`` (NCHW): an unbiased estimate of its per-pixel MSE.

    >>> y = torch.zeros(1, 1, 256, 256)
    >>> round(float(sure_loss(lambda t: t, y, sigma=0.1)), 3)   # the identity keeps all the noise: MSE = sigma^2
    0.01
    """
    b = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype) if generator is not None else torch.randn_like(y)
    fy = model(y)
    div = (b * (model(y + eps * b) - fy)).sum() / eps
    n = y.numel()
    return ((y - fy) ** 2).sum() / n - sigma**2 + 2 * sigma**2 * div / n


def sure_adapt(model: torch.nn.Module, image: np.ndarray, sigma: float, steps: int, lr: float = 6e-5, crop: int = 256,
               seed: int = 0, on_step: Callable[[float], None] | None = None,
               check_windows: int = 4) -> tuple[torch.nn.Module, float, float]:
    """A copy of ``model`` fine-tuned on ``image`` (``YX`` or ``YXC`` float in [0, 1]) by ``steps`` Adam steps on SURE.

    Each step takes a ``crop``-sided window (all of a smaller image) at a random
    place, in one of the 8 flips and rotations, so the cost per step does not
    grow with the image. Seeded: the same image gives the same network.
    ``on_step`` receives each step's SURE, the estimated MSE of that window (for a progress bar).

    Then SURE judges the result: on up to ``check_windows`` fixed windows, with
    the same random probes for both networks, the copy must estimate a lower
    error than ``model``; if not (an image like the training data leaves
    little to learn, and the steps are noisy), ``model`` itself is returned.
    Returns the network and the estimated MSE before and after adapting.
    """
    base = getattr(model, "_orig_mod", model)  # a torch.compile'd model: adapt the module inside
    device = next(base.parameters()).device
    tuned = copy.deepcopy(base).float().to(memory_format=torch.contiguous_format)
    tuned.train(False)
    for p in tuned.parameters():
        p.requires_grad_(True)
    y_all = to_nchw(stack_nhwc([image]), device)  # windows are made contiguous where they are used
    h, w = y_all.shape[-2:]
    ch, cw = min(crop, h), min(crop, w)
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    opt = torch.optim.Adam(tuned.parameters(), lr=lr)
    with torch.enable_grad():
        for step in range(steps):
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            y = y_all[..., y0 : y0 + ch, x0 : x0 + cw]
            k = step % 8
            y = torch.rot90(y, k % 4, (2, 3))
            if k >= 4:
                y = y.flip(3)
            loss = sure_loss(tuned, y.contiguous(), sigma, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step(float(loss.detach()))
    for p in tuned.parameters():
        p.requires_grad_(False)
    before, after = _compare(base, tuned, y_all, sigma, ch, cw, check_windows, seed)
    return (tuned if after < before else model), before, after  # not "after >= before": a NaN keeps the model


@torch.no_grad()
def _compare(a: torch.nn.Module, b: torch.nn.Module, y_all: torch.Tensor, sigma: float, ch: int, cw: int, windows: int,
             seed: int) -> tuple[float, float]:
    """Mean SURE of ``a`` and ``b`` on the same windows with the same probes.

    Common random numbers make the difference precise: the realised noise
    energy (which moves each estimate by about sigma^2 sqrt(2/N), as much as
    the whole error of a smooth image at sigma 50) is the same for both, and
    ``PROBE_PAIRS`` probes in all average the divergence's Monte-Carlo noise.
    """
    h, w = y_all.shape[-2:]
    ys = np.unique(np.linspace(0, h - ch, 2 if windows > 1 and h > ch else 1).round().astype(int))
    xs = np.unique(np.linspace(0, w - cw, 2 if windows > 2 and w > cw else 1).round().astype(int))
    boxes = [(y0, x0) for y0 in ys for x0 in xs]
    probes = max(1, -(-PROBE_PAIRS // len(boxes)))
    sa = sb = 0.0
    for y0, x0 in boxes:
        y = y_all[..., y0 : y0 + ch, x0 : x0 + cw].contiguous()
        for k in range(probes):
            sa += float(sure_loss(a, y, sigma, torch.Generator(device=y.device).manual_seed(seed + 1 + k)))
            sb += float(sure_loss(b, y, sigma, torch.Generator(device=y.device).manual_seed(seed + 1 + k)))
    n = len(boxes) * probes
    return sa / n, sb / n
