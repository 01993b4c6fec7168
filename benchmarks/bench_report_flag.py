"""Calibrating the report's "removed structure" flag (the ``edges`` metric): blurred clean images must score above
the threshold, noisy images restored by a denoiser that knows their noise below it.

    python benchmarks/bench_report_flag.py

Calibration images and held-out images are disjoint sets of scikit-image's samples (grey, 256x256 centre crops).
Flagged cases: a clean image blurred by a Gaussian of sigma 1 and 2 pixels. Cases that must not be flagged: white
Gaussian noise of sigma 10, 25 and 50 (0-255 scale) removed by BM3D and by the shipped n2n-unet given the true sigma.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import data
from skimage.color import rgb2gray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from imrestore.registry import build  # noqa: E402
from imrestore_builtins.metrics import EDGES_FLAG  # noqa: E402

CALIBRATION = ("camera", "coins", "moon", "page")
HELD_OUT = ("astronaut", "brick", "coffee", "chelsea", "grass", "text")


def grey(name: str) -> np.ndarray:
    img = getattr(data, name)()
    img = rgb2gray(img) if img.ndim == 3 else img / 255.0
    h, w = img.shape
    return np.ascontiguousarray(img[(h - 256) // 2:(h + 256) // 2, (w - 256) // 2:(w + 256) // 2], np.float32)


def cases(names):
    rng = np.random.default_rng(0)
    edges = build("metric:edges")
    for name in names:
        clean = grey(name)
        for s in (1.0, 2.0):
            yield {"image": name, "case": f"clean, blurred sigma {s:g}", "flag": True,
                   "edges": edges(clean, ndimage.gaussian_filter(clean, s))}
        for sigma in (10, 25, 50):
            noisy = (clean + rng.normal(0, sigma / 255, clean.shape)).astype(np.float32)
            for restorer in ("bm3d", "n2n-unet"):
                r = build(f"restorer:{restorer}:sigma={sigma}" + (",ensemble=false" if restorer == "n2n-unet" else ""))
                r.prepare([])
                out = r.restore([noisy], [{}])[0]
                yield {"image": name, "case": f"sigma {sigma} denoised by {restorer}", "flag": False, "edges": edges(noisy, out)}


def main() -> None:
    t0 = time.perf_counter()
    rows = {"calibration": list(cases(CALIBRATION)), "held_out": list(cases(HELD_OUT))}
    summary = {}
    for part, rs in rows.items():
        blurred = [r["edges"] for r in rs if r["flag"]]
        denoised = [r["edges"] for r in rs if not r["flag"]]
        summary[part] = {"misses": sum(v <= EDGES_FLAG for v in blurred), "false_alarms": sum(v > EDGES_FLAG for v in denoised),
                         "blurred_min": min(blurred), "denoised_max": max(denoised), "n_blurred": len(blurred), "n_denoised": len(denoised)}
    out = {"command": "python benchmarks/bench_report_flag.py", "threshold": EDGES_FLAG, "summary": summary, "rows": rows,
           "seconds": time.perf_counter() - t0}
    res = ROOT / "benchmarks" / "results"
    (res / "bench_report_flag.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"# The report's 'removed structure' flag: edges > {EDGES_FLAG}", "", f"`{out['command']}`", "",
             "| set | blurred clean images (min edges) | misses | denoised noisy images (max edges) | false alarms |", "|---|---|---|---|---|"]
    for part, s in summary.items():
        lines.append(f"| {part} | {s['n_blurred']} ({s['blurred_min']:.3f}) | {s['misses']} | {s['n_denoised']} ({s['denoised_max']:.3f}) | {s['false_alarms']} |")
    lines += ["", "| set | image | case | edges |", "|---|---|---|---|"]
    lines += [f"| {part} | {r['image']} | {r['case']} | {r['edges']:.3f} |" for part, rs in rows.items() for r in rs]
    (res / "bench_report_flag.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:8]))


if __name__ == "__main__":
    main()
