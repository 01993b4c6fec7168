"""Exceptions raised by the library.

Library code raises; only the CLI turns these into one-line messages and exit
codes.  Every *usage* error (a bad spec, a bad parameter, a missing path) is an
:class:`ImrestoreUsageError`, which the CLI maps to exit code 2.
"""
from __future__ import annotations


class ImrestoreError(Exception):
    """Base class of every error imrestore raises on purpose."""


class ImrestoreUsageError(ImrestoreError, ValueError):
    """The user asked for something that cannot work (exit code 2)."""


class SpecError(ImrestoreUsageError):
    """A spec string is malformed or names no known plugin."""


class ParameterError(ImrestoreUsageError):
    """A plugin parameter is unknown, of the wrong type or out of range."""


class ChainError(ImrestoreUsageError):
    """The chain of plugins cannot work together (e.g. a missing PSF)."""


class NotMeasurable(ImrestoreError, ValueError):
    """A metric is undefined for these images (e.g. SSIM on a 1x1 image): recorded as empty, not a failure."""


class RunStopped(ImrestoreError):
    """A volume run stopped at a plane that failed; finished planes are kept (exit code 1)."""


def error_reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none): what reports and the CLI show.

    Plugin authors use it to turn a library's multi-line error into one line.

    >>> error_reason(ValueError("bad value\\nmore detail"))
    'bad value'
    >>> error_reason(KeyError())
    'KeyError'
    """
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
