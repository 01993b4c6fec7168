"""``imrestore report``: a run's outputs and report as one self-contained HTML page.

The page holds the chain, a table of every item's metrics (click a header to
sort), the mean and spread of each metric, a histogram of the main metric, and
side-by-side original / corrupted / restored crops of the best, median and
worst items.  Images are embedded as PNG data, so the file opens in a browser
without a server and can be mailed around.  The corrupted images are
recomputed from the chain and the seed when the run did not save them (every
corruption is seeded by the item's name, so they are the ones the run saw).

Example
-------
>>> from imrestore.html_report import write_html_report
>>> write_html_report("out/")  # doctest: +SKIP
PosixPath('out/report.html')
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .chain import INVERTED, Chain
from .dtypes import apply_range, parse_range, quantize, to_unit
from .errors import ImrestoreUsageError, option
from .figures import pyplot
from .files import read_image, read_like, sibling
from .noise import local_statistics
from .registry import build
from .report import REMOVED_STRUCTURE_WORDS, Report, atomic_write_text
from .volumes import is_volume, open_volume, split_volume_path, volume_ranges
from .volumes.planes import corrupt_plane

CROP = 192


#: The third panel of real data: what the restorer removed (a denoiser), or what it put back (an inverted degradation).
DIFFERENCES = ("removed", "put back")


@dataclass
class Example:
    """One item shown as crops: where it ranks, its metrics and the three images."""

    rank: str
    item_path: str
    metrics: dict
    original: np.ndarray
    corrupted: np.ndarray | None
    restored: np.ndarray | None
    #: Real data (no corruption, no clean image): the panels are input / restored / what was removed.
    no_reference: bool = False
    #: A sampler's per-pixel standard deviation (``NAME.std.EXT`` beside the output), or None.
    std: np.ndarray | None = None
    #: Real data whose degradation the restorer inverted (a PSF, a mask, pooling): the third panel is what it put back.
    inverted: bool = False

    def panels(self) -> list[tuple[str, np.ndarray | None]]:
        same = self.restored is not None and self.restored.shape == self.original.shape
        if not self.no_reference:
            panels = [("original", self.original), ("corrupted", self.corrupted), ("restored", self.restored)]
            if self.std is not None and same:  # where the restoration is uncertain, beside where it is wrong
                panels += [("|error|", np.abs(self.restored - self.original)), ("std", self.std)]
            return panels
        difference = ("put back", self.restored - self.original) if self.inverted else ("removed", self.original - self.restored)
        panels = [("input", self.original), ("restored", self.restored), difference if same else (difference[0], None)]
        return panels + ([("std", self.std)] if self.std is not None else [])


def find_report(run: Path) -> Path:
    """The report JSON of a run: ``RUN/report.json``, the one ``*.report.json`` there, the file given, or the report
    beside an output given: an image's (``out.tif`` -> ``out.report.json``) or a volume's (``out.tif`` ->
    ``out.tif.report.json``; a Zarr folder ``out.zarr`` -> ``out.zarr.report.json``; ``out.h5:/data`` -> ``out.h5...``)."""
    run = split_volume_path(run)[0]  # out.h5:/data -> out.h5
    if run.suffix.lower() != ".json":
        for beside in (run.with_name(f"{run.stem}.report.json"), run.with_name(f"{run.name}.report.json")):
            if beside.is_file():
                return beside
    if run.is_file():
        if run.suffix.lower() != ".json":
            raise ImrestoreUsageError(f"no report beside {run} ({run.stem}.report.json or {run.name}.report.json); "
                                      "give the output of `imrestore run`, its folder, or its *.report.json")
        return run
    if not run.exists():
        raise ImrestoreUsageError(f"{run} does not exist")
    if (run / "report.json").exists():
        return run / "report.json"
    found = sorted(run.glob("*.report.json"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ImrestoreUsageError(f"no report.json in {run}; give the folder an `imrestore run` wrote")
    raise ImrestoreUsageError(f"{run} holds several reports ({', '.join(p.name for p in found)}); name one")


def load_report(path: Path) -> Report:
    try:
        return Report.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ImrestoreUsageError(f"cannot read the report {path}: {exc}") from exc


def main_metric(report: Report, by: str | None = None) -> tuple[str, str, bool]:
    """The stage and metric that rank items and whether higher is better.

    ``by`` names the metric; by default restored PSNR where there is one, else the first metric.
    """
    stages = report.stages()
    stage = next((s for s in ("restored", "estimate", "corrupted") if s in stages), None)
    if stage is None or not report.metrics:
        raise ImrestoreUsageError(f"the run has no metrics to rank its items by; rerun it with {option('metrics')}")
    if by is not None and by not in report.metrics:
        raise ImrestoreUsageError(f"the run has no metric {by!r} to rank by; it has {', '.join(report.metrics)}")
    # a metric of the whole volume (ssim:3d=true) has no value per plane: it cannot rank them
    rankable = [k for k in report.metrics if any(i.metrics.get(stage, {}).get(k) is not None for i in report.items)]
    if by is not None and rankable and by not in rankable:
        raise ImrestoreUsageError(f"{by} has no value per item (it is measured on the volume as a whole); "
                                  f"rank by {', '.join(rankable)}")
    key = by or ("psnr" if "psnr" in (rankable or report.metrics) else (rankable or report.metrics)[0])
    higher = True
    try:
        higher = build(key, kind="metric").higher_is_better
    except Exception:  # noqa: BLE001 - a metric from an uninstalled plugin: assume higher is better
        pass
    return stage, key, higher


def rank_items(report: Report, stage: str, key: str, higher: bool) -> list[tuple[str, int]]:
    """Indices of the best, median and worst items by ``stage``/``key`` (fewer when there are fewer items)."""
    scored = [(i, it.metrics.get(stage, {}).get(key)) for i, it in enumerate(report.items) if it.status != "failed"]
    scored = [(i, v) for i, v in scored if v is not None and math.isfinite(v)]
    if not scored:
        return []
    scored.sort(key=lambda t: t[1], reverse=higher)
    picks = [("best", scored[0][0]), ("median", scored[len(scored) // 2][0]), ("worst", scored[-1][0])]
    seen, out = set(), []
    for rank, i in picks:
        if i not in seen:
            seen.add(i)
            out.append((rank, i))
    return out


# --------------------------------------------------------------------------- loading the images


def _load_example(report: Report, index: int, rank: str) -> Example:
    item = report.items[index]
    chain = Chain.from_specs(report.chain, metrics=[], prepare=False) if report.chain else None
    if report.volume:
        return _volume_example(report, index, rank, chain)
    src, out = Path(report.input), Path(report.output)
    if is_volume(src):
        raise ImrestoreUsageError(f"{src} is a volume but the report has no volume section")
    original_path = src / item.path if src.is_dir() else src
    if report.chain:  # a run: outputs mirror the input tree
        restored_path = out / item.path if out.is_dir() else out
        corrupted_path = (out if out.is_dir() else out.parent) / "corrupted" / item.path
    else:  # eval: the estimate
        restored_path, corrupted_path = (Path(item.output) if item.output else out / item.path), None
    ref = apply_range(read_image(original_path), report.value_range)
    original = quantize(ref.data, ref.dtype, ref.value_range)
    restored = None
    if restored_path.exists():
        im = read_like(restored_path, ref, report.value_range)
        restored = quantize(im.data, im.dtype, im.value_range)
    corrupted = None
    if corrupted_path is not None and corrupted_path.exists():
        im = read_like(corrupted_path, ref, report.value_range)
        corrupted = quantize(im.data, im.dtype, im.value_range)
    elif chain is not None and chain.corruptions:
        corrupted, _ = chain.corrupt(ref.data, report.seed, item.path)
    if chain is not None and chain.restorer is None:  # a corruption-only run wrote the corrupted images
        corrupted, restored = restored, None
    std = None
    if sibling(restored_path, "std").exists():
        im = read_like(sibling(restored_path, "std"), ref, report.value_range)
        std = quantize(im.data, im.dtype, im.value_range)
    return Example(rank, item.path, item.metrics, original, corrupted, restored, std=std)


def _volume_example(report: Report, index: int, rank: str, chain) -> Example:
    item = report.items[index]
    with open_volume(report.input) as src:
        value_range, _ = volume_ranges(src, need_max=False, spec=parse_range(report.value_range))
        if chain is not None and chain.corruptions:  # redrawn as the run drew it
            name = split_volume_path(report.input)[0].name
            ref, corrupted, _ = corrupt_plane(src, chain, index, value_range, report.seed, name)
        else:
            (ref, _), corrupted = to_unit(src.read_plane(index), value_range), None
    with open_volume(report.output) as est:
        restored, _ = to_unit(est.read_plane(index), value_range)
    if chain is not None and chain.restorer is None:
        corrupted, restored = restored, None
    return Example(rank, item.path, item.metrics, ref, corrupted, restored)


# --------------------------------------------------------------------------- drawing


def _display(images: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """One display scale for a row: the reference's 0.5-99.5 percentiles (dim 16-bit data stay visible)."""
    ref = images[0]
    lo, hi = np.percentile(ref, [0.5, 99.5]) if ref.size else (0.0, 1.0)
    if hi - lo < 1e-6:
        lo, hi = 0.0, 1.0
    return [None if im is None else np.clip((np.asarray(im, np.float64) - lo) / (hi - lo), 0, 1) for im in images]


def _crop_box(original: np.ndarray, restored: np.ndarray | None, size: int) -> tuple[int, int, int, int]:
    """A ``size`` square where the restored image differs most from the original (the centre if none)."""
    h, w = original.shape[:2]
    s = min(size, h, w)
    if restored is None or restored.shape[:2] != (h, w):
        top, left = (h - s) // 2, (w - s) // 2
        return top, left, s, s
    from scipy.ndimage import uniform_filter

    err = np.abs(np.asarray(restored, np.float64) - original)
    err = err.mean(axis=-1) if err.ndim == 3 else err
    local = uniform_filter(err, size=s, mode="constant")
    half = s // 2
    inner = local[half : h - (s - half) + 1, half : w - (s - half) + 1]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape) if inner.size else (0, 0)
    return int(y), int(x), s, s


def _png(image: np.ndarray, scale: int = 1) -> str:
    from PIL import Image as PILImage

    arr = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    pil = PILImage.fromarray(arr)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), PILImage.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _crops(ex: Example) -> list[tuple[str, np.ndarray | None]]:
    restored = ex.restored if ex.restored is not None and ex.restored.shape == ex.original.shape else None
    top, left, hh, ww = _crop_box(ex.original, restored if restored is not None else ex.corrupted, CROP)
    labels, images = zip(*ex.panels())
    shown = _display(list(images))
    removed = next((labels.index(d) for d in DIFFERENCES if d in labels), None)
    if removed is not None and images[removed] is not None:  # the removed part around mid-grey, +-3 standard deviations
        r = np.asarray(images[removed], np.float64)
        shown[removed] = np.clip(0.5 + r / (6 * (r.std() or 1.0)), 0, 1)
    spread = [i for i, label in enumerate(labels) if label in ("|error|", "std")]
    if spread:  # |error| and std on one scale, 0 to a high percentile of both, so that they compare by eye
        ceiling = max(float(np.percentile(images[i], 99.5)) for i in spread) or 1.0
        for i in spread:
            shown[i] = np.clip(np.asarray(images[i], np.float64) / ceiling, 0, 1)
    out = []
    for label, im in zip(labels, shown):
        if im is None:
            out.append((label, None))
        elif im.shape[:2] == ex.original.shape[:2]:
            out.append((label, im[top : top + hh, left : left + ww]))
        else:  # a low-resolution input (down-sampling): the same region, at its own scale
            fy, fx = im.shape[0] / ex.original.shape[0], im.shape[1] / ex.original.shape[1]
            out.append((label, im[int(top * fy) : int((top + hh) * fy), int(left * fx) : int((left + ww) * fx)]))
    return out


def _figure_uri(fig) -> str:
    """A matplotlib figure as a PNG data URI (the page embeds its images), the figure closed."""
    import matplotlib.pyplot as plt  # lazy: matplotlib takes a while to import, and only the page's figures need it

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _histogram(report: Report, key: str) -> str | None:
    plt = pyplot()
    series = {s: [it.metrics.get(s, {}).get(key) for it in report.items if it.status != "failed"] for s in report.stages()}
    series = {s: [v for v in vals if v is not None and math.isfinite(v)] for s, vals in series.items()}
    series = {s: v for s, v in series.items() if v}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    everything = np.concatenate([np.asarray(v, float) for v in series.values()])
    n = max(len(v) for v in series.values())
    edges = np.histogram_bin_edges(everything, bins=min(40, max(10, 2 * n)))  # one set of bins for every stage
    for stage, vals in series.items():
        ax.hist(vals, bins=edges, alpha=0.6, label=f"{report.stage_label(stage)} (mean {np.mean(vals):.3g})")
    ax.set_xlabel(key)
    ax.set_ylabel("items")
    ax.legend(frameon=False, fontsize=8)
    return _figure_uri(fig)


def grid_png(examples: list[Example], stage: str, key: str, path: Path) -> Path:
    """The crops as one PNG: a row per example (best, median, worst), columns original / corrupted / restored."""
    plt = pyplot()
    columns = max(len(ex.panels()) for ex in examples)
    fig, axes = plt.subplots(len(examples), columns, figsize=(2.8 * columns, 2.9 * len(examples)), squeeze=False)
    for r, ex in enumerate(examples):
        for c, (label, im) in enumerate(_crops(ex)):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if im is not None:
                ax.imshow(im, cmap="gray" if im.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            stage_of = _STAGE_OF.get(label, stage)
            value = ex.metrics.get(stage_of, {}).get(key) if stage_of else None
            ax.set_title(label + (f"  {key} {value:.3g}" if value is not None else ""), fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{ex.rank}\n{ex.item_path}", fontsize=8)
        for c in range(len(ex.panels()), columns):
            axes[r, c].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- the page

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}code{background:#f3f3f3;padding:0 .3em;border-radius:3px;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:.85em}th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}
th{cursor:pointer;background:#f7f7f7;position:sticky;top:0}th:first-child,td:first-child{text-align:left}
tr.failed td{color:#b00}.crops{display:flex;gap:1em;flex-wrap:wrap;margin-bottom:1.5em}
figure{margin:0}figure img{image-rendering:pixelated;width:256px;border:1px solid #ccc}figcaption{font-size:.8em;text-align:center}
.scroll{max-height:480px;overflow:auto;border:1px solid #eee}
"""

_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = th.dataset.order !== 'asc'; th.dataset.order = asc ? 'asc' : 'desc';
    var rows = Array.from(body.rows);
    rows.sort(function(a, b){
      var x = a.cells[col].dataset.v !== undefined ? a.cells[col].dataset.v : a.cells[col].textContent;
      var y = b.cells[col].dataset.v !== undefined ? b.cells[col].dataset.v : b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
      return asc ? c : -c;
    });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
window.addEventListener('load', function(){
  var ok = Array.from(document.images).filter(function(i){ return i.complete && i.naturalWidth > 0; }).length;
  document.body.dataset.imagesLoaded = ok;
});
"""


#: Which stage's metric each panel shows under it (None: none; "restored" panels show the ranking stage's).
_STAGE_OF = {"original": None, "corrupted": "corrupted", "input": "corrupted", "removed": None, "put back": None,
             "|error|": None, "std": None}


def _noise_plot(report: Report, examples: list[Example]) -> str | None:
    """The noise model the restorer estimated for the first example, over the local statistics of its input."""
    noise = next((it.estimated.get("noise") for it in report.items if it.estimated.get("noise")), None)
    if report.reference != "none" or not noise or not examples:  # a benchmark's noise is the chain's, known
        return None
    means, variances = local_statistics(examples[0].original)
    if not means.size:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    ax.plot(means, variances, "o", ms=3, alpha=0.6, label=f"smooth regions of {examples[0].item_path}")
    x = np.linspace(0, max(float(means.max()), 1e-3), 50)
    if noise.get("model") == "poisson-gaussian":
        ax.plot(x, noise["a"] * x + noise["b"], "-", label=f"a*x + b, a={noise['a']:.3g}, b={noise['b']:.3g}")
    elif "sigma" in noise:
        ax.plot(x, np.full_like(x, noise["sigma"] ** 2), "-", label=f"sigma^2, sigma={noise['sigma'] * 255:.2f}/255")
    ax.set_xlabel("local mean ([0, 1] units)")
    ax.set_ylabel("noise variance")
    ax.legend(frameon=False, fontsize=7)
    return _figure_uri(fig)


def _model_html(report: Report) -> str:
    """A model from elsewhere (restorer:bmz, restorer:onnx): what it is and whom to cite; empty for other restorers."""
    e = html.escape
    model = next((it.estimated["model"] for it in report.items if isinstance(it.estimated.get("model"), dict)), None)
    if not model:
        return ""
    return (f"<h2>Model</h2><p><strong>{e(model.get('name', ''))}</strong> {e(model.get('version', ''))} &middot; "
            f"{e(model.get('network') or model.get('weights', ''))} &middot; licence {e(model.get('license') or 'not stated')}"
            f"{'<br>Cite: ' + e(model['citation']) if model.get('citation') else ''}</p>")


def _fmt(v) -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"


def _volume_table(report: Report) -> list[str]:
    """The whole-volume metrics: with fastMRI's conventions named where a reference volume sets the data range."""
    e = html.escape
    parts: list[str] = []
    v = report.volume
    whole = "; a 3-D metric (ssim:3d=true) on each Z stack as a whole" if any("3d=true" in k for k in report.metrics) else ""
    referenced = v.get("data_range") is not None and report.reference != "none"  # fastMRI's conventions apply
    parts.append("<p>Whole volume (fastMRI: data range = the reference volume's maximum; PSNR and NMSE over all voxels, "
                 f"SSIM the mean over planes{whole}):</p>" if referenced else "<p>Whole volume:</p>")
    parts.append("<table class='volume'><thead><tr><th>metric</th>"
                 + "".join(f"<th>{e(report.stage_label(s))}</th>" for s in report.stages()) + "</tr></thead><tbody>")
    for k in report.metrics:
        parts.append(f"<tr><td>{e(k)}</td>" + "".join(f"<td>{_fmt(v.get(s, {}).get(k))}</td>" for s in report.stages()) + "</tr>")
    parts.append("</tbody></table>")
    return parts


def render_html(report: Report, examples: list[Example], stage: str, key: str, histogram: str | None, title: str,
                noise_plot: str | None = None) -> str:
    e = html.escape
    shown = set(report.shown_metrics())
    cols = [(s, k) for s, k in report.columns() if k in shown]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title><style>{_STYLE}</style></head><body>"]
    parts.append(f"<h1>{e(title)}</h1>")
    chain = " ".join(report.chain) if report.chain else "(evaluation of existing files)"
    counts = {s: sum(i.status == s for i in report.items) for s in ("written", "skipped", "measured", "failed")}
    parts.append(f"<p>Chain: <code>{e(chain)}</code><br>Input: <code>{e(report.input)}</code> &rarr; output: <code>{e(report.output)}</code><br>"
                 f"Seed {report.seed}; value range {e(report.value_range)}; {len(report.items)} items ({', '.join(f'{n} {s}' for s, n in counts.items() if n)}); "
                 f"{report.seconds:.1f} s; imrestore {e(report.versions.get('imrestore', '?'))}</p>")
    if report.command:
        command = [Path(report.command[0]).name, *report.command[1:]]  # `imrestore ...`, not the interpreter's path
        parts.append(f"<p>Command: <code>{e(' '.join(command))}</code></p>")
    if report.reference == "none":
        parts.append(f"<p><strong>No reference.</strong> {e(report.NO_REFERENCE_NOTE[len('no reference: '):].capitalize())}.</p>")
        flagged = report.removed_structure()
        if flagged:
            names = ", ".join(i.path for i in flagged[:10]) + (" ..." if len(flagged) > 10 else "")
            parts.append(f"<p class='warning'><strong>{len(flagged)} of {len(report.items)} items: {e(REMOVED_STRUCTURE_WORDS)}.</strong> "
                         f"{e(names)}</p>")
    if report.kept():
        parts.append(f"<p class='warning'><strong>{e(report.kept_summary())}.</strong></p>")
    if noise_plot:
        noise = next(it.estimated["noise"] for it in report.items if it.estimated.get("noise"))
        parts.append(f"<h2>Estimated noise</h2><p>{e(noise.get('model', ''))}: "
                     f"{e(', '.join(f'{k} {v:.4g}' for k, v in noise.items() if isinstance(v, (int, float))))}"
                     f"{' &middot; ' + e(noise['reason']) if noise.get('reason') else ''} (first item; every item's model is in report.json)</p>"
                     f"<img alt='noise variance against the local mean' src='{noise_plot}'>")
    parts.append(_model_html(report))
    # summary: mean and spread
    parts.append("<h2>Summary</h2><table class='summary'><thead><tr><th>metric</th>" +
                 "".join(f"<th>{e(report.stage_label(s))} mean &plusmn; sd</th><th>{e(report.stage_label(s))} min&ndash;max</th>"
                         for s in report.stages()) + "</tr></thead><tbody>")
    for k in report.shown_metrics():
        row = f"<tr><td>{e(k)}</td>"
        for s in report.stages():
            vals = [i.metrics.get(s, {}).get(k) for i in report.items if i.status != "failed"]
            vals = [v for v in vals if v is not None and math.isfinite(v)]
            if vals:
                row += f"<td>{np.mean(vals):.4g} &plusmn; {np.std(vals):.2g}</td><td>{min(vals):.4g}&ndash;{max(vals):.4g}</td>"
            else:
                row += "<td></td><td></td>"
        parts.append(row + "</tr>")
    parts.append("</tbody></table>")
    if report.volume:
        parts += _volume_table(report)
    if histogram:
        parts.append(f"<h2>Distribution of {e(key)}</h2><img alt='histogram of {e(key)}' src='{histogram}'>")
    if examples:
        parts.append(f"<h2>Best, median and worst by {e(stage)} {e(key)}</h2>")
        parts.append(f"<p>Crops of {CROP}&times;{CROP} pixels where the output differs most from the original; one display scale per row.</p>")
        for ex in examples:
            value = ex.metrics.get(stage, {}).get(key)
            parts.append(f"<h3>{e(ex.rank)}: {e(ex.item_path)} ({e(key)} {_fmt(value)})</h3><div class='crops'>")
            for label, im in _crops(ex):
                if im is None:
                    continue
                caption_stage = _STAGE_OF.get(label, stage)
                cv = ex.metrics.get(caption_stage, {}).get(key) if caption_stage else None
                scale = max(1, CROP // max(im.shape[:2]))
                parts.append(f"<figure><img class='crop' alt='{label} {e(ex.item_path)}' src='{_png(im, scale)}'>"
                             f"<figcaption>{label}{f' &middot; {e(key)} {_fmt(cv)}' if cv is not None else ''}</figcaption></figure>")
            parts.append("</div>")
    parts.append("<h2>Every item</h2><p>Click a column header to sort.</p><div class='scroll'><table class='sortable items'><thead><tr><th>item</th><th>status</th>" +
                 "".join(f"<th>{e(report.stage_label(s))} {e(k)}</th>" for s, k in cols) + "<th>seconds</th><th>error or note</th></tr></thead><tbody>")
    for it in report.items:
        cells = "".join(f"<td data-v='{_fmt(it.metrics.get(s, {}).get(k))}'>{_fmt(it.metrics.get(s, {}).get(k))}</td>" for s, k in cols)
        parts.append(f"<tr class='{e(it.status)}'><td>{e(it.path)}</td><td>{e(it.status)}</td>{cells}<td>{it.seconds:.2f}</td><td>{e(it.error or it.note or it.estimated.get('note', ''))}</td></tr>")
    parts.append("</tbody></table></div>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _absolute(report: Report) -> Report:
    """Input and output paths made absolute with the run's working folder (reports keep what the user typed)."""
    base = Path(report.cwd or ".")

    def fix(text: str) -> str:
        if not text or text.startswith("<"):
            return text
        return text if Path(text).is_absolute() else str(base / text)

    report.input, report.output = fix(report.input), fix(report.output)
    for item in report.items:
        item.output = fix(item.output)
    return report


def write_html_report(run: Path | str, output: Path | str | None = None, by: str | None = None) -> Path:
    """Write ``report.html`` (and ``report-examples.png``) for the run in ``run``; return the HTML path.

    ``by`` is the metric that picks the best, median and worst items (default: PSNR).
    """
    path = find_report(Path(run))
    report = _absolute(load_report(path))
    stage, key, higher = main_metric(report, by)
    examples = []
    for rank, index in rank_items(report, stage, key, higher):
        try:
            examples.append(_load_example(report, index, rank))
            examples[-1].no_reference = report.reference == "none"
            examples[-1].inverted = bool(report.items[index].estimated.get(INVERTED))
        except (OSError, ValueError) as exc:
            raise ImrestoreUsageError(f"cannot load the images of {report.items[index].path}: {exc}") from exc
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.stem
    out = Path(output) if output else path.with_name(f"{stem}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"imrestore report: {Path(report.input).name}"
    atomic_write_text(out, render_html(report, examples, stage, key, _histogram(report, key), title, _noise_plot(report, examples)))
    if examples:
        grid_png(examples, stage, key, out.with_name(f"{out.stem}-examples.png"))
    return out
