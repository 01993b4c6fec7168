"""Open an imrestore output in napari with what the run wrote beside it: the std map as a second layer, and the
report's entry for the file in the layer's metadata. Files that no imrestore report lists are left to other readers.

>>> get_reader("not-an-output.png") is None
True
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable


def _report_entry(path: Path) -> dict | None:
    """The report item of ``path``: from ``NAME.report.json`` beside it (a single-file run) or the folder's report.json."""
    for report in (path.with_name(path.name.split(".")[0] + ".report.json"), path.parent / "report.json"):
        if not report.is_file():
            continue
        try:
            data = json.loads(report.read_text())
        except (OSError, ValueError):
            continue
        for item in data.get("items", []):
            out = str(item.get("output") or item.get("path") or "")
            if out and (Path(out).name == path.name or out == str(path)):
                return {"chain": data.get("chain"), "item": item}
        if report.name.endswith(".report.json"):
            return {"chain": data.get("chain"), "item": (data.get("items") or [{}])[0]}
    return None


def get_reader(path: str | list[str]) -> Callable[[Any], list] | None:
    """napari's reader hook: a reader for imrestore outputs, else None."""
    if isinstance(path, list) or not str(path).lower().endswith((".tif", ".tiff")):
        return None
    entry = _report_entry(Path(path))
    return None if entry is None else _read


def _read(path: str) -> list[tuple]:
    import tifffile

    p = Path(path)
    entry = _report_entry(p) or {}
    layers = [(tifffile.imread(p), {"name": p.stem, "metadata": {"imrestore": entry}}, "image")]
    stem, _, ext = p.name.partition(".")
    std = p.with_name(f"{stem}.std.{ext}")
    if std.is_file():
        layers.append((tifffile.imread(std), {"name": f"{p.stem} std", "colormap": "magma"}, "image"))
    return layers
