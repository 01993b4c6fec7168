"""Progress of work inside one item: the tiles of a large image (torch-free, so the pipeline can import it cheaply).

>>> with tile_progress():
...     _TILE_PROGRESS.get()
True
>>> _TILE_PROGRESS.get()
False
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

#: Whether tiled inference shows a bar of its tiles (set by ``tile_progress``).
_TILE_PROGRESS: ContextVar[bool] = ContextVar("imrestore_tile_progress", default=False)
#: Fewest tiles for which the bar is worth showing.
TILE_PROGRESS_MIN = 8


@contextmanager
def tile_progress(enabled: bool = True) -> Iterator[None]:
    """Within this block, an image cut into many tiles shows a transient bar of them on stderr.

    The CLI turns it on for a serial run: one large image through a network on
    a CPU takes minutes, and the bar of images would sit at 0/1 meanwhile.
    """
    token = _TILE_PROGRESS.set(enabled)
    try:
        yield
    finally:
        _TILE_PROGRESS.reset(token)
