"""MRI helpers: fastMRI's centred FFTs, root-sum-of-squares coil combination, the acquisition as a forward operator
(:class:`CoilFourier`, with the sampling mask, coil sensitivities and noise level a scan's own k-space gives), and a
simulated scan.

fastMRI stores k-space centred (``fftshift``-ed), slices x [coils x] rows x
columns, and reconstructs with an orthonormal centred inverse FFT, a centre
crop to the reconstruction's size (320 x 320 for the knee and brain sets) and
the root sum of squares over coils.

>>> import numpy as np
>>> image = np.outer(np.hanning(32), np.hanning(32))
>>> np.allclose(rss_image(fft2c(image), (32, 32)), image)
True
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ParameterError
from .operators import LinearOperator, check_adjoint, conjugate_gradient


def fft2c(image: np.ndarray) -> np.ndarray:
    """Centred, orthonormal 2-D FFT over the last two axes."""
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image, axes=axes), axes=axes, norm="ortho"), axes=axes)


def ifft2c(kspace: np.ndarray) -> np.ndarray:
    """Centred, orthonormal 2-D inverse FFT over the last two axes."""
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), axes=axes, norm="ortho"), axes=axes)


def center_crop(a: np.ndarray, shape: tuple[int, int], axes: tuple[int, int] = (-2, -1)) -> np.ndarray:
    """The centre ``shape`` of two axes, the last two by default (fastMRI's ``center_crop``).

    >>> center_crop(np.arange(16).reshape(4, 4), (2, 2)).tolist()
    [[5, 6], [9, 10]]
    """
    index = [slice(None)] * a.ndim
    for axis, size in zip(axes, shape):
        n = a.shape[axis]
        keep = min(size, n)
        start = (n - keep) // 2
        index[axis] = slice(start, start + keep)
    return a[tuple(index)]


def rss_image(kspace: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Magnitude image of centred k-space: inverse FFT, centre crop, root sum of squares over coils.

    ``kspace`` is ``rows x cols`` (single coil) or ``coils x rows x cols``.
    """
    coils = center_crop(ifft2c(np.asarray(kspace, np.complex128)), shape)
    if coils.ndim == 2:
        return np.abs(coils)
    return np.sqrt(np.sum(np.abs(coils) ** 2, axis=0))


@dataclass
class CoilFourier(LinearOperator):
    """A Cartesian MRI acquisition of a complex image ``x`` (YX): each coil's view ``S_c x`` (``maps``: coils x YX, the
    coil sensitivities; None for a single coil), its centred orthonormal 2-D FFT (fastMRI's ``fft2c``), kept where
    ``mask`` (YX, or X over the centred columns) is True.  The measurement is coils x YX (one coil: 1 x YX).

    Complex-valued (``complex_valued``): the adjoint is the conjugate transpose.  The data step is closed-form for one
    coil (diagonal in k-space) and conjugate gradients for several, preconditioned by the single-coil inverse.

    >>> op = CoilFourier(np.arange(8) % 2 == 0)
    >>> op.out_shape((4, 8)), check_adjoint(op, (4, 8)) < 1e-12
    ((1, 4, 8), True)
    """

    mask: np.ndarray
    maps: np.ndarray | None = None
    kind = "coil-fourier"
    complex_valued = True

    def __post_init__(self):
        self.mask = np.asarray(self.mask, bool)
        if self.maps is not None:
            self.maps = np.asarray(self.maps, np.complex128)

    @property
    def coils(self) -> int:
        return 1 if self.maps is None else self.maps.shape[0]

    def _mask(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(self.mask, tuple(shape[-2:]))

    def out_shape(self, in_shape):
        return (self.coils,) + tuple(in_shape[-2:])

    def forward(self, x):
        x = np.asarray(x, np.complex128)
        views = x[None] if self.maps is None else self.maps * x
        return fft2c(views) * self._mask(x.shape)

    def adjoint(self, y, in_shape=None):
        y = np.asarray(y, np.complex128)
        views = ifft2c(y * self._mask(y.shape))
        return views[0] if self.maps is None else np.sum(np.conj(self.maps) * views, axis=0)

    def _single_coil_inverse(self, rhs: np.ndarray, rho: float) -> np.ndarray:
        return ifft2c(fft2c(rhs) / (self._mask(rhs.shape) + rho))

    def solve_normal(self, rhs, rho, x0=None):
        rhs = np.asarray(rhs, np.complex128)
        if self.maps is None:
            return self._single_coil_inverse(rhs, rho)
        return conjugate_gradient(lambda v: self.gram(v) + rho * v, rhs, x0,
                                  lambda r: self._single_coil_inverse(r, rho), tol=1e-4, max_iter=30)

    def initial(self, y, in_shape):
        """The zero-filled image (several coils: combined with their sensitivities)."""
        return self.adjoint(y, in_shape)

    def describe(self):
        return {"kind": self.kind, "coils": self.coils, "measured_fraction": round(float(self._mask(self.mask.shape).mean()), 4)}


def sampling_mask(kspace: np.ndarray, stored: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The sampled k-space locations (rows x cols bool) of ``kspace`` ([coils x] rows x cols) and where they came
    from: the file's own ``mask`` dataset (over the columns, or rows x cols) where it has one, else the locations
    where any coil measured something (the zeros of an under-sampled scan).  One-line errors where neither works.

    >>> k = np.ones((2, 4, 6), complex); k[..., 1::2] = 0
    >>> m, how = sampling_mask(k); m[0].astype(int).tolist(), how
    ([1, 0, 1, 0, 1, 0], 'inferred from the zeros of the k-space')
    """
    rows, cols = kspace.shape[-2:]
    if stored is not None:
        m = np.asarray(stored)
        if m.ndim == 1 and m.shape[0] == cols:
            return np.broadcast_to(m != 0, (rows, cols)), "stored, over the columns"
        if m.shape == (rows, cols):
            return m != 0, "stored"
        raise ParameterError(f"the file's sampling mask has shape {m.shape}; its k-space is {rows}x{cols}, so the mask "
                             f"must cover the {cols} columns or all {rows}x{cols} locations")
    sampled = np.any(np.asarray(kspace) != 0, axis=tuple(range(kspace.ndim - 2)))
    if not sampled.any():
        raise ParameterError("the k-space is all zeros and the file has no mask dataset: no sampling mask can be inferred")
    return sampled, "inferred from the zeros of the k-space"


def calibration_width(mask: np.ndarray) -> int:
    """How many columns around the centre of k-space are sampled without a gap (the auto-calibration region)."""
    sampled = np.asarray(mask, bool).all(axis=0)
    centre = sampled.shape[0] // 2
    left = right = centre
    if not sampled[centre]:
        return 0
    while left > 0 and sampled[left - 1]:
        left -= 1
    while right + 1 < sampled.shape[0] and sampled[right + 1]:
        right += 1
    return right - left + 1


#: ESPIRiT's calibration region: at most this many central rows and columns.
CALIBRATION = 24
#: Fewer fully sampled central columns than this cannot calibrate coil sensitivities.
MIN_CALIBRATION = 6


def check_calibration(mask: np.ndarray) -> int:
    """The calibration width ESPIRiT will use for a multi-coil scan sampled at ``mask``; a one-line error where sigpy
    is missing or too few central columns are fully sampled (checked before a run writes anything)."""
    try:
        import sigpy.mri.app  # noqa: F401
    except ImportError:
        raise ParameterError("multi-coil k-space: the coil sensitivities come from sigpy's ESPIRiT, which is not "
                             "installed (pip install 'imrestore[mri]')") from None
    width = calibration_width(mask)
    if width < MIN_CALIBRATION:
        raise ParameterError(f"multi-coil k-space: only {width} central columns are fully sampled; coil sensitivities "
                             f"need at least {MIN_CALIBRATION}")
    return min(width, CALIBRATION)


def coil_maps(kspace: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, str]:
    """Coil sensitivities (coils x rows x cols) from the fully sampled centre of multi-coil ``kspace`` by sigpy's
    ESPIRiT (Uecker et al. 2014), and a line for the record."""
    width = check_calibration(mask)
    from sigpy.mri.app import EspiritCalib

    # crop=0: unit-norm maps everywhere (sum |S_c|^2 = 1), not zero outside the object; the data step's single-coil
    # preconditioner is then close to exact, and CG converges in a few steps (with the default crop it diverged)
    maps = EspiritCalib(np.asarray(kspace, np.complex64), calib_width=width, crop=0, show_pbar=False).run()
    return np.asarray(maps, np.complex128), f"ESPIRiT (sigpy), {width} calibration columns"


def kspace_noise_sigma(kspace: np.ndarray, mask: np.ndarray) -> float:
    """The noise sigma of each real and imaginary part of ``kspace`` ([coils x] rows x cols), which with the orthonormal
    FFT is also the image's: the median absolute value (over 0.6745) of the sampled samples in the outermost eighth of
    rows at either end, the highest frequencies along the fully sampled read-out, where noise dominates the signal.

    >>> rng = np.random.default_rng(0)
    >>> k = rng.normal(0, 0.1, (256, 256)) + 1j * rng.normal(0, 0.1, (256, 256))
    >>> round(kspace_noise_sigma(k, np.ones((256, 256), bool)), 2)
    0.1
    """
    k = np.asarray(kspace).reshape((-1,) + kspace.shape[-2:])
    m = np.broadcast_to(np.asarray(mask, bool), k.shape[-2:])
    edge = max(k.shape[-2] // 16, 1)
    rows = np.r_[0:edge, k.shape[-2] - edge : k.shape[-2]]
    picked = k[:, rows][:, m[rows]]
    if picked.size == 0:
        return 0.0
    values = np.concatenate([picked.real.ravel(), picked.imag.ravel()])
    return float(np.median(np.abs(values)) / 0.6745)


def smooth_coil_maps(coils: int, shape: tuple[int, int]) -> np.ndarray:
    """Smooth, complex coil sensitivities around the field of view (Gaussian falloffs with linear phases), for
    simulated multi-coil scans."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    angles = np.linspace(0, 2 * np.pi, coils, endpoint=False)
    return np.stack([np.exp(-(((yy - rows / 2 - rows / 2.5 * np.sin(a)) / rows) ** 2
                              + ((xx - cols / 2 - cols / 2.5 * np.cos(a)) / cols) ** 2) * 2) * np.exp(1j * a)
                     for a in angles])


def write_scan(path: str | Path, images: np.ndarray, coils: int = 4, crop: tuple[int, int] | None = None,
               noise: float = 0.002, mask: np.ndarray | None = None, seed: int = 0,
               acquisition: str = "CORPD_FBK", patient: str = "simulated") -> Path:
    """Write an HDF5 file in the fastMRI layout from ``images`` (slices x rows x cols): what a scanner export holds.

    ``kspace`` is slices x coils x rows x cols (``coils=1``: slices x rows x cols, single coil), complex64, centred: the
    images seen by smooth coil sensitivities (:func:`smooth_coil_maps`) with complex white noise of sigma ``noise``.
    With ``mask`` (centred columns, bool), the k-space is under-sampled by it and stored as a ``mask`` dataset, as in
    fastMRI's test sets.  ``reconstruction_rss`` (``reconstruction_esc`` for one coil) is the fully sampled,
    noisy root-sum-of-squares image, centre-cropped to ``crop``, and the attributes ``max`` and ``norm`` are fastMRI's.
    """
    import h5py

    images = np.asarray(images, np.float64)
    slices, rows, cols = images.shape
    crop = tuple(crop) if crop is not None else (rows, cols)
    rng = np.random.default_rng(seed)
    sens = smooth_coil_maps(coils, (rows, cols)) if coils > 1 else np.ones((1, rows, cols))
    kspace = np.empty((slices, coils, rows, cols), np.complex64)
    for s in range(slices):
        views = images[s][None] * sens
        kspace[s] = fft2c(views + (rng.normal(size=views.shape) + 1j * rng.normal(size=views.shape)) * noise)
    recon = np.stack([rss_image(k, crop) for k in kspace]).astype(np.float32)
    if mask is not None:
        kspace *= np.asarray(mask, bool)
    kspace = kspace if coils > 1 else kspace[:, 0]
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace, chunks=(1,) + kspace.shape[1:])
        f.create_dataset("reconstruction_rss" if coils > 1 else "reconstruction_esc", data=recon)
        if mask is not None:
            f.create_dataset("mask", data=np.asarray(mask, bool))
        f.create_dataset("ismrmrd_header", data=np.bytes_(f"<ismrmrdHeader>{patient}</ismrmrdHeader>".encode()))
        f.attrs.update({"max": float(recon.max()), "norm": float(np.linalg.norm(recon)),
                        "acquisition": acquisition, "patient_id": patient})
    return path


def write_phantom_scan(path: str | Path, slices: int = 8, coils: int = 4, shape: tuple[int, int] = (128, 96),
                       crop: tuple[int, int] = (80, 80), seed: int = 0) -> Path:
    """Write an HDF5 file in the fastMRI multi-coil layout from Shepp-Logan phantoms (:func:`write_scan`).

    >>> import tempfile, h5py
    >>> p = write_phantom_scan(tempfile.mkdtemp() + "/scan.h5", slices=2)
    >>> with h5py.File(p) as f:
    ...     f["kspace"].shape, f["reconstruction_rss"].shape, f.attrs["acquisition"]
    ((2, 4, 128, 96), (2, 80, 80), 'CORPD_FBK')
    """
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    phantom = shepp_logan_phantom()
    rows, cols = shape
    images = np.zeros((slices, rows, cols))
    for s in range(slices):
        zoom = 0.75 + 0.2 * np.sin(np.pi * (s + 0.5) / slices)
        size = (int(rows * zoom), int(cols * zoom))
        top, left = (rows - size[0]) // 2, (cols - size[1]) // 2
        images[s, top : top + size[0], left : left + size[1]] = resize(phantom, size, anti_aliasing=True)
    return write_scan(path, images, coils=coils, crop=crop, seed=seed, patient="phantom")
