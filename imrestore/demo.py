"""``imrestore demo``: a tour of chains on scikit-image's sample images.

It writes the samples, runs each chain with the ordinary pipeline (so the
outputs and reports are exactly what ``imrestore run`` gives), and draws one
figure: a column per chain, rows original / corrupted / restored, PSNR under
each tile.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .dtypes import to_unit
from .errors import ImrestoreUsageError
from .figures import restoration_grid
from .files import read_image, write_image
from .interfaces import Image
from .runner import run

#: (title, chain) pairs; each runs over every sample image.
DEMO_CHAINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Gaussian noise, NL-means", ("gaussian:sigma=25", "restorer:nlmeans")),
    ("Poisson noise, TV", ("poisson:peak=30", "restorer:tv")),
    ("Blur + noise, Richardson-Lucy", ("blur:sigma=2", "gaussian:sigma=2.55", "restorer:deconv")),
    ("Blur + noise, plug-and-play (learned prior)", ("blur:sigma=2", "gaussian:sigma=2.55", "restorer:pnp")),
    ("50% pixels erased, biharmonic", ("erase:p=0.5", "restorer:inpaint")),
    ("x2 down-sampled, bicubic", ("downsample:factor=2", "restorer:interp:order=bicubic")),
)
SAMPLES = ("camera", "astronaut", "coins", "chelsea")
#: The sample each chain shows in figure.png: the two deblurring chains on the same one, side by side.
FIGURE_SAMPLES = ("camera", "astronaut", "chelsea", "chelsea", "coins", "astronaut")
SIZE = 256


def sample_images(size: int = SIZE) -> dict[str, np.ndarray]:
    """Centre crops of a few scikit-image sample images (uint8, grey and RGB)."""
    from skimage import data

    out = {}
    for name in SAMPLES:
        img = getattr(data, name)()
        h, w = img.shape[:2]
        y, x = max((h - size) // 2 - (h // 8 if name == "astronaut" else 0), 0), (w - size) // 2
        out[name] = np.ascontiguousarray(img[y : y + size, x : x + size])
    return out


def _fmt(value: float | None, digits: int) -> str:
    return "n/a (size differs)" if value is None else f"{value:.{digits}f}"


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def run_demo(output: Path | str, *, overwrite: bool = False, progress: bool = False, size: int = SIZE) -> str:
    """Run the tour into ``output`` on ``size`` x ``size`` crops; return a Markdown summary (also written)."""
    output = Path(output)
    samples_dir = output / "samples"
    for name, img in sample_images(size).items():
        path = samples_dir / f"{name}.png"
        if path.exists() and not overwrite and read_image(path).data.shape[:2] != img.shape[:2]:
            raise ImrestoreUsageError(f"{output} holds a demo of another size ({path.name} is "
                                      f"{'x'.join(map(str, read_image(path).data.shape[:2]))}); give --overwrite or another folder")
        if overwrite or not path.exists():
            data, rng = to_unit(img)
            write_image(Image(data=data, axes="YX" if img.ndim == 2 else "YXC", dtype=img.dtype, value_range=rng), path)
    rows = ["| chain | corrupted PSNR | restored PSNR | corrupted SSIM | restored SSIM |", "|---|---|---|---|---|"]
    columns = []
    for i, (title, chain) in enumerate(DEMO_CHAINS):
        folder = output / slug(title)
        if progress:
            print(f"[{i + 1}/{len(DEMO_CHAINS)}] {title}: imrestore run {' '.join(chain)} {samples_dir} {folder}", flush=True)
        report = run(list(chain), samples_dir, folder, overwrite=overwrite, save_corrupted=True, progress=progress)
        mean = report.mean()
        cells = [_fmt(mean.get(stage, {}).get(key), digits) for key, digits in (("psnr", 2), ("ssim", 3))
                 for stage in ("corrupted", "restored")]
        rows.append(f"| `{' '.join(chain)}` | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
        name = FIGURE_SAMPLES[i]
        item = next(it for it in report.items if it.path == f"{name}.png")
        columns.append(
            {
                "title": title,
                "original": read_image(samples_dir / f"{name}.png").data,
                "corrupted": read_image(folder / "corrupted" / f"{name}.png").data,
                "restored": read_image(folder / f"{name}.png").data,
                "corrupted_psnr": item.metrics["corrupted"]["psnr"],
                "restored_psnr": item.metrics["restored"]["psnr"],
            }
        )
    figure = restoration_grid(columns, output / "figure.png")
    text = "\n".join(
        [
            "# imrestore demo",
            "",
            f"Mean over {len(SAMPLES)} sample images ({', '.join(SAMPLES)}; {size}x{size} crops), seed 0.",
            "",
            *rows,
            "",
            f"Figure: {figure}",
        ]
    )
    (output / "summary.md").write_text(text + "\n")
    return text
