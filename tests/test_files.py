"""Image files (imrestore/files.py): atomic writes, discovery, reading errors."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import call
from PIL import Image as PILImage

from imrestore.files import (
    TMP_TAG,
    clean_tmp,
    discover,
    inside,
    read_image,
    write_image,
)
from imrestore.interfaces import Image


def test_discover_skips_hidden_files_and_the_excluded_folder(tmp_path):
    img = Image(np.zeros((4, 4), np.float32), dtype=np.dtype("uint8"), value_range=(0.0, 255.0))
    for rel in ("a.png", "sub/b.tif", ".hidden/c.png", "out/d.png"):
        write_image(img, tmp_path / rel)
    (tmp_path / "notes.txt").write_text("not an image")
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path, exclude=tmp_path / "out")]
    assert found == ["a.png", "sub/b.tif"]
    assert inside(tmp_path / "out" / "d.png", tmp_path / "out") and not inside(tmp_path / "a.png", tmp_path / "out")


def test_a_failed_write_leaves_neither_the_file_nor_its_temporary(tmp_path):
    with pytest.raises(Exception):
        write_image(Image(np.zeros((2, 2, 7), np.float32)), tmp_path / "seven.png")  # 7 channels: no PNG
    assert not list(tmp_path.iterdir())
    (tmp_path / f".x{TMP_TAG}.png").write_bytes(b"left by a crash")
    clean_tmp(tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(OSError, match=r"cannot read .*bad.png: "):
        read_image(tmp_path / "bad.png")


@pytest.mark.parametrize("blocked", ["file", "read-only"])
def test_a_run_whose_output_cannot_be_written_stops_before_any_work(tmp_path, capsys, monkeypatch, blocked):
    # before, a folder of images was restored one by one and each failed at its write (or the run at its report)
    src = tmp_path / "in.png"
    PILImage.fromarray(np.zeros((16, 16), np.uint8)).save(src)
    if blocked == "file":
        (tmp_path / "taken").write_text("")
        out = tmp_path / "taken" / "out" / "o.png"
    else:  # what a read-only folder answers (root, who runs CI, writes anywhere)
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("imrestore.files.tempfile.TemporaryFile", refuse)
        out = tmp_path / "ro" / "o.png"
    code, _, err = call(capsys, "run", "restorer:wavelet", str(src), str(out), "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.strip().startswith("Error: cannot write to") and ("is a file" if blocked == "file" else "permission denied") in err
    assert not out.exists()
