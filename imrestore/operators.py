"""Linear forward operators of the degradations: ``A`` and its adjoint ``Aᵀ``, with the data step of plug-and-play.

Each linear corruption (blur, down-sampling, masks, k-space under-sampling) says which operator it applied
(:meth:`imrestore.interfaces.Corruption.operator`), with the same boundary handling as the corruption itself, so that
``A(x)`` reproduces the corruption of ``x`` exactly (up to the noise).  An operator maps a float array whose first two
axes are ``YX`` (a trailing channel axis is carried along) to another such array.  Operators compose in chain order
(:class:`Compose`: blur then down-sample is super-resolution with a kernel).

:func:`check_adjoint` is the adjoint test ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ that every operator here passes, and that a third-party
corruption declaring an operator is held to.  :meth:`LinearOperator.solve_normal` is the data step
``(AᵀA + ρI)⁻¹ r``: in closed form where it is cheap (masks, pooling, k-space, and convolution with a symmetric PSF
and reflecting borders, which the DCT diagonalises), else by conjugate gradients preconditioned with that DCT
inverse (a PSF that is not symmetric).

>>> import numpy as np
>>> op = Compose([Convolve(np.ones((3, 3)) / 9), Pool(2)])
>>> op.out_shape((8, 8))
(4, 4)
>>> check_adjoint(op, (8, 8)) < 1e-10
True
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

__all__ = ["LinearOperator", "Identity", "Mask", "Convolve", "Pool", "Fourier", "Compose", "check_adjoint",
           "conjugate_gradient"]


def _broadcast(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A YX array shaped to multiply ``x`` (YX or YXC)."""
    return weights.reshape(weights.shape + (1,) * (x.ndim - weights.ndim))


class LinearOperator(abc.ABC):
    """A linear map between images (first two axes YX): ``forward``, ``adjoint`` and the data step."""

    #: What the record and the report call it.
    kind: str = ""

    @abc.abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """``A x``."""

    @abc.abstractmethod
    def adjoint(self, y: np.ndarray, in_shape: tuple[int, ...] | None = None) -> np.ndarray:
        """``Aᵀ y``; ``in_shape`` is the shape of ``x`` where ``A`` drops pixels (pooling a size that is no multiple)."""

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of ``A x`` for ``x`` of ``in_shape`` (the same by default)."""
        return tuple(in_shape)

    def gram(self, x: np.ndarray) -> np.ndarray:
        """``AᵀA x``."""
        return self.adjoint(self.forward(x), np.shape(x))

    def solve_normal(self, rhs: np.ndarray, rho: float, x0: np.ndarray | None = None) -> np.ndarray:
        """``(AᵀA + ρI)⁻¹ rhs``: closed form where the operator has one, else conjugate gradients."""
        return conjugate_gradient(lambda v: self.gram(v) + rho * v, rhs, x0)

    def initial(self, y: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray:
        """A cheap first guess of ``x`` from ``y`` (where plug-and-play starts): ``y`` itself where the shapes agree
        (blur: the blurred image is close), else ``Aᵀy``.  Operators that drop pixels override it with an interpolation."""
        y = np.asarray(y, np.float64)
        return y if y.shape == tuple(in_shape) else self.adjoint(y, in_shape)

    def project(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """The nearest ``x'`` to ``x`` with ``A x' = y`` exactly, where that is cheap (masks, identity); else None.

        Noiseless data are then kept exactly: a sampler's spread is zero where the operator measures.
        """
        return None

    def describe(self) -> dict:
        """Kind and parameters, for the record and report.json."""
        return {"kind": self.kind}


def conjugate_gradient(apply: Callable[[np.ndarray], np.ndarray], rhs: np.ndarray, x0: np.ndarray | None = None,
                       precondition: Callable[[np.ndarray], np.ndarray] | None = None, tol: float = 1e-8,
                       max_iter: int = 200) -> np.ndarray:
    """Solve ``apply(x) = rhs`` for a symmetric positive definite ``apply`` (preconditioned conjugate gradients)."""
    dtype = np.result_type(rhs, np.float64)  # complex images (k-space operators) too: the real inner product Re<a, b>
    x = np.zeros_like(rhs, dtype=dtype) if x0 is None else np.array(x0, dtype)
    r = rhs - apply(x)
    z = precondition(r) if precondition else r
    p = z.copy()
    rz = float(np.vdot(r, z).real)
    stop = tol * max(float(np.linalg.norm(rhs)), 1e-30)
    for _ in range(max_iter):
        if np.linalg.norm(r) <= stop:
            break
        ap = apply(p)
        alpha = rz / float(np.vdot(p, ap).real)
        x += alpha * p
        r -= alpha * ap
        z = precondition(r) if precondition else r
        rz, rz_old = float(np.vdot(r, z).real), rz
        p = z + (rz / rz_old) * p
    return x


class Identity(LinearOperator):
    """``A = I``: plain denoising."""

    kind = "identity"

    def forward(self, x):
        return np.asarray(x, np.float64)

    def adjoint(self, y, in_shape=None):
        return np.asarray(y, np.float64)

    def solve_normal(self, rhs, rho, x0=None):
        return np.asarray(rhs, np.float64) / (1.0 + rho)

    def project(self, x, y):
        return np.array(y, np.float64)


@dataclass
class Mask(LinearOperator):
    """Keeps the pixels where ``keep`` (YX bool) is True and zeroes the others (erase, block, impulse noise)."""

    keep: np.ndarray
    kind = "mask"

    def __post_init__(self):
        self.keep = np.asarray(self.keep, bool)

    def forward(self, x):
        return np.asarray(x, np.float64) * _broadcast(self.keep, np.asarray(x))

    def adjoint(self, y, in_shape=None):
        return self.forward(y)

    def solve_normal(self, rhs, rho, x0=None):
        return np.asarray(rhs, np.float64) / (_broadcast(self.keep, np.asarray(rhs)) + rho)

    def project(self, x, y):
        return np.where(_broadcast(self.keep, np.asarray(x)), np.asarray(y, np.float64), np.asarray(x, np.float64))

    def initial(self, y, in_shape):
        """Missing pixels filled by normalised convolution (a Gaussian average of the measured ones near each), at a
        scale that reaches a few measured pixels wherever the mask leaves them; far from any, the measured mean."""
        from scipy import ndimage

        y = np.asarray(y, np.float64)
        keep = _broadcast(self.keep, y).astype(np.float64) * np.ones_like(y)
        scale = 1.0 / max(float(self.keep.mean()), 1e-3) ** 0.5
        axes = [scale, scale] + [0.0] * (y.ndim - 2)
        num = ndimage.gaussian_filter(y * keep, axes, mode="reflect")
        den = ndimage.gaussian_filter(keep, axes, mode="reflect")
        fallback = float((y * keep).sum() / max(keep.sum(), 1.0))
        fill = np.where(den > 1e-6, num / np.maximum(den, 1e-6), fallback)
        return np.where(keep > 0, y, fill)

    def describe(self):
        return {"kind": self.kind, "measured_fraction": float(self.keep.mean())}


@dataclass
class Convolve(LinearOperator):
    """Convolution with ``psf`` (2-D YX, or 3-D ZYX for a stack: widefield microscopy; centred) over the array's
    leading axes, with reflecting borders, as ``scipy.ndimage`` with ``mode="reflect"`` (the blur corruption): pad by
    symmetric reflection, convolve, crop.  The adjoint correlates and folds the pad back."""

    psf: np.ndarray
    kind = "convolve"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.psf = np.asarray(self.psf, np.float64)
        if self.psf.ndim not in (2, 3) or min(self.psf.shape) < 1:
            raise ValueError(f"convolve: the PSF must be a 2-D or 3-D array, got shape {self.psf.shape}")

    @property
    def _axes(self) -> tuple[int, ...]:
        return tuple(range(self.psf.ndim))

    def _otf(self, shape: tuple[int, ...]) -> np.ndarray:
        """The PSF's transfer function on a grid of ``shape``, centre at the origin."""
        if shape not in self._cache:
            kernel = np.zeros(shape)
            index = np.ix_(*[np.mod(np.arange(k) - k // 2, n) for k, n in zip(self.psf.shape, shape)])
            np.add.at(kernel, index, self.psf)  # wrapped where the PSF outgrows the grid
            self._cache[shape] = np.fft.rfftn(kernel)
        return self._cache[shape]

    def _circular(self, x: np.ndarray, conj: bool) -> np.ndarray:
        shape = x.shape[: self.psf.ndim]
        otf = self._otf(shape)
        otf = np.conj(otf) if conj else otf
        spectrum = np.fft.rfftn(x, axes=self._axes) * _broadcast(otf, x)
        return np.fft.irfftn(spectrum, s=shape, axes=self._axes)

    def _widths(self, x: np.ndarray) -> list[tuple[int, int]]:
        # a circular convolution on the padded grid leaves the centre exact when the pad covers the kernel's reach
        return [(k // 2 + 1, k // 2 + 1) for k in self.psf.shape] + [(0, 0)] * (x.ndim - self.psf.ndim)

    def _inner(self, x: np.ndarray) -> tuple[slice, ...]:
        return tuple(slice(t, t + n) for (t, _), n in zip(self._widths(x), x.shape))

    def forward(self, x):
        x = np.asarray(x, np.float64)
        padded = np.pad(x, self._widths(x), mode="symmetric")  # scipy's "reflect" is numpy's "symmetric"
        return self._circular(padded, conj=False)[self._inner(x)]

    def adjoint(self, y, in_shape=None):
        y = np.asarray(y, np.float64)
        widths = self._widths(y)
        big = np.zeros(tuple(n + a + b for n, (a, b) in zip(y.shape, widths)))
        big[self._inner(y)] = y
        big = self._circular(big, conj=True)
        for axis in self._axes:
            big = _fold_axis(big, widths[axis][0], y.shape[axis], axis)
        return big

    @property
    def symmetric(self) -> bool:
        """Whether the PSF is even along each axis (a Gaussian, most measured widefield PSFs up to noise)."""
        flipped = self.psf[tuple(slice(None, None, -1) for _ in self._axes)]
        return bool(np.allclose(self.psf, flipped, rtol=0, atol=1e-12 * float(np.abs(self.psf).max())))

    def _dct_eigenvalues(self, shape: tuple[int, ...]) -> np.ndarray:
        """The eigenvalues of the convolution with the PSF's even part under reflecting borders, in the DCT-II basis.

        A symmetric PSF with half-sample symmetric (reflecting) borders gives a matrix that the orthonormal DCT-II
        diagonalises (Ng, Chan and Tang, SIAM J. Sci. Comput. 1999): its eigenvalues are the DCT of its first column
        over the DCT of the first unit vector.
        """
        from scipy.fft import dctn

        key = ("dct", shape)
        if key not in self._cache:
            even = Convolve((self.psf + self.psf[tuple(slice(None, None, -1) for _ in self._axes)]) / 2)
            unit = np.zeros(shape)
            unit[(0,) * len(shape)] = 1.0
            self._cache[key] = dctn(even.forward(unit), type=2, norm="ortho") / dctn(unit, type=2, norm="ortho")
        return self._cache[key]

    def _dct_inverse(self, rho: float, shape: tuple[int, ...]):
        """``(AᵀA + ρ)⁻¹`` in the DCT-II basis: exact for a symmetric PSF, a preconditioner for any other."""
        from scipy.fft import dctn, idctn

        grid = shape[: self.psf.ndim]
        inverse = 1.0 / (self._dct_eigenvalues(grid) ** 2 + rho)
        return lambda r: idctn(dctn(r, type=2, norm="ortho", axes=self._axes) * _broadcast(inverse, r), type=2,
                               norm="ortho", axes=self._axes)

    def solve_normal(self, rhs, rho, x0=None):
        rhs = np.asarray(rhs, np.float64)
        if self.symmetric:  # closed form: the DCT diagonalises AᵀA with reflecting borders
            return self._dct_inverse(rho, rhs.shape)(rhs)
        return conjugate_gradient(lambda v: self.gram(v) + rho * v, rhs, x0, self._dct_inverse(rho, rhs.shape), tol=1e-4)

    def describe(self):
        return {"kind": self.kind, "psf_shape": list(self.psf.shape), "boundary": "reflect"}


def _fold_axis(big: np.ndarray, t: int, n: int, axis: int) -> np.ndarray:
    """Fold a symmetric pad of ``t`` on each side of ``axis`` back onto the ``n`` values it was taken from."""
    big = np.moveaxis(big, axis, 0)
    if t <= n:  # one reflection: the pads are the edges mirrored (np.add.at, the general case, is 50x slower)
        out = big[t : t + n].copy()
        out[:t] += big[t - 1 :: -1] if t else 0
        out[n - t :] += big[t + n :][::-1] if t else 0
    else:
        out = np.zeros((n,) + big.shape[1:])
        np.add.at(out, _symmetric_index(np.arange(-t, n + t), n), big)
    return np.moveaxis(out, 0, axis)


def _symmetric_index(i: np.ndarray, n: int) -> np.ndarray:
    """Where numpy's symmetric padding takes index ``i`` from, in ``range(n)``."""
    period = 2 * n
    i = np.mod(i, period)
    return np.where(i < n, i, period - 1 - i)


@dataclass
class Pool(LinearOperator):
    """Average pooling over ``factor`` x ``factor`` blocks (the downsample corruption; rows and columns past the last
    whole block are dropped).  ``A Aᵀ = I / factor²``, so the data step has a closed form (Woodbury)."""

    factor: int
    kind = "pool"

    def out_shape(self, in_shape):
        f = self.factor
        return (in_shape[0] // f, in_shape[1] // f) + tuple(in_shape[2:])

    def forward(self, x):
        x = np.asarray(x, np.float64)
        f = self.factor
        hh, ww = x.shape[0] // f, x.shape[1] // f
        return x[: hh * f, : ww * f].reshape(hh, f, ww, f, *x.shape[2:]).mean(axis=(1, 3))

    def adjoint(self, y, in_shape: tuple[int, ...] | None = None):
        y = np.asarray(y, np.float64)
        f = self.factor
        up = np.repeat(np.repeat(y, f, axis=0), f, axis=1) / f**2
        if in_shape is None or tuple(in_shape[:2]) == up.shape[:2]:
            return up
        out = np.zeros(tuple(in_shape[:2]) + y.shape[2:])
        out[: up.shape[0], : up.shape[1]] = up
        return out

    def solve_normal(self, rhs, rho, x0=None):
        rhs = np.asarray(rhs, np.float64)
        # (ρI + AᵀA)⁻¹ = (I − Aᵀ(ρI + AAᵀ)⁻¹A) / ρ with AAᵀ = I/f²
        return (rhs - self.adjoint(self.forward(rhs), rhs.shape) / (rho + 1.0 / self.factor**2)) / rho

    def project(self, x, y):
        """``x`` with each block's mean set to ``y``'s (``x - Aᵀ(AAᵀ)⁻¹(Ax - y)``, ``AAᵀ = I/f²``); dropped borders kept."""
        x = np.asarray(x, np.float64)
        return x - self.factor**2 * self.adjoint(self.forward(x) - np.asarray(y, np.float64), x.shape)

    def initial(self, y, in_shape):
        """Bicubic up-sampling of ``y`` (the classical answer), edge-padded where pooling dropped a border."""
        from skimage import transform

        y = np.asarray(y, np.float64)
        f = self.factor
        target = (y.shape[0] * f, y.shape[1] * f) + y.shape[2:]
        up = transform.resize(y, target, order=3, mode="reflect", anti_aliasing=False)
        extra = [(0, n - m) for n, m in zip(in_shape[:2], target[:2])] + [(0, 0)] * (y.ndim - 2)
        return np.pad(up, extra, mode="edge") if any(e for _, e in extra) else up

    def describe(self):
        return {"kind": self.kind, "factor": self.factor}


@dataclass
class Fourier(LinearOperator):
    """Cartesian k-space under-sampling seen in the image: ``x ↦ Re F⁻¹ (W ⊙ F x)`` with the orthonormal 2-D FFT and
    ``weights`` W over the (uncentred) columns: the kspace corruption's zero-filled image.  Diagonal in Fourier space on
    real images (the spectrum symmetrised), so the data step is closed-form."""

    weights: np.ndarray
    kind = "fourier"

    def __post_init__(self):
        self.weights = np.asarray(self.weights, np.float64)

    def _diagonal(self, shape: tuple[int, int], power: int) -> np.ndarray:
        w = np.broadcast_to(self.weights[None, :] if self.weights.ndim == 1 else self.weights, shape)
        flipped = np.roll(w[::-1, ::-1], 1, axis=(0, 1))  # w at -k
        return ((w + flipped) / 2) ** power  # Re of a real image's spectrum times w: times w symmetrised

    def _apply(self, x, power):
        x = np.asarray(x, np.float64)
        d = _broadcast(self._diagonal(x.shape[:2], power), x)
        return np.fft.ifft2(np.fft.fft2(x, axes=(0, 1)) * d, axes=(0, 1)).real

    def forward(self, x):
        return self._apply(x, 1)

    def adjoint(self, y, in_shape=None):
        return self._apply(y, 1)  # self-adjoint: a real, symmetrised diagonal in an orthonormal basis

    def gram(self, x):
        return self._apply(x, 2)

    def solve_normal(self, rhs, rho, x0=None):
        rhs = np.asarray(rhs, np.float64)
        d = _broadcast(self._diagonal(rhs.shape[:2], 2) + rho, rhs)
        return np.fft.ifft2(np.fft.fft2(rhs, axes=(0, 1)) / d, axes=(0, 1)).real

    def describe(self):
        return {"kind": self.kind, "measured_fraction": float(np.mean(self.weights > 0))}


@dataclass
class Compose(LinearOperator):
    """Operators applied in chain order: ``Compose([A1, A2])(x) = A2(A1(x))``."""

    ops: Sequence[LinearOperator]
    kind = "compose"

    def __post_init__(self):
        self.ops = [op for op in self.ops if not isinstance(op, Identity)]

    def out_shape(self, in_shape):
        for op in self.ops:
            in_shape = op.out_shape(in_shape)
        return tuple(in_shape)

    def forward(self, x):
        x = np.asarray(x, np.float64)
        for op in self.ops:
            x = op.forward(x)
        return x

    def adjoint(self, y, in_shape: tuple[int, ...] | None = None):
        shapes = []
        if in_shape is not None:
            shape = tuple(in_shape)
            for op in self.ops:
                shapes.append(shape)
                shape = op.out_shape(shape)
        y = np.asarray(y, np.float64)
        for i, op in reversed(list(enumerate(self.ops))):
            y = op.adjoint(y, shapes[i] if shapes else None)
        return y

    def solve_normal(self, rhs, rho, x0=None):
        if not self.ops:
            return Identity().solve_normal(rhs, rho)
        if len(self.ops) == 1:
            return self.ops[0].solve_normal(rhs, rho, x0)
        return super().solve_normal(rhs, rho, x0)

    def project(self, x, y):
        """The one operator's projection (none for a composition: blur then pooling has no cheap one)."""
        if not self.ops:
            return Identity().project(x, y)
        return self.ops[0].project(x, y) if len(self.ops) == 1 else None

    def initial(self, y, in_shape):
        """Each operator's first guess, from the last back to the first (blur then pooling: bicubic, then as blurred)."""
        shapes = [tuple(in_shape)]
        for op in self.ops[:-1]:
            shapes.append(tuple(op.out_shape(shapes[-1])))
        x = np.asarray(y, np.float64)
        for op, shape in reversed(list(zip(self.ops, shapes))):
            x = op.initial(x, shape)
        return x

    def describe(self):
        return {"kind": self.kind, "ops": [op.describe() for op in self.ops]}


def check_adjoint(op: LinearOperator, in_shape: tuple[int, ...], seed: int = 0) -> float:
    """The relative gap between ⟨Ax, y⟩ and ⟨x, Aᵀy⟩ for random ``x`` of ``in_shape`` and ``y`` (about 1e-15 for an
    exact adjoint): the test every operator, built-in or a plugin's, must pass.  An operator on complex images
    (``complex_valued``, e.g. an MRI acquisition) gets complex draws, and its adjoint is the conjugate transpose."""
    rng = np.random.default_rng(seed)
    complex_valued = getattr(op, "complex_valued", False)

    def draw(shape):
        real = rng.standard_normal(shape)
        return real + 1j * rng.standard_normal(shape) if complex_valued else real

    x = draw(in_shape)
    ax = op.forward(x)
    y = draw(ax.shape)
    aty = op.adjoint(y, tuple(in_shape))
    if aty.shape != x.shape:
        raise ValueError(f"{op.kind}: the adjoint gives shape {aty.shape}, the input is {x.shape}")
    lhs, rhs = complex(np.vdot(ax, y)), complex(np.vdot(x, aty))
    return abs(lhs - rhs) / max(abs(lhs), abs(rhs), 1e-30)
