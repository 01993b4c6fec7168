"""MRI helpers: fastMRI's centred FFTs, root-sum-of-squares coil combination, and a phantom scan.

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

from pathlib import Path

import numpy as np


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


def write_phantom_scan(path: str | Path, slices: int = 8, coils: int = 4, shape: tuple[int, int] = (128, 96),
                       crop: tuple[int, int] = (80, 80), seed: int = 0) -> Path:
    """Write an HDF5 file in the fastMRI multi-coil layout from Shepp-Logan phantoms.

    ``kspace`` (slices x coils x rows x cols, complex64, centred),
    ``reconstruction_rss`` (slices x crop, float32) and the attributes ``max``,
    ``norm``, ``acquisition`` and ``patient_id``: what a scanner export looks
    like, small enough for tests and examples.

    >>> import tempfile, h5py
    >>> p = write_phantom_scan(tempfile.mkdtemp() + "/scan.h5", slices=2)
    >>> with h5py.File(p) as f:
    ...     f["kspace"].shape, f["reconstruction_rss"].shape, f.attrs["acquisition"]
    ((2, 4, 128, 96), (2, 80, 80), 'CORPD_FBK')
    """
    import h5py
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    phantom = shepp_logan_phantom()
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    angles = np.linspace(0, 2 * np.pi, coils, endpoint=False)
    sens = np.stack([np.exp(-(((yy - rows / 2 - rows / 2.5 * np.sin(a)) / rows) ** 2 + ((xx - cols / 2 - cols / 2.5 * np.cos(a)) / cols) ** 2) * 2)
                     * np.exp(1j * a) for a in angles])
    kspace = np.empty((slices, coils, rows, cols), np.complex64)
    for s in range(slices):
        zoom = 0.75 + 0.2 * np.sin(np.pi * (s + 0.5) / slices)
        size = (int(rows * zoom), int(cols * zoom))
        img = np.zeros(shape)
        top, left = (rows - size[0]) // 2, (cols - size[1]) // 2
        img[top : top + size[0], left : left + size[1]] = resize(phantom, size, anti_aliasing=True)
        coil_images = img[None] * sens
        noise = (rng.normal(size=coil_images.shape) + 1j * rng.normal(size=coil_images.shape)) * 0.002
        kspace[s] = fft2c(coil_images + noise)
    recon = np.stack([rss_image(k, crop) for k in kspace]).astype(np.float32)
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace, chunks=(1, coils, rows, cols))
        f.create_dataset("reconstruction_rss", data=recon)
        f.create_dataset("ismrmrd_header", data=np.bytes_(b"<ismrmrdHeader>phantom</ismrmrdHeader>"))
        f.attrs.update({"max": float(recon.max()), "norm": float(np.linalg.norm(recon)),
                        "acquisition": "CORPD_FBK", "patient_id": "phantom"})
    return path
