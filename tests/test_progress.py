"""Progress bars (imrestore/progress.py): the run's bar, a caller's bar, tile bars only inside tile_progress."""
from __future__ import annotations

import logging

from imrestore.progress import item_bar, log_above, progress_bar, tile_progress


def test_a_caller_bar_or_none():
    seen = []
    bar = progress_bar(3, lambda total: seen.append(total) or "mine")
    assert bar == "mine" and seen == [3]
    quiet = progress_bar(3, False)
    quiet.update(2)
    quiet.close()


def test_tile_bars_appear_only_inside_tile_progress_and_for_enough_tiles():
    assert item_bar(100, "tiles", "tile") is None
    with tile_progress():
        assert item_bar(2, "tiles", "tile") is None
        bar = item_bar(100, "tiles", "tile")
        assert bar is not None
        bar.close()
    with tile_progress(False):
        assert item_bar(100, "tiles", "tile") is None


def test_log_lines_go_above_a_tqdm_bar(capsys):
    logger = logging.getLogger("imrestore")
    with log_above(True):
        logger.warning("above the bar")
    with log_above(False):
        pass
    assert "above the bar" in capsys.readouterr().err


def test_bars_redraw_rarely_where_stderr_is_a_log_file(capsys, monkeypatch):
    import sys

    from imrestore.progress import LOG_REDRAW_S

    bar = progress_bar(10, True)  # capsys: stderr is no terminal, as in a batch job's log
    assert bar.mininterval == LOG_REDRAW_S
    bar.close()
    with tile_progress():
        tiles = item_bar(100, "tiles", "tile")
        assert tiles.mininterval == LOG_REDRAW_S
        tiles.close()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a terminal: redrawn in place, often
    bar = progress_bar(10, True)
    assert bar.mininterval == 0.1
    bar.close()
