"""Grey and RGB: an image converted to the channel count a network or a data set needs (NumPy only, no torch).

>>> import numpy as np
>>> to_channels(np.zeros((4, 5), np.float32), 3).shape
(4, 5, 3)
>>> to_channels(np.ones((4, 5, 3), np.float32), 1).shape
(4, 5)
"""
from __future__ import annotations

import numpy as np


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """``img`` (``YX`` or ``YXC``) with ``channels`` channels: RGB to grey by luminance, grey to RGB by repetition."""
    if channels == 1 and img.ndim == 3:
        # deferred: skimage.color costs a tenth of a second to import, and most commands never convert
        from skimage.color import rgb2gray

        return rgb2gray(img).astype(np.float32)
    if channels == 3 and img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    return img
