"""A grid of restorations to look at beside a benchmark's table: one row per task, one column per method.

``rows`` maps a row's label to its columns, each ``key -> (title, image, PSNR or None)``; a column key shared by rows
lines them up (e.g. ``classical`` for each task's own classical answer), and the first entry of a row is its reference.
A smaller image (a down-sampled measurement) is enlarged pixel by pixel to the reference's size; grey (YX) or colour
(YXC).  With ``errors``, each row is followed by the absolute error of every restoration against the reference (the
channels' mean for colour), on one scale per row.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

Row = dict[str, tuple[str, np.ndarray, "float | None"]]


def panel_grid(rows: dict[str, Row], path: Path, title: str, errors: bool = False, columns: list[str] | None = None,
               no_error: tuple[str, ...] = ("measurement",)) -> None:
    """Draw ``rows`` into ``path``; ``columns`` orders the column keys (default: as they first appear); the columns in
    ``no_error`` (the measurement: not a restoration) get no error panel and do not set the error scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen = list(dict.fromkeys(k for row in rows.values() for k in row))
    columns = [k for k in (columns or []) if k in seen] + [k for k in seen if k not in (columns or [])]
    lines = [(label, row, False) for label, row in rows.items()]
    if errors:
        lines = [line for label, row in rows.items() for line in ((label, row, False), (f"{label} |error|", row, True))]
    first = next(iter(next(iter(rows.values())).values()))[1]
    height = 2.2 * first.shape[0] / first.shape[1] + 0.4  # a panel 2.2 inches wide and its title
    fig, axes = plt.subplots(len(lines), len(columns), figsize=(2.2 * len(columns), height * len(lines)), squeeze=False)
    for r, (label, row, error) in enumerate(lines):
        ref = next(iter(row.values()))[1]
        scale = _error_scale({k: v for k, v in row.items() if k not in no_error}, ref) if error else 1.0
        for c, column in enumerate(columns):
            ax = axes[r, c]
            ax.set_axis_off()
            if column not in row or (error and (column == next(iter(row)) or column in no_error)):
                continue
            name, img, value = row[column]
            img = enlarged(np.asarray(img, np.float64), ref.shape)
            if error:
                if img.shape != ref.shape:
                    continue
                ax.imshow(_abs_error(img, ref), cmap="magma", vmin=0, vmax=scale, interpolation="nearest")
            else:
                ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(name + ("" if value is None else f"\n{value:.2f} dB"), fontsize=8)
        axes[r, 0].text(-0.08, 0.5, label, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_size_inches()[1]))  # room for the title
    fig.savefig(path, dpi=110)
    plt.close(fig)


def enlarged(img: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``img`` enlarged pixel by pixel towards ``shape`` (a down-sampled measurement beside its reference)."""
    zoom = max(1, shape[0] // img.shape[0])
    return np.repeat(np.repeat(img, zoom, axis=0), zoom, axis=1) if zoom > 1 else img


def _abs_error(img: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|img - ref|, averaged over the channels of a colour image."""
    err = np.abs(np.asarray(img, np.float64) - ref)
    return err.mean(axis=-1) if err.ndim == 3 else err


def _error_scale(row: Row, ref: np.ndarray) -> float:
    """One error scale for a row: the 99th percentile of its images' absolute errors (those of the reference's size)."""
    errs = [_abs_error(img, ref).ravel() for _, img, _ in list(row.values())[1:] if np.shape(img) == ref.shape]
    top = float(np.percentile(np.concatenate(errs), 99)) if errs else 0.0
    return top if top > 0 else 1.0
