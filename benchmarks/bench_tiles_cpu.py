"""CPU: tile size for n2n-unet on an image larger than a tile (seconds, peak memory, PSNR).

One grey photograph (scikit-image's camera, resized to 1600x2400, Gaussian
noise sigma 25) through the shipped grey n2n-unet with ``predict`` at several
tile sides, interleaved, median of the repeats.  "1664 before" is what the
previous code did on this machine: the automatic tile was a quarter of the free
memory (1664) and every tile that side, however little of it the image needed.
Now ``auto_tile`` keeps CPU tiles to 1024 and ``balanced_tile`` evens them out
(a 1600-pixel side: two tiles of 832, not two of 1664 or 1024).  Peak memory is each
setting's high-water mark (VmHWM) in a fresh process.

Run:  python benchmarks/bench_tiles_cpu.py [--repeats 3] [--size 1600x2400]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
TILES = ("1664 before", 1664, 1024, 768, 512, 256)


def setup(size: tuple[int, int]):
    import torch
    from imrestore_builtins.learned import shipped_checkpoints
    from skimage import data, transform

    import imrestore
    from imrestore.nn.checkpoint import load_checkpoint
    from imrestore.nn.inference import select_device

    torch.set_grad_enabled(False)
    select_device("cpu")  # the allocator setting imrestore applies on a CPU
    path = next(p for p, _ in shipped_checkpoints() if p.stem == "n2n-unet-gaussian-grey")
    model, _ = load_checkpoint(path)
    clean = transform.resize(data.camera() / 255.0, size, anti_aliasing=True).astype(np.float32)
    noisy = imrestore.build("gaussian:sigma=25")(clean, 0).astype(np.float32)
    return model, clean, noisy


def unbalanced(size: int, tile: int, overlap: int, multiple: int = 32) -> int:
    """The previous code's tiles: the full tile side whatever the image needs."""
    return min(size, tile)


def forward(model, noisy: np.ndarray, tile) -> np.ndarray:
    from imrestore.nn import inference

    if tile == "1664 before":
        real, inference.balanced_tile = inference.balanced_tile, unbalanced
        try:
            return inference.predict(model, [noisy], tile=1664, overlap=32)[0]
        finally:
            inference.balanced_tile = real
    return inference.predict(model, [noisy], tile=int(tile), overlap=32)[0]


def high_water_mib() -> float:
    """VmHWM: the peak resident memory of this process image (ru_maxrss would carry the parent's over fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_pass(size: tuple[int, int], tile) -> None:
    """Child process: one pass at ``tile``, then print the peak RSS in MiB."""
    model, _, noisy = setup(size)
    forward(model, noisy, tile)
    print(json.dumps({"peak_rss_mib": high_water_mib()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", default="1600x2400")
    ap.add_argument("--child-tile", help=argparse.SUPPRESS)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    if args.child_tile:
        one_pass(size, args.child_tile if args.child_tile == "1664 before" else int(args.child_tile))
        return
    import torch

    from imrestore.nn.inference import auto_tile, balanced_tile, predict

    model, clean, noisy = setup(size)
    times: dict[int, list[float]] = {t: [] for t in TILES}
    psnr: dict[int, float] = {}
    predict(model, [noisy[:256, :256]], tile=None)  # warm-up
    for r in range(args.repeats):
        for tile in TILES:
            t0 = time.perf_counter()
            out = forward(model, noisy, tile)
            times[tile].append(time.perf_counter() - t0)
            psnr[tile] = float(10 * np.log10(1.0 / np.mean((out.astype(np.float64) - clean) ** 2)))
            print(r, tile, round(times[tile][-1], 2), flush=True)
    memory = {}
    for tile in TILES:  # fresh processes, one per setting
        proc = subprocess.run([sys.executable, __file__, "--size", args.size, "--child-tile", str(tile)],
                              capture_output=True, text=True, check=True)
        memory[tile] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_mib"]
    auto = auto_tile(torch.device("cpu"), 2000)
    rows = []
    for tile in TILES:
        fn, side = (unbalanced, 1664) if tile == "1664 before" else (balanced_tile, tile)
        th, tw = fn(size[0], side, 32), fn(size[1], side, 32)
        rows.append({"tile": tile, "tile_shape": [th, tw], "seconds_median": round(statistics.median(times[tile]), 2),
                     "seconds": [round(t, 2) for t in times[tile]], "mpix_per_s": round(size[0] * size[1] / 1e6 / statistics.median(times[tile]), 3),
                     "psnr": round(psnr[tile], 3), "peak_rss_mib": round(memory[tile], 0)})
    result = {"command": "python benchmarks/bench_tiles_cpu.py", "image": f"camera resized to {size[0]}x{size[1]}, sigma 25",
              "auto_tile_now": auto, "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads", "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_tiles_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# CPU tile size for n2n-unet on a large image", "",
             f"`{result['command']}` — {result['image']}, median of {args.repeats} interleaved passes; {result['machine']}.",
             f"The automatic tile on a CPU is now {auto} (it was 1664 on this machine: a quarter of the free memory).", "",
             "| tile | tiles of | seconds | MPix/s | PSNR dB | peak RSS MiB |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['tile']} | {row['tile_shape'][0]}x{row['tile_shape'][1]} | {row['seconds_median']} | {row['mpix_per_s']} "
                     f"| {row['psnr']} | {row['peak_rss_mib']:.0f} |")
    (RESULTS / "bench_tiles_cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
