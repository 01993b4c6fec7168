"""Volumes: peak memory, throughput, Dask and resuming on a 4 GiB uint16 stack.

Generates a ``planes x 2048 x 4096`` uint16 stack (256 planes = 4 GiB) as a
TIFF and as an HDF5 file (chunks of 1 x 512 x 512), then times

* the chain ``gaussian:sigma=10 restorer:wavelet`` applied plane by plane to
  arrays already in memory (the bar: no file I/O at all), measured on a sample
  of planes before, between and after the file runs (each run is compared
  with the two measurements around it: the machine is shared and drifts);
* ``imrestore run`` TIFF -> TIFF and HDF5 -> HDF5 under ``/usr/bin/time -v``
  (peak RSS, wall time), ``--metric none``;
* the same TIFF run with ``--dask -j 2`` (a 2-worker LocalCluster), checked
  byte-identical to the single-process output;
* a TIFF run killed (SIGKILL) once half the planes are recorded as done, then
  rerun: the rerun's time against a full run, and its output byte-identical.

Run:  python benchmarks/bench_volumes.py [--planes 256] [--work DIR]
(quick plumbing check: --planes 8 --no-save)
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import tifffile

RESULTS = Path(__file__).parent / "results"
CHAIN = ["gaussian:sigma=10", "restorer:wavelet"]
SHAPE = (2048, 4096)


def plane(i: int) -> np.ndarray:
    """A synthetic microscopy-like plane: smooth blobs on a background, uint16, different per plane."""
    y, x = np.ogrid[: SHAPE[0], : SHAPE[1]]
    base = 2000 + 1500 * np.sin(x / (97 + i % 7)) * np.cos(y / (61 + i % 5))
    return (base + 8000 * (np.sin((x + 13 * i) / 211.0) ** 8) * (np.cos((y - 7 * i) / 173.0) ** 8)).astype(np.uint16)


def generate(work: Path, n: int) -> tuple[Path, Path]:
    tif, h5 = work / "stack.tif", work / "stack.h5"
    if not tif.exists():
        tifffile.imwrite(tif, (plane(i) for i in range(n)), shape=(n, *SHAPE), dtype=np.uint16, bigtiff=True,
                         metadata={"axes": "ZYX"}, resolution=(1 / 0.1625, 1 / 0.1625))
    if not h5.exists():
        with h5py.File(h5, "w") as f:
            f.attrs["instrument"] = "synthetic light-sheet"
            ds = f.create_dataset("volume", shape=(n, *SHAPE), dtype=np.uint16, chunks=(1, 512, 512))
            ds.attrs["axes"] = "ZYX"
            ds.attrs["element_size_um"] = [2.0, 0.1625, 0.1625]
            for i in range(n):
                ds[i] = plane(i)
    return tif, h5


def in_memory_seconds_per_plane(sample: list[int]) -> float:
    """The bar: the same chain on planes already in memory (median seconds per plane)."""
    from imrestore.chain import Chain
    from imrestore.dtypes import from_unit, to_unit

    chain = Chain.from_specs(CHAIN, metrics=[])
    arrays = {i: plane(i) for i in sample}
    times = []
    for i in sample:
        t0 = time.perf_counter()
        ref, _ = to_unit(arrays[i], (0.0, 65535.0))
        corrupted, deg = chain.corrupt(ref, 0, f"stack/{i}")
        restored = chain.restorer.restore([corrupted], [deg])[0]
        from_unit(restored, np.uint16, (0.0, 65535.0))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed_run(args: list[str], chain: list[str] = CHAIN, metrics: tuple[str, ...] = ("--metric", "none")) -> dict:
    """``imrestore run CHAIN ARGS -q METRICS`` under /usr/bin/time -v: wall seconds and peak RSS (MiB)."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "imrestore.cli", "run", *chain, *args, "-q", *metrics]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"seconds": round(wall, 2), "peak_rss_mib": round(rss_kb / 1024, 1)}


def killed_half_then_resumed(src: Path, dst: Path, n: int) -> dict:
    record = dst.with_name(f".{dst.name}.imrestore-partial.json")
    cmd = [sys.executable, "-m", "imrestore.cli", "run", *CHAIN, str(src), str(dst), "-q", "--metric", "none"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    while proc.poll() is None:
        time.sleep(0.2)
        try:
            done = len(json.loads(record.read_text())["done"])
        except (OSError, ValueError, KeyError):
            continue
        if done >= n // 2:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            break
    first = time.perf_counter() - t0
    rerun = timed_run([str(src), str(dst)])
    return {"killed_after_s": round(first, 2), "planes_done_when_killed": done, "rerun": rerun}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--planes", type=int, default=256)
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed at the end)")
    ap.add_argument("--sample", type=int, default=12, help="planes timed in memory, before and after the file runs")
    ap.add_argument("--no-save", action="store_true", help="do not write results/ (plumbing check)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="imrestore-vol-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        tif, h5 = generate(work, args.planes)
        gib = args.planes * SHAPE[0] * SHAPE[1] * 2 / 2**30
        os.sync()  # let the kernel write the new files back now, not during the first measurement
        print(f"generated {gib:.2f} GiB in {time.perf_counter() - t0:.0f} s", flush=True)
        sample = list(np.linspace(0, args.planes - 1, min(args.sample, args.planes)).astype(int))
        bars = [in_memory_seconds_per_plane(sample)]  # measured between the runs: each run is compared with the two around it
        print(f"in memory: {bars[-1]:.3f} s/plane", flush=True)
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        runs = {}
        runs["tiff"] = timed_run([str(tif), str(out / "serial.tif")])
        print("tiff", runs["tiff"], flush=True)
        bars.append(in_memory_seconds_per_plane(sample))
        print(f"in memory: {bars[-1]:.3f} s/plane", flush=True)
        runs["hdf5"] = timed_run([str(h5), str(out / "serial.h5")])
        print("hdf5", runs["hdf5"], flush=True)
        bars.append(in_memory_seconds_per_plane(sample))
        print(f"in memory: {bars[-1]:.3f} s/plane", flush=True)
        runs["dask_2_workers"] = timed_run([str(tif), str(out / "dask.tif"), "--dask", "-j", "2"])
        runs["dask_2_workers"]["identical_to_serial"] = filecmp.cmp(out / "serial.tif", out / "dask.tif", shallow=False)
        print("dask", runs["dask_2_workers"], flush=True)
        (out / "dask.tif").unlink()
        resume = killed_half_then_resumed(tif, out / "resumed.tif", args.planes)
        resume["identical_to_uninterrupted"] = filecmp.cmp(out / "serial.tif", out / "resumed.tif", shallow=False)
        resume["rerun_vs_full"] = round(resume["rerun"]["seconds"] / runs["tiff"]["seconds"], 3)
        print("resume", resume, flush=True)
        bars.append(in_memory_seconds_per_plane(sample))
        with tifffile.TiffFile(out / "serial.tif") as t:
            kept = {"axes": t.series[0].axes, "shape": list(t.series[0].shape), "dtype": str(t.series[0].dtype),
                    "resolution": list(t.pages.first.tags["XResolution"].value)}
        with h5py.File(out / "serial.h5") as f:
            kept["hdf5_attrs"] = {"instrument": f.attrs["instrument"], "axes": f["volume"].attrs["axes"],
                                  "element_size_um": f["volume"].attrs["element_size_um"].tolist()}
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    bracket = {"tiff": bars[0:2], "hdf5": bars[1:3], "dask_2_workers": bars[2:4]}
    for name, (b0, b1) in bracket.items():
        runs[name]["planes_per_s"] = round(args.planes / runs[name]["seconds"], 3)
        runs[name]["bar_s_per_plane"] = [round(b0, 4), round(b1, 4)]
        runs[name]["vs_in_memory"] = round(runs[name]["seconds"] / (statistics.mean([b0, b1]) * args.planes) - 1, 4)
        runs[name]["vs_faster_bar"] = round(runs[name]["seconds"] / (min(b0, b1) * args.planes) - 1, 4)
    result = {
        "command": "python benchmarks/bench_volumes.py" + (f" --planes {args.planes}" if args.planes != 256 else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "volume": {"shape": [args.planes, *SHAPE], "dtype": "uint16", "gib": round(gib, 3)},
        "chain": CHAIN,
        "in_memory_s_per_plane": [round(b, 4) for b in bars],
        "runs": runs,
        "resume": resume,
        "output_metadata": kept,
    }
    print(json.dumps(result, indent=2))
    if args.no_save:
        return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_volumes.json").write_text(json.dumps(result, indent=2) + "\n")
    r, res = runs, resume
    md = [
        "# Volumes: bounded memory, throughput, Dask and resuming",
        "",
        f"`{result['command']}` — {args.planes} x {SHAPE[0]} x {SHAPE[1]} uint16 ({gib:.2f} GiB), "
        f"`{' '.join(CHAIN)}`, `--metric none`, {result['machine']}. Peak RSS from `/usr/bin/time -v`.",
        "",
        f"The bar, the same chain on planes already in memory, was measured before, between and after the runs "
        f"({', '.join(f'{b:.3f}' for b in bars)} s/plane); each run is compared with the two measurements around it.",
        "",
        "| run | wall s | planes/s | bar s/plane (before, after) | vs mean bar | vs faster bar | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in (("tiff", "TIFF -> TIFF"), ("hdf5", "HDF5 -> HDF5"), ("dask_2_workers", "TIFF, --dask -j 2 (RSS: client only)")):
        b0, b1 = r[name]["bar_s_per_plane"]
        md.append(f"| {label} | {r[name]['seconds']} | {r[name]['planes_per_s']} | {b0:.3f}, {b1:.3f} | {100 * r[name]['vs_in_memory']:+.1f} % | "
                  f"{100 * r[name]['vs_faster_bar']:+.1f} % | {r[name]['peak_rss_mib']} |")
    md += [
        "",
        f"Dask output byte-identical to the single process: {r['dask_2_workers']['identical_to_serial']}. Two workers on two cores ran "
        f"{r['tiff']['seconds'] / r['dask_2_workers']['seconds']:.2f}x as fast as one process: "
        f"{100 * (2 * r['dask_2_workers']['seconds'] / r['tiff']['seconds'] - 1):+.0f} % over perfect scaling (cluster start-up and "
        "the scheduler; the workers write their planes into the TIFF themselves, the client flushes and records them).",
        f"Resume: killed (SIGKILL) after {res['killed_after_s']} s with {res['planes_done_when_killed']} of {args.planes} planes recorded; "
        f"the rerun took {res['rerun']['seconds']} s = {100 * res['rerun_vs_full']:.0f} % of a full run (peak RSS {res['rerun']['peak_rss_mib']} MiB), "
        f"output byte-identical to the uninterrupted run: {res['identical_to_uninterrupted']}.",
        f"Output kept: TIFF axes {kept['axes']}, shape {kept['shape']}, {kept['dtype']}, resolution {kept['resolution']}; "
        f"HDF5 attributes {kept['hdf5_attrs']}.",
        "",
    ]
    (RESULTS / "bench_volumes.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()
