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
