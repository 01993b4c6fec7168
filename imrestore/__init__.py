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

import importlib

from ._version import __version__
from .errors import (
    ChainError,
    ImrestoreError,
    ImrestoreUsageError,
    ParameterError,
    SpecError,
)
from .hookspecs import hookimpl

#: The rest of the public API, imported on first use: ``import imrestore`` (and so the command line, and a plugin that
#: only needs ``hookimpl``) starts at once instead of importing SciPy and scikit-image first.
_LAZY = {
    "Chain": "chain", "evaluate_arrays": "evaluate", "evaluate_files": "evaluate", "read_image": "files",
    "write_image": "files", "Corruption": "interfaces", "Image": "interfaces", "Metric": "interfaces",
    "Reader": "interfaces", "Restorer": "interfaces", "Writer": "interfaces", "param": "params", "build": "registry",
    "run": "runner", "parse_spec": "spec",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


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
