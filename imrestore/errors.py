"""Exceptions raised by the library.

Library code raises; only the CLI turns these into one-line messages and exit
codes.  Every *usage* error (a bad spec, a bad parameter, a missing path) is an
:class:`ImrestoreUsageError`, which the CLI maps to exit code 2.
"""
from __future__ import annotations

import re
from typing import Any

#: Marks an option named in a message (see :func:`option`); invisible, never typed by a user.
_MARK = "\u2063"
_OPTION = re.compile(f"{_MARK}([^{_MARK}]*){_MARK}")
#: How the command line spells an API argument where the two differ.
CLI_NAMES = {"value_range": "range", "metrics": "metric"}
_UNSET = object()


def option(name: str, value: Any = _UNSET) -> str:
    """Name an option in an error message, so that each reader sees their own spelling.

    The Python API reads `workers` (`overwrite=True` with a value); the
    command line ``--workers`` (``--overwrite``).

    >>> e = ImrestoreUsageError(f"{option('workers')} must be at least 1; or pass {option('overwrite', True)}")
    >>> str(e)
    '`workers` must be at least 1; or pass `overwrite=True`'
    >>> cli_message(e)
    '--workers must be at least 1; or pass --overwrite'
    """
    text = name if value is _UNSET else f"{name}={value!r}"
    return f"{_MARK}{text}{_MARK}"


def _api(match: re.Match) -> str:
    return f"`{match.group(1)}`"


def _cli(match: re.Match) -> str:
    name, _, value = match.group(1).partition("=")
    flag = "--" + CLI_NAMES.get(name, name).replace("_", "-")
    if not value or value == "True":
        return flag
    return f"{flag} {value.strip(chr(39))}"


def cli_message(exc: BaseException) -> str:
    """The message of ``exc`` as the command line says it (options as ``--flags``)."""
    return _OPTION.sub(_cli, Exception.__str__(exc) if isinstance(exc, ImrestoreError) else str(exc))


class ImrestoreError(Exception):
    """Base class of every error imrestore raises on purpose (options in its message as the Python API names them)."""

    def __str__(self) -> str:
        return _OPTION.sub(_api, super().__str__())


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
