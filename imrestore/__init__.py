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

__version__ = "0.1.0"

from .hookspecs import hookimpl
from .errors import ImrestoreError, ImrestoreUsageError, ItemError, ParameterError, SpecError, ChainError
from .interfaces import Corruption, Image, Metric, Reader, Restorer, Writer
from .params import param
from .spec import build, parse_spec
from .chain import Chain
from .pipeline import run, read_image, write_image
from .evaluate import evaluate_arrays, evaluate_files

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
    "ItemError",
    "ParameterError",
    "SpecError",
    "ChainError",
]
