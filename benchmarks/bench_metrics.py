"""What measuring costs: SSIM against scikit-image, and a volume run with the default metrics against ``--metric none``.

1. SSIM: imrestore.similarity.ssim against skimage.metrics.structural_similarity on the same float64 arrays, side by
   side in one run (median of interleaved repeats), peak allocated memory (tracemalloc) and the difference of the
   values: 2-D (uniform and Gaussian windows) and ``ssim:3d=true``'s 3-D window on a stack.
2. The strip size: imrestore's SSIM with strips of several sizes (the result does not depend on it; the time does,
   through the processor's cache).
3. Runs: ``imrestore run gaussian:sigma=25 restorer:wavelet`` on --images RGB PNGs of 512x512 and on a TIFF stack of
   --planes planes of 2048x2048 uint16, with the default metrics (PSNR and SSIM of the corrupted and of the restored
   images) and with ``--metric none``, alternately, each under /usr/bin/time -v (wall time, peak resident memory).

Run:  python benchmarks/bench_metrics.py [--size 2048] [--repeats 5] [--images 200] [--planes 64] [--runs 3]
      -> benchmarks/results/bench_metrics.{json,md}
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import tifffile
from bench_volumes import timed_run
from skimage import data, transform
from skimage.metrics import structural_similarity

from imrestore import similarity
from imrestore.similarity import ssim

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).parent))
CHAIN = ["gaussian:sigma=25", "restorer:wavelet"]


def images(size: int) -> tuple[np.ndarray, np.ndarray]:
    ref = transform.resize(data.camera() / 255.0, (size, size), anti_aliasing=True)
    est = np.clip(ref + np.random.default_rng(0).normal(0, 0.1, ref.shape), 0, 1)
    return ref, est


def stack(depth: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    plane = transform.resize(data.camera() / 255.0, (size, size), anti_aliasing=True)
    ref = np.stack([np.roll(plane, 3 * z, axis=1) for z in range(depth)])
    est = np.clip(ref + np.random.default_rng(1).normal(0, 0.1, ref.shape), 0, 1)
    return ref, est


CASES = {
    "uniform 7x7 (default)": (lambda r, e: structural_similarity(r, e, data_range=1.0), lambda r, e: ssim(r, e)),
    "Gaussian, Wang et al.": (lambda r, e: structural_similarity(r, e, data_range=1.0, gaussian_weights=True, use_sample_covariance=False),
                              lambda r, e: ssim(r, e, gaussian=True)),
    "3-D uniform 7x7x7 (ssim:3d=true)": (lambda r, e: structural_similarity(r, e, data_range=1.0), lambda r, e: ssim(r, e, volumetric=True)),
}


def peak_mib(fn, *args) -> float:
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def side_by_side(repeats: int, size: int, depth: int) -> dict:
    pairs = {"2-D": images(size), "3-D": stack(depth, size // 4)}
    rows = {}
    for name, (theirs, ours) in CASES.items():
        ref, est = pairs["3-D" if name.startswith("3-D") else "2-D"]
        t_theirs, t_ours = [], []
        for _ in range(repeats):  # interleaved: the machine's drift hits both
            t0 = time.perf_counter()
            a = theirs(ref, est)
            t_theirs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = ours(ref, est)
            t_ours.append(time.perf_counter() - t0)
        rows[name] = {"shape": list(ref.shape), "skimage_s": statistics.median(t_theirs), "imrestore_s": statistics.median(t_ours),
                      "speedup": statistics.median(t_theirs) / statistics.median(t_ours), "difference": abs(a - b),
                      "skimage_peak_mib": peak_mib(theirs, ref, est), "imrestore_peak_mib": peak_mib(ours, ref, est)}
        print(name, {k: (round(v, 6) if isinstance(v, float) else v) for k, v in rows[name].items()}, flush=True)
    return rows


def strip_scan(repeats: int) -> dict:
    """Seconds of one SSIM (uniform window, float32 data) by block size (similarity.STRIP_ELEMENTS), on a 2048x2048
    plane and a 512x512 one."""
    out = {}
    default = similarity.STRIP_ELEMENTS
    for size in (2048, 512):
        ref, est = (a.astype(np.float32) for a in images(size))
        times: dict[int, list[float]] = {}
        for _ in range(repeats):
            for elements in (1 << 14, 1 << 15, 1 << 16, 1 << 17, 1 << 18):
                similarity.STRIP_ELEMENTS = elements
                t0 = time.perf_counter()
                ssim(ref, est)
                times.setdefault(elements, []).append(time.perf_counter() - t0)
        similarity.STRIP_ELEMENTS = default
        out[f"{size}x{size}"] = {str(k): statistics.median(v) for k, v in times.items()}
        print("strips", size, {k: round(v * 1e3, 1) for k, v in out[f"{size}x{size}"].items()}, flush=True)
    return out


def with_and_without(src: Path, work: Path, runs: int, what: str) -> dict:
    """The same run with the default metrics and with --metric none, alternately: medians, and their ratios."""
    found: dict[str, list[dict]] = {"default metrics": [], "--metric none": []}
    for k in range(runs):
        for name, extra in (("--metric none", ["--metric", "none"]), ("default metrics", [])):
            found[name].append(timed_run([str(src), str(work / f"out-{k}"), "--overwrite"], CHAIN, tuple(extra)))
            print(what, name, found[name][-1], flush=True)
    med = {name: {"seconds": statistics.median(r["seconds"] for r in rs), "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in rs),
                  "runs": rs} for name, rs in found.items()}
    none, full = med["--metric none"], med["default metrics"]
    return {"what": what, "chain": CHAIN, **med, "time_ratio": full["seconds"] / none["seconds"],
            "rss_ratio": full["peak_rss_mib"] / none["peak_rss_mib"]}


def folder_runs(images: int, runs: int) -> dict:
    from bench_pipeline import make_images

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_images(work / "in", images, 512)
        return with_and_without(work / "in", work, runs, f"{images} RGB PNGs of 512x512")


def volume_runs(planes: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "stack.tif"
        rng = np.random.default_rng(0)
        y, x = np.ogrid[:2048, :2048]
        base = 2000 + 1500 * np.sin(x / 97) * np.cos(y / 61)
        tifffile.imwrite(src, ((base + rng.integers(0, 2000, (1, 2048)) * (z % 3)).astype(np.uint16) for z in range(planes)),
                         shape=(planes, 2048, 2048), dtype=np.uint16, metadata={"axes": "ZYX"})
        return with_and_without(src, work, runs, f"a TIFF stack of {planes} planes of 2048x2048 uint16")


def markdown(result: dict) -> str:
    lines = ["# What measuring costs", "", f"`{result['command']}` — {result['machine']}, 2 cores.", "",
             "## SSIM against scikit-image", "",
             f"Median of {result['repeats']} interleaved repeats on the same float64 arrays; peak memory is tracemalloc's "
             "(NumPy's allocations).", "",
             "| SSIM | shape | scikit-image s | imrestore s | speed-up | |difference| | scikit-image peak MiB | imrestore peak MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in result["ssim"].items():
        lines.append(f"| {name} | {'x'.join(map(str, r['shape']))} | {r['skimage_s']:.3f} | {r['imrestore_s']:.3f} | "
                     f"**{r['speedup']:.1f}x** | {r['difference']:.1e} | {r['skimage_peak_mib']:.0f} | {r['imrestore_peak_mib']:.0f} |")
    lines += ["", "imrestore: float32; scikit-image leaves out the border of the SSIM map, so the window is applied as "
              "'valid' sliding sums with no padding (a 7-wide uniform window is 4 shifted additions per axis); four "
              "filtered maps, not five (the denominator needs only var(x) + var(y)); products in place; strips of about "
              f"{similarity.STRIP_ELEMENTS:,} elements with half a window above and below, so the temporaries stay in the cache.", ""]
    if result.get("strips"):
        sizes = list(next(iter(result["strips"].values())))
        lines += ["## Block size", "", f"One SSIM (uniform window, float32 data), ms, by elements per block (blocks of "
                  f"{similarity.BLOCK_COLUMNS} columns; the default is {similarity.STRIP_ELEMENTS:,}):", "",
                  "| plane | " + " | ".join(f"{int(s):,}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
        for plane, row in result["strips"].items():
            lines.append(f"| {plane} | " + " | ".join(f"{row[s] * 1e3:.1f}" for s in sizes) + " |")
        lines.append("")
    runs = [result[k] for k in ("folder", "volume") if result.get(k)]
    if runs:
        lines += ["## Runs with and without the metrics", "",
                  f"`imrestore run {' '.join(CHAIN)} IN OUT`, with the default metrics (PSNR and SSIM of the corrupted and of the "
                  "restored images) and with `--metric none`, alternately, one worker; medians of "
                  f"{len(runs[0]['--metric none']['runs'])} runs each, /usr/bin/time -v.", "",
                  "| input | --metric none s | default metrics s | time ratio | --metric none peak RSS MiB | default peak RSS MiB | RSS ratio |",
                  "|---|---|---|---|---|---|---|"]
        for v in runs:
            none, full = v["--metric none"], v["default metrics"]
            lines.append(f"| {v['what']} | {none['seconds']:.1f} | {full['seconds']:.1f} | **{v['time_ratio']:.2f}x** | "
                         f"{none['peak_rss_mib']:.0f} | {full['peak_rss_mib']:.0f} | **{v['rss_ratio']:.2f}x** |")
        lines += ["", "Targets: at most 1.3x in time (both inputs) and in peak RSS (the volume).", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--depth", type=int, default=64, help="planes of the 3-D SSIM's stack (of size/4 squared planes)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--images", type=int, default=200, help="RGB PNGs of the folder run (0: no folder run)")
    ap.add_argument("--planes", type=int, default=64, help="planes of the volume run (0: no volume run)")
    ap.add_argument("--runs", type=int, default=3, help="volume runs with each setting")
    ap.add_argument("--parts", default="ssim,strips,folder,volume", help="parts to run; the others are kept from the committed results")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    path = RESULTS / "bench_metrics.json"
    old = json.loads(path.read_text()) if path.exists() and parts != {"ssim", "strips", "folder", "volume"} else {}
    command = "python benchmarks/bench_metrics.py " + " ".join(sys.argv[1:])
    result = {**old, "command": command.strip() if not old else f"{old['command']}; then {command.strip()}", "repeats": args.repeats,
              "machine": f"{platform.machine()}, Python {platform.python_version()}"}
    if "ssim" in parts:
        result["ssim"] = side_by_side(args.repeats, args.size, args.depth)
    if "strips" in parts:
        result["strips"] = strip_scan(args.repeats)
    if args.images and "folder" in parts:
        result["folder"] = folder_runs(args.images, args.runs)
    if args.planes and "volume" in parts:
        result["volume"] = volume_runs(args.planes, args.runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "bench_metrics.md").write_text(markdown(result))


if __name__ == "__main__":
    main()
