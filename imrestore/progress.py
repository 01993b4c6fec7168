"""Progress bars: of a run's items (``progress_bar``), and of work inside one item (the tiles of a large image,
the steps of a per-image adaptation), with log lines routed above them.

>>> with tile_progress():
...     _TILE_PROGRESS.get()
True
>>> _TILE_PROGRESS.get()
False
"""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

#: Whether work inside an item shows a bar (set by ``tile_progress``).
_TILE_PROGRESS: ContextVar[bool] = ContextVar("imrestore_tile_progress", default=False)
#: Fewest tiles for which the bar is worth showing.
TILE_PROGRESS_MIN = 8
#: Seconds between a bar's redraws where stderr is no terminal (a batch job's log file, a cluster queue's output):
#: each redraw there is a line that stays, not a line redrawn in place.
LOG_REDRAW_S = 30.0


def _redraw_every() -> float:
    """tqdm's ``mininterval``: its own 0.1 s on a terminal, :data:`LOG_REDRAW_S` where stderr is a file or a pipe.

    >>> _redraw_every() in (0.1, LOG_REDRAW_S)
    True
    """
    isatty = getattr(sys.stderr, "isatty", None)
    return 0.1 if callable(isatty) and isatty() else LOG_REDRAW_S


def _bar(**options: Any) -> tqdm:
    """A tqdm bar as every imrestore bar is: on stderr, as wide as the terminal, redrawn as :func:`_redraw_every` says."""
    return tqdm(file=sys.stderr, dynamic_ncols=True, mininterval=_redraw_every(), **options)


@contextmanager
def tile_progress(enabled: bool = True) -> Iterator[None]:
    """Within this block, an image cut into many tiles (or adapted for many steps) shows a transient bar on stderr.

    The CLI turns it on for a serial run: one large image through a network on
    a CPU takes minutes, and the bar of images would sit at 0/1 meanwhile.
    """
    token = _TILE_PROGRESS.set(enabled)
    try:
        yield
    finally:
        _TILE_PROGRESS.reset(token)


def item_bar(total: int, desc: str, unit: str, minimum: int = TILE_PROGRESS_MIN) -> Any:
    """A transient tqdm bar on stderr inside ``tile_progress()`` for ``total >= minimum`` units, else None.

    >>> item_bar(100, "tiles", "tile") is None   # outside tile_progress()
    True
    """
    if not _TILE_PROGRESS.get() or total < minimum:
        return None
    return _bar(total=total, unit=unit, desc=desc, leave=False)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, progress: bool | Callable, unit: str = "img", initial: int = 0, desc: str | None = None,
                 leave: bool = True) -> Any:
    """A tqdm bar on stderr (``progress=True``), a caller's own bar (``progress`` a callable taking the total), or nothing.

    >>> bar = progress_bar(3, False)
    >>> bar.update(1); bar.close()
    """
    if callable(progress):
        return progress(total)
    if not progress:
        return _NoBar()
    return _bar(total=total, initial=initial, unit=unit, desc=desc, leave=leave)


@contextmanager
def log_above(progress: bool | Callable) -> Iterator[None]:
    """With a tqdm bar (``progress=True``), imrestore's log lines are printed above it instead of through it."""
    if progress is True:
        with logging_redirect_tqdm(loggers=[logging.getLogger("imrestore")]):
            yield
    else:
        yield
