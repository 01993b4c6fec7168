"""The hooks a plugin implements.

Each hook receives a ``register`` callback and hands it plugin classes; the core
owns naming, aliases and conflicts.  A third-party plugin is a module with
``@hookimpl`` functions plus one entry point in the ``imrestore`` group::

    from imrestore import hookimpl

    @hookimpl
    def register_restorers(register):
        register(MyRestorer)
"""
from __future__ import annotations

from typing import Callable

import pluggy

PROJECT = "imrestore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[type], None]


@hookspec
def register_corruptions(register: Register) -> None:
    """Register :class:`~imrestore.interfaces.Corruption` subclasses."""


@hookspec
def register_restorers(register: Register) -> None:
    """Register :class:`~imrestore.interfaces.Restorer` subclasses."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register :class:`~imrestore.interfaces.Metric` subclasses."""


@hookspec
def register_readers(register: Register) -> None:
    """Register :class:`~imrestore.interfaces.Reader` subclasses."""


@hookspec
def register_writers(register: Register) -> None:
    """Register :class:`~imrestore.interfaces.Writer` subclasses."""


@hookspec
def register_volume_formats(register: Register) -> None:
    """Register :class:`~imrestore.interfaces.VolumeFormat` subclasses (stacks, HDF5, Zarr...)."""


@hookspec
def register_noise_models(register: Register) -> None:
    """Register :class:`~imrestore.interfaces.NoiseModel` subclasses (each with an ``estimate`` from one image)."""
