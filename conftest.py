"""Repository-wide pytest set-up: doctests write their example files under pytest's tmp_path.

The docstrings use ``tempfile.mkdtemp()`` (what a reader would type); during a
test run that lands in the test's own temporary folder, which pytest cleans up,
instead of leaving a folder in /tmp per doctest per run.
"""
import tempfile

import pytest


@pytest.fixture(autouse=True)
def _doctest_temp_dir(request, tmp_path, monkeypatch):
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
