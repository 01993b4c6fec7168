"""imrestore: degrade, restore and measure images, with plugins.

>>> import numpy as np, imrestore
>>> noisy = imrestore.build("gaussian:sigma=25")(np.zeros((8, 8), np.float32), 0)
>>> noisy.shape
(8, 8)
>>> chain = imrestore.Chain.from_specs(["gaussian:sigma=25", "restorer:tv"])
>>> outputs, report = chain.run_arrays({"flat": np.full((32, 32), 0.5)})
>>> report.mean()["restored"]["psnr"] > report.mean()["corrupted"]["psnr"]
True
"""
from __future__ import annotations

from ._version import __version__
from .chain import Chain
from .errors import (
    ChainError,
    ImrestoreError,
    ImrestoreUsageError,
    ParameterError,
    SpecError,
)
from .evaluate import evaluate_arrays, evaluate_files
from .files import read_image, write_image
from .hookspecs import hookimpl
from .interfaces import Corruption, Image, Metric, Reader, Restorer, Writer
from .params import param
from .registry import build
from .runner import run
from .spec import parse_spec

__all__ = [
    "__version__",
    "hookimpl",
    "param",
    "build",
    "parse_spec",
    "Chain",
    "run",
    "read_image",
    "write_image",
    "evaluate_arrays",
    "evaluate_files",
    "Corruption",
    "Restorer",
    "Metric",
    "Reader",
    "Writer",
    "Image",
    "ImrestoreError",
    "ImrestoreUsageError",
    "ParameterError",
    "SpecError",
    "ChainError",
]
