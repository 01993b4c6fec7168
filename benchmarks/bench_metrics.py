"""SSIM's cost: imrestore.similarity.ssim against skimage.metrics.structural_similarity, side by side in one run.

Time (median of interleaved repeats) and peak allocated memory (tracemalloc) on
the same float64 arrays, and the difference of the values.

Run:  python benchmarks/bench_metrics.py [--size 2048] [--repeats 5]   -> benchmarks/results/bench_metrics.{json,md}
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
from skimage import data, transform
from skimage.metrics import structural_similarity

from imrestore.similarity import ssim

RESULTS = Path(__file__).parent / "results"


def images(size: int) -> tuple[np.ndarray, np.ndarray]:
    ref = transform.resize(data.camera() / 255.0, (size, size), anti_aliasing=True)
    est = np.clip(ref + np.random.default_rng(0).normal(0, 0.1, ref.shape), 0, 1)
    return ref, est


CASES = {
    "uniform 7x7 (default)": (lambda r, e: structural_similarity(r, e, data_range=1.0), lambda r, e: ssim(r, e)),
    "Gaussian, Wang et al.": (lambda r, e: structural_similarity(r, e, data_range=1.0, gaussian_weights=True, use_sample_covariance=False),
                              lambda r, e: ssim(r, e, gaussian=True)),
}


def peak_mib(fn, *args) -> float:
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    ref, est = images(args.size)
    rows = {}
    for name, (theirs, ours) in CASES.items():
        t_theirs, t_ours = [], []
        for _ in range(args.repeats):  # interleaved: the machine's drift hits both
            t0 = time.perf_counter()
            a = theirs(ref, est)
            t_theirs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = ours(ref, est)
            t_ours.append(time.perf_counter() - t0)
        rows[name] = {"skimage_s": statistics.median(t_theirs), "imrestore_s": statistics.median(t_ours),
                      "speedup": statistics.median(t_theirs) / statistics.median(t_ours), "difference": abs(a - b),
                      "skimage_peak_mib": peak_mib(theirs, ref, est), "imrestore_peak_mib": peak_mib(ours, ref, est)}
        print(name, {k: round(v, 6) for k, v in rows[name].items()}, flush=True)
    result = {"command": f"python benchmarks/bench_metrics.py --size {args.size} --repeats {args.repeats}",
              "image": f"{args.size}x{args.size} float64 grey", "plane_mib": ref.nbytes / 2**20,
              "machine": f"{platform.machine()}, Python {platform.python_version()}", "ssim": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# SSIM's cost", "", f"`{result['command']}` — {result['image']} ({result['plane_mib']:.0f} MiB), median of "
             f"{args.repeats} interleaved repeats, {result['machine']}, 2 cores.", "",
             "| SSIM | scikit-image s | imrestore s | speed-up | |difference| | scikit-image peak MiB | imrestore peak MiB |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['skimage_s']:.3f} | {r['imrestore_s']:.3f} | {r['speedup']:.2f}x | {r['difference']:.1e} | "
                     f"{r['skimage_peak_mib']:.0f} | {r['imrestore_peak_mib']:.0f} |")
    lines += ["", "imrestore: float32, four separable filters (the denominator needs only var(x) + var(y)), products in place, "
              "strips of 256 rows with the window's halo; peak memory is tracemalloc's (NumPy's allocations)."]
    (RESULTS / "bench_metrics.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
