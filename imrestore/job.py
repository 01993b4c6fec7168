"""What a run is made of: its options, and the :class:`Job` interface that image folders and volumes implement.

The runner (:mod:`imrestore.runner`) drives any job; :mod:`imrestore.folders`
and :mod:`imrestore.volumes.job` are the two that exist.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chain import Chain
from .dtypes import RangeSpec, parse_range
from .errors import ImrestoreUsageError, option
from .executors import Work
from .report import Report


@dataclass(frozen=True)
class RunOptions:
    """How to run a chain (the options of ``imrestore run``)."""

    seed: int = 0
    workers: int = 1
    dask: bool = False
    scheduler: str | None = None
    overwrite: bool = False
    save_corrupted: bool = False
    center_crop: tuple[int, int] | None = None
    value_range: RangeSpec = "dtype"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ImrestoreUsageError(f"{option('workers')} must be at least 1, got {self.workers}")
        object.__setattr__(self, "value_range", parse_range(self.value_range))


class Job(abc.ABC):
    """A run's source of work units and sink of their results.

    ``start`` plans the output and looks at what a previous run left; the
    runner then asks for ``units`` and a picklable ``work`` object, and gives
    every unit's results to ``accept``.  ``finish`` completes the output;
    ``abort`` keeps what is done when the run stops (an error, Ctrl-C).
    """

    #: What the progress bar counts.
    unit_name: str = "img"
    #: Items (images, planes) in the whole run, and those finished before it started.
    total: int = 0
    finished: int = 0

    def __init__(self, chain: Chain, input_path: str | Path, output_path: str | Path, options: RunOptions, report: Report):
        self.chain, self.input_path, self.output_path = chain, input_path, output_path
        self.options, self.report = options, report

    @abc.abstractmethod
    def start(self, progress: bool | Callable) -> Report | None:
        """Plan and check the output; return the report when a previous run already completed it."""

    @abc.abstractmethod
    def units(self) -> Sequence[Any]:
        """The work units still to do."""

    @abc.abstractmethod
    def work(self, parallel: bool) -> Work:
        """What workers run (picklable); ``parallel`` when they are other processes."""

    @abc.abstractmethod
    def accept(self, results: list) -> int:
        """Take one unit's results; return how many items they finished."""

    @abc.abstractmethod
    def finish(self) -> None:
        """Complete the output and write the report (``report.seconds`` is set)."""

    @abc.abstractmethod
    def abort(self, exc: BaseException) -> None:
        """Keep what is done after ``exc`` stopped the run; may raise a clearer error from it."""

    def close(self) -> None:
        """Let go of open inputs (always called)."""

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
