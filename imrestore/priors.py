"""A denoiser as the prior of a linear inverse problem: plug-and-play half-quadratic splitting (HQS).

A denoiser trained with the quadratic loss computes E[X | X̃] and so carries the prior of the images it was trained
on; with the forward operator ``A`` of a degradation (:mod:`imrestore.operators`) it solves ``y = A x + n``.  HQS
alternates the data step ``x = argmin ||y - A x||² + ρ_k ||x - z||²`` (the operator's ``solve_normal``) and the prior
step ``z = D(x, σ_k)``, with the annealed schedule of DPIR (Zhang et al., "Plug-and-play image restoration with deep
denoiser prior", TPAMI 2021): ``σ_k`` log-spaced from ``sigma_start`` down to the measurement's noise level and
``ρ_k = λ σ² / σ_k²`` with λ = 0.23.

Arrays in, arrays out: ``denoise(image, sigma)`` takes and returns float arrays in [0, 1] scale, ``sigma`` in the same
units.

>>> import numpy as np
>>> from imrestore.operators import Mask
>>> keep = np.arange(64).reshape(8, 8) % 2 == 0
>>> x, info = pnp_hqs(np.where(keep, 0.5, 0.0), Mask(keep), lambda z, s: np.full_like(z, z.mean()), noise_sigma=0.01)
>>> round(float(x.mean()), 2), info["denoiser_calls"]
(0.5, 8)
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .operators import LinearOperator

__all__ = ["dpir_schedule", "pnp", "pnp_hqs", "pnp_sample"]

#: DPIR's weight of the data term against the prior (their λ).
LAMBDA = 0.23
#: DiffPIR's share of fresh noise when a sample is noised again for the next step (ζ; 1: all fresh, 0: none).
ZETA = 0.5
#: The lowest noise level the schedule assumes for the measurement: a noiseless one would make ρ zero.
SIGMA_FLOOR = 0.5 / 255


def dpir_schedule(iterations: int, noise_sigma: float, sigma_start: float = 49 / 255) -> np.ndarray:
    """The denoiser's noise level at each iteration: log-spaced from ``sigma_start`` to the measurement's level.

    >>> [round(float(s) * 255, 2) for s in dpir_schedule(3, 1 / 255)]
    [49.0, 7.0, 1.0]
    """
    end = max(noise_sigma, SIGMA_FLOOR)
    return np.geomspace(max(sigma_start, end), end, max(int(iterations), 1))


def pnp(y: np.ndarray, op: LinearOperator, denoise: Callable[[np.ndarray, float], np.ndarray], noise_sigma: float,
        iterations: int = 8, sigma_start: float = 49 / 255, x0: np.ndarray | None = None, lam: float = LAMBDA,
        method: str = "hqs", in_shape: tuple[int, ...] | None = None, exact: bool | None = None,
        on_step: Callable[[int], None] | None = None) -> tuple[np.ndarray, dict]:
    """Restore ``x`` from ``y = op(x) + noise`` with ``denoise`` as the prior; return it and what was done.

    ``method`` is ``"hqs"`` (half-quadratic splitting, DPIR) or ``"admm"`` (the same steps with a scaled dual variable
    ``u`` that accumulates what the prior and the data disagree on: ``x = argmin ||y-Ax||² + ρ||x-(z-u)||²``,
    ``z = D(x+u)``, ``u += x - z``).  ``x0`` starts the loop (default ``op.initial(y)``: the measurement interpolated
    where pixels are missing); ``in_shape`` is the shape of ``x`` (default: ``x0``'s, else ``y``'s).  ``exact`` says
    that ``y`` holds no noise (default: ``noise_sigma == 0``; a loop may assume some noise all the same): the result is
    then projected onto ``A x = y`` where the operator can do so cheaply (masks, pooling), so the measured pixels and
    block means are kept exactly instead of as the denoiser's last call left them.  The info holds the σ schedule, the
    data residual ``||y - A z|| / sqrt(n)`` after each iteration, the denoiser calls and whether the result was projected.
    """
    if method not in ("hqs", "admm"):
        raise ValueError(f"unknown plug-and-play method {method!r}; hqs or admm")
    y = _field(y)
    in_shape = tuple(in_shape) if in_shape is not None else (np.shape(x0) if x0 is not None else y.shape)
    aty = op.adjoint(y, in_shape)
    z = _field(x0 if x0 is not None else op.initial(y, in_shape))
    u = np.zeros_like(z)
    sigmas = dpir_schedule(iterations, noise_sigma, sigma_start)
    noise = max(noise_sigma, SIGMA_FLOOR)
    residuals = []
    for k, sigma in enumerate(sigmas):
        rho = lam * noise**2 / sigma**2
        x = op.solve_normal(aty + rho * (z - u), rho, z - u)
        z = _field(denoise(_single(x + u), float(sigma)))
        if method == "admm":
            u = u + x - z
        residuals.append(float(np.sqrt(np.mean(np.abs(op.forward(z) - y) ** 2))))
        if on_step is not None:
            on_step(k)
    projected = op.project(z, y) if _exact(noise_sigma, exact) else None
    return z if projected is None else projected, {
        "method": method, "sigmas": [float(s) for s in sigmas], "lambda": lam, "data_residual": residuals,
        "denoiser_calls": len(sigmas), "projected": projected is not None}


def _exact(noise_sigma: float, exact: bool | None) -> bool:
    """Whether the measurement holds no noise: as said, else when the loop is told none."""
    return noise_sigma == 0 if exact is None else bool(exact)


def _measured_pixels(op: LinearOperator, y: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray | None:
    """Where the projection onto ``A x = y`` fixes a pixel whatever ``x`` is (a mask's kept pixels; none under pooling,
    which fixes block means), or None where the operator cannot project."""
    first = op.project(np.zeros(in_shape), y)
    if first is None:
        return None
    other = op.project(np.random.default_rng(0).standard_normal(in_shape), y)
    return np.isclose(first, other, rtol=0, atol=1e-9)


def _field(a) -> np.ndarray:
    """``a`` in double precision, complex where it is complex (an MRI image under a k-space operator)."""
    a = np.asarray(a)
    return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64, copy=False)


def _single(a: np.ndarray) -> np.ndarray:
    """What a denoiser is handed: float32, or complex64 for a complex image."""
    return a.astype(np.complex64 if np.iscomplexobj(a) else np.float32)


def pnp_hqs(y, op, denoise, noise_sigma, **options) -> tuple[np.ndarray, dict]:
    """:func:`pnp` with half-quadratic splitting (DPIR)."""
    return pnp(y, op, denoise, noise_sigma, method="hqs", **options)


def pnp_sample(y: np.ndarray, op: LinearOperator, denoise: Callable[[np.ndarray, float], np.ndarray], noise_sigma: float,
               samples: int, iterations: int = 24, sigma_start: float = 49 / 255, x0: np.ndarray | None = None,
               lam: float = LAMBDA, zeta: float = ZETA, rng: np.random.Generator | None = None,
               in_shape: tuple[int, ...] | None = None, exact: bool | None = None,
               on_step: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Draw ``samples`` restorations of ``x`` given ``y = op(x) + noise``; return their mean, their per-pixel standard
    deviation and what was done.

    DiffPIR (Zhu et al., "Denoising diffusion models for plug-and-play image restoration", CVPR workshops 2023) in its
    variance-exploding form, with the same operator, denoiser and annealed schedule as :func:`pnp`: a sample starts as
    the first guess plus white noise of the schedule's first level; at each level ``σ_k`` the denoiser gives the
    posterior mean of the clean image (Tweedie), the data step pulls it to the measurement (``x̂₀``), and the sample is
    noised again to the next level with the noise the denoiser saw (``(x - x̂₀) / σ_k``) mixed with fresh noise in the
    share ``zeta``.  The last ``x̂₀`` is the sample where the measurement is exact; a noisy one ends, as :func:`pnp`
    does, on the denoiser's output at the measurement's level (a data step there would put its noise back).  Where the
    measurement is exact (``exact``, default ``noise_sigma == 0``) and the operator can project onto it (masks, pooling,
    identity), each sample is made to agree with it, so the spread there is zero.
    The draws come from ``rng`` (reproducible with a seeded generator).  ``denoise`` is called
    ``samples * iterations`` times.

    >>> from imrestore.operators import Mask
    >>> keep = np.arange(64).reshape(8, 8) % 2 == 0
    >>> y = np.where(keep, 0.5, 0.0)
    >>> mean, std, info = pnp_sample(y, Mask(keep), lambda z, s: np.full_like(z, z.mean()), 0.0, samples=4,
    ...                              iterations=6, rng=np.random.default_rng(0))
    >>> float(std[keep].max()), bool(std[~keep].min() > 0), info["denoiser_calls"]
    (0.0, True, 24)
    """
    samples = int(samples)
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    rng = rng if rng is not None else np.random.default_rng(0)
    y = np.asarray(y, np.float64)
    in_shape = tuple(in_shape) if in_shape is not None else (np.shape(x0) if x0 is not None else y.shape)
    aty = op.adjoint(y, in_shape)
    start = np.asarray(x0, np.float64) if x0 is not None else op.initial(y, in_shape)
    sigmas = dpir_schedule(iterations, noise_sigma, sigma_start)
    noise = max(noise_sigma, SIGMA_FLOOR)
    exact = _exact(noise_sigma, exact)
    total = np.zeros(in_shape)
    squares = np.zeros(in_shape)
    residuals = []
    for n in range(samples):
        x = start + sigmas[0] * rng.standard_normal(in_shape)
        for k, sigma in enumerate(sigmas):
            z = np.asarray(denoise(x.astype(np.float32), float(sigma)), np.float64)
            rho = lam * noise**2 / sigma**2
            x_hat = op.solve_normal(aty + rho * z, rho, z)
            if k + 1 < len(sigmas):
                seen = (x - x_hat) / sigma
                x = x_hat + sigmas[k + 1] * (np.sqrt(1 - zeta) * seen + np.sqrt(zeta) * rng.standard_normal(in_shape))
            if on_step is not None:
                on_step(n * len(sigmas) + k)
        if exact:
            projected = op.project(x_hat, y)
            x_hat = projected if projected is not None else x_hat
        else:  # the schedule ends at the measurement's noise, not at 0: the last data step would put that noise back
            x_hat = z
        residuals.append(float(np.sqrt(np.mean((op.forward(x_hat) - y) ** 2))))
        total += x_hat
        squares += x_hat**2
    mean = total / samples
    std = np.sqrt(np.maximum(squares / samples - mean**2, 0.0))
    if exact and samples > 1:
        measured = _measured_pixels(op, y, in_shape)
        if measured is not None:
            std = np.where(measured, 0.0, std)  # rounding of the running sums: exactly zero where every sample agrees
    return mean, std, {"method": "diffpir", "samples": samples, "zeta": zeta, "sigmas": [float(s) for s in sigmas],
                       "lambda": lam, "data_residual": residuals, "denoiser_calls": samples * len(sigmas)}
