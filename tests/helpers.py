"""Shared helpers of the tests: a synthetic stack, the CLI called in-process, TIFF reading."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from skimage import data

from imrestore.cli import main

IDENTITY = ["restorer:identity"]
CHAIN = ["gaussian:sigma=20", "restorer:wavelet"]


def call(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def stack(n: int = 6, shape=(48, 64), dtype=np.uint16) -> np.ndarray:
    cam = data.camera()[100 : 100 + shape[0], 100 : 100 + shape[1]].astype(np.float64) / 255
    planes = np.stack([np.roll(cam, 3 * i, axis=1) for i in range(n)])
    if np.dtype(dtype).kind == "f":
        return (planes * 7.5).astype(dtype)
    return (planes * np.iinfo(dtype).max * 0.8).astype(dtype)


def read_tiff(path):
    with tifffile.TiffFile(path) as t:
        return t.series[0].asarray(), t


FLAKY = ["gaussian:sigma=20", "restorer:flaky"]
