"""imrestore: degrade, restore and measure images, with plugins.

>>> import numpy as np, imrestore
>>> noisy = imrestore.build("gaussian:sigma=25")(np.zeros((8, 8), np.float32), 0)
>>> noisy.shape
(8, 8)
"""
from __future__ import annotations

__version__ = "0.1.0"

from .hookspecs import hookimpl
from .errors import ImrestoreError, ImrestoreUsageError, ItemError, ParameterError, SpecError, ChainError
from .interfaces import Corruption, Image, Metric, Reader, Restorer, Writer
from .params import param
from .spec import build, parse_spec

__all__ = [
    "__version__",
    "hookimpl",
    "param",
    "build",
    "parse_spec",
    "Corruption",
    "Restorer",
    "Metric",
    "Reader",
    "Writer",
    "Image",
    "ImrestoreError",
    "ImrestoreUsageError",
    "ItemError",
    "ParameterError",
    "SpecError",
    "ChainError",
]
