"""Progress of work inside one item: the tiles of a large image, the steps of a per-image adaptation
(torch-free, so the pipeline can import it cheaply).

>>> with tile_progress():
...     _TILE_PROGRESS.get()
True
>>> _TILE_PROGRESS.get()
False
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

#: Whether work inside an item shows a bar (set by ``tile_progress``).
_TILE_PROGRESS: ContextVar[bool] = ContextVar("imrestore_tile_progress", default=False)
#: Fewest tiles for which the bar is worth showing.
TILE_PROGRESS_MIN = 8


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
    import sys

    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)
