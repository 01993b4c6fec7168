"""The command line starts at once: the classical commands never import torch (each check in a fresh interpreter)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

PROBE = """
import sys
from imrestore.cli import main
sys.argv = ["imrestore", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("exit", code, "torch" in sys.modules)
"""


def fresh(*args: str, cwd: Path) -> tuple[int, bool]:
    """The exit code of ``imrestore ARGS`` in a new interpreter, and whether it imported torch."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    last = done.stdout.strip().splitlines()[-1].split()
    return int(last[1]), last[2] == "True"


def test_importing_the_cli_loads_no_torch_nor_scipy(tmp_path):
    probe = "import sys, imrestore.cli; print(sorted(m for m in ('torch', 'scipy', 'skimage') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_classical_commands_never_import_torch(tmp_path):
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "img.tif", (rng.random((32, 32)) * 255).astype(np.uint8))
    assert fresh("--help", cwd=tmp_path) == (0, False)
    assert fresh("run", "gaussian:sigma=10", "restorer:tv", "img.tif", "out", "-q", cwd=tmp_path) == (0, False)
    assert fresh("eval", "img.tif", "out/img.tif", cwd=tmp_path) == (0, False)


@pytest.mark.slow
def test_plugins_report_and_real_data_denoisers_never_import_torch(tmp_path):
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "img.tif", (rng.random((48, 48)) * 255).astype(np.uint8))
    assert fresh("plugins", cwd=tmp_path) == (0, False)
    assert fresh("run", "restorer:nlmeans", "img.tif", "out", "-q", cwd=tmp_path) == (0, False)
    assert fresh("report", "out", cwd=tmp_path) == (0, False)
    assert fresh("run", "restorer:n2n-unet", "img.tif", "net", "-q", cwd=tmp_path)[1]  # the probe does see torch
