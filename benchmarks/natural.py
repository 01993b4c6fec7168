"""Held-out natural test images for the denoising and super-resolution benchmarks.

None of them is in the training data of the shipped weights: the three
scikit-image samples are the validation split `imrestore train` keeps out of
`skimage` (seed 0, fraction 0.15); the others come from scikit-learn's and
matplotlib's bundled sample images, which training never sees.
"""
from __future__ import annotations

import numpy as np

#: The photographs among the test images (cell and immunohistochemistry are microscopy).
PHOTOS = ("camera", "china", "flower", "grace_hopper")


def test_images(channels: int, size: int = 256) -> dict[str, np.ndarray]:
    import matplotlib.cbook as cbook
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from imrestore.datasets import skimage_images
    from imrestore.nn.data import split

    sk = skimage_images()
    names = list(sk)
    _, val = split(len(names), 0.15, 0)
    images = {names[i]: sk[names[i]] for i in val}
    samples = load_sample_images()
    for name, img in zip(("china", "flower"), samples.images):
        images[name] = img / 255.0
    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        images["grace_hopper"] = np.asarray(Image.open(fh)) / 255.0
    return centre_crops(images, channels, size)


def training_images(channels: int, size: int = 256) -> dict[str, np.ndarray]:
    """The scikit-image samples the shipped weights *were* trained on (the other split of ``test_images``'s three),
    those at least ``size`` on each side: where a choice is made that the held-out images must then only measure."""
    from imrestore.datasets import skimage_images
    from imrestore.nn.data import split

    sk = skimage_images()
    names = list(sk)
    train, _ = split(len(names), 0.15, 0)
    return centre_crops({names[i]: sk[names[i]] for i in train if min(np.shape(sk[names[i]])[:2]) >= size}, channels, size)


def centre_crops(images: dict[str, np.ndarray], channels: int, size: int) -> dict[str, np.ndarray]:
    """Each image as float32 with ``channels`` channels, its centre ``size`` x ``size`` crop."""
    from imrestore.nn.data import to_channels

    out = {}
    for name, img in images.items():
        img = to_channels(np.asarray(img, np.float32), channels)
        h, w = img.shape[:2]
        y, x = (h - size) // 2, (w - size) // 2
        out[name] = np.ascontiguousarray(img[y : y + size, x : x + size])
    return out
