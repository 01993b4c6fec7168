"""Figures: grids of original / corrupted / restored tiles with their PSNR."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (files, no window), imported on first use: matplotlib takes a while to
    import and only the figures need it."""
    import matplotlib  # lazy: see above

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: see above

    return plt


def _tile(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Clip to [0, 1] and enlarge (nearest) a smaller image to ``shape`` for display."""
    image = np.clip(np.asarray(image, np.float64), 0, 1)
    if image.shape[:2] != tuple(shape):
        ry, rx = -(-shape[0] // image.shape[0]), -(-shape[1] // image.shape[1])
        image = np.repeat(np.repeat(image, ry, axis=0), rx, axis=1)[: shape[0], : shape[1]]
    return image


def restoration_grid(columns: list[dict], path: Path | str, dpi: int = 110) -> Path:
    """Draw one column per entry (keys: title, original, corrupted, restored and
    corrupted_psnr / restored_psnr) and save it as a PNG."""
    plt = pyplot()
    path = Path(path)
    n = len(columns)
    fig, axes = plt.subplots(3, n, figsize=(2.6 * n, 8.4), squeeze=False)
    for j, col in enumerate(columns):
        shape = col["original"].shape[:2]
        for i, (row, label) in enumerate((("original", "reference"), ("corrupted", None), ("restored", None))):
            ax = axes[i, j]
            img = _tile(col[row], shape)
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            value = col.get(f"{row}_psnr")
            if label is None:
                small = col[row].shape[:2]
                label = f"PSNR {value:.2f} dB" if value is not None else f"{small[0]}x{small[1]}, shown enlarged"
            ax.set_xlabel(label, fontsize=10)
            if j == 0:
                ax.set_ylabel(row, fontsize=12)
        axes[0, j].set_title(textwrap.fill(col["title"], 26), fontsize=10)  # long titles wrap, never overlap
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
