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


@pytest.fixture
def flaky(registry):
    """Registers ``restorer:flaky`` (and ``restorer:flaky3d``, which sees ZYX slabs): a Gaussian filter that fails on demand.

    ``flaky.fail(at=N, error=KeyboardInterrupt)`` makes the restorer raise on
    its N-th call from now (1-based; a serial run restores planes in order);
    ``flaky.calls`` counts the calls.  Failures reach the runner the way a
    plugin's would, through the registry, without patching imrestore's code.
    """
    from dataclasses import dataclass

    from scipy.ndimage import gaussian_filter

    from imrestore import Restorer, hookimpl

    class Control:
        calls = 0
        fail_at: int | None = None
        error: BaseException | type[BaseException] = KeyboardInterrupt

        def fail(self, at: int, error=KeyboardInterrupt) -> None:
            self.calls, self.fail_at, self.error = 0, at, error

        def heal(self) -> None:
            self.calls, self.fail_at = 0, None

    control = Control()

    @dataclass
    class Flaky(Restorer):
        name = "flaky"

        def restore_one(self, image, degradation):
            control.calls += 1
            if control.fail_at is not None and control.calls >= control.fail_at:
                raise control.error
            return gaussian_filter(image, 1.0).astype(np.float32)

    @dataclass
    class Flaky3D(Flaky):
        name = "flaky3d"
        spatial_ndim = 3

    class Plug:
        @hookimpl
        def register_restorers(self, register):
            register(Flaky)
            register(Flaky3D)

    registry.add_plugin(Plug(), "flaky-test-plugin")
    return control
