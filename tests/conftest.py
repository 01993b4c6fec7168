"""Shared fixtures: small real image files and a registry sandbox."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from skimage import data

from imrestore.registry import get_registry


@pytest.fixture
def camera() -> np.ndarray:
    """A 96x96 grey crop in [0, 1] (float32)."""
    return (data.camera()[160:256, 200:296] / 255.0).astype(np.float32)


@pytest.fixture
def astronaut() -> np.ndarray:
    """A 64x64 RGB crop in [0, 1] (float32)."""
    return (data.astronaut()[40:104, 180:244] / 255.0).astype(np.float32)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """8-bit RGB PNG, 16-bit grey TIFF (with resolution) and one truncated PNG."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    PILImage.fromarray(data.astronaut()[100:196, 150:246]).save(root / "astro.png")
    cam16 = data.camera()[200:296, 200:296].astype(np.uint16) * 257
    tifffile.imwrite(root / "sub" / "cam16.tif", cam16, resolution=(2.5, 4.0), resolutionunit=3)
    good = (root / "astro.png").read_bytes()
    (root / "broken.png").write_bytes(good[: len(good) // 2])
    return root


@pytest.fixture
def tree_digest():
    """A function giving a digest of every file under a folder (to prove it was not touched)."""
    return _tree_digest


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def registry():
    """The live registry; plugins a test adds with ``add_plugin`` are removed after it."""
    reg = get_registry()
    before = set(reg.origins)
    yield reg
    for name in set(reg.origins) - before:
        reg.remove_plugin(name)
