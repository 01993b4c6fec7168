"""Shared plumbing of the lecture reproductions: arguments, where results go, quick checks.

Each ``bench_repro_*.py`` script runs in a full version (the figure and numbers in
``results/``) and a ``--quick`` one (seconds; its numbers in ``results/quick/``),
which ``tests/test_reproductions.py`` reruns and compares within a tolerance.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def parser(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few seconds: smaller budget, numbers in results/quick/")
    ap.add_argument("--out", type=Path, help="write here instead of benchmarks/results (tests)")
    return ap


def out_dir(args) -> Path:
    base = args.out or RESULTS
    folder = base / "quick" if args.quick else base
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(args, name: str, result: dict, md_lines: list[str]) -> Path:
    """Write NAME.json (with the command and the machine) and NAME.md."""
    folder = out_dir(args)
    command = f"python benchmarks/{Path(sys.argv[0]).name}" + (" --quick" if args.quick else "")
    result = {"command": command, "quick": bool(args.quick), "machine": f"{platform.machine()}, Python {platform.python_version()}", **result}
    (folder / f"{name}.json").write_text(json.dumps(_plain(result), indent=2) + "\n")
    (folder / f"{name}.md").write_text("\n".join(md_lines) + "\n")
    return folder / f"{name}.json"


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
        return obj.item()
    if isinstance(obj, float):
        return round(obj, 6)
    return obj


def image_row(panels: list[tuple[str, np.ndarray]], path: Path, width: float = 2.4, height: float = 2.8) -> Path:
    """Grey images in [0, 1] side by side, each under its title, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), height))
    for ax, (title, im) in zip(np.atleast_1d(axes), panels):
        ax.imshow(np.clip(im, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
