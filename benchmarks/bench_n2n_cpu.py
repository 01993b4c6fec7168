"""CPU: what `imrestore run ... restorer:n2n-unet` adds over a bare forward pass.

Every path runs in a fresh process, as a user would run it, on the same noisy
grey images with the same network and weights (median of interleaved repeats):

- bare script: import torch, load the weights, then ``with torch.no_grad():
  model(x)`` on each image already in memory (.npy).  Run twice: with glibc's
  default allocator, and with the allocator setting imrestore applies on the
  CPU (``imrestore.nn.allocator``), set by the script itself through ctypes.
- Restorer API: ``imrestore.build("restorer:n2n-unet...").restore([x])`` on the
  same arrays; outputs checked against the bare pass.
- imrestore run: the whole CLI over PNG files (read, noise, restore, write;
  --metric none), timed from the outside.
- start-up alone: ``python -c "import torch, imrestore.cli"``.

Each in-process row reports the loop time (forward passes only) and the
process's wall time; the CLI is compared on wall time with the bare scripts'
wall time, and on wall time minus start-up with their loop time.

Run:  python benchmarks/bench_n2n_cpu.py [--n 8] [--size 512] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).parent / "results"

BARE = r"""
import ctypes, sys, time, glob
t0 = time.perf_counter()
if sys.argv[3] == "tuned":  # the same two mallopt calls imrestore makes on the CPU
    libc = ctypes.CDLL("libc.so.6"); libc.mallopt(-3, 1 << 30); libc.mallopt(-1, 1 << 30)
import numpy as np, torch
from imrestore.nn.checkpoint import load_checkpoint
model, _ = load_checkpoint(sys.argv[1])
xs = [np.load(f) for f in sorted(glob.glob(sys.argv[2] + "/*.npy"))]
t1 = time.perf_counter()
with torch.no_grad():
    ys = [model(torch.from_numpy(x)[None, None])[0, 0].numpy() for x in xs]
t2 = time.perf_counter()
np.save(sys.argv[2] + "/../bare.out", np.stack(ys))
print(t2 - t1)
"""

API = r"""
import sys, time, glob
import numpy as np
import imrestore
restorer = imrestore.build(f"restorer:n2n-unet:weights={sys.argv[1]},device=cpu")
restorer.prepare([])
xs = [np.load(f) for f in sorted(glob.glob(sys.argv[2] + "/*.npy"))]
t1 = time.perf_counter()
ys = [restorer.restore([x])[0] for x in xs]
t2 = time.perf_counter()
np.save(sys.argv[2] + "/../api.out", np.stack(ys))
print(t2 - t1)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import torch
    from imrestore_builtins.learned import shipped_checkpoints
    from skimage import data, transform

    import imrestore

    names = ["camera", "moon", "coins", "page", "text", "brick", "grass", "gravel"]
    names = (names * (args.n // len(names) + 1))[: args.n]
    clean = [transform.resize(np.asarray(getattr(data, k)()) / 255.0, (args.size, args.size), anti_aliasing=True).astype(np.float32) for k in names]
    gauss = imrestore.build("gaussian:sigma=25")
    path = next(p for p, m in shipped_checkpoints("n2n-unet") if m["config"]["in_channels"] == 1)

    work = Path(tempfile.mkdtemp(prefix="imrestore-n2n-"))
    (work / "in").mkdir()
    (work / "npy").mkdir()
    for i, (k, c) in enumerate(zip(names, clean)):
        Image.fromarray((c * 255).round().astype(np.uint8)).save(work / "in" / f"{i:03d}-{k}.png")
        np.save(work / "npy" / f"{i:03d}.npy", gauss(c, i).astype(np.float32))
    env = {k: v for k, v in os.environ.items() if k != "IMRESTORE_MALLOC"}

    def script(code: str, *extra: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code, str(path), str(work / "npy"), *extra], check=True,
                             capture_output=True, text=True, env=env).stdout
        return float(out.split()[-1]), time.perf_counter() - t0

    def cli() -> tuple[None, float]:
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "imrestore.cli", "run", "gaussian:sigma=25", f"restorer:n2n-unet:weights={path},device=cpu",
                        str(work / "in"), str(out), "-q", "--metric", "none"], check=True, env=env)
        return None, time.perf_counter() - t0

    def startup() -> tuple[None, float]:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, imrestore.cli"], check=True, env=env)
        return None, time.perf_counter() - t0

    paths = {
        "bare script, default allocator": lambda: script(BARE, "default"),
        "bare script, tuned allocator": lambda: script(BARE, "tuned"),
        "Restorer API": lambda: script(API),
        "imrestore run (CLI, files)": cli,
        "start-up alone (python -c 'import torch, imrestore.cli')": startup,
    }
    loop: dict[str, list[float]] = {k: [] for k in paths}
    wall: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            inner, outer = fn()
            if inner is not None:
                loop[name].append(inner)
            wall[name].append(outer)
    max_diff = float(np.abs(np.load(work / "bare.out.npy") - np.load(work / "api.out.npy")).max())
    shutil.rmtree(work, ignore_errors=True)
    assert max_diff < 1e-4, max_diff

    med_loop = {k: statistics.median(v) for k, v in loop.items() if v}
    med_wall = {k: statistics.median(v) for k, v in wall.items()}
    start = med_wall["start-up alone (python -c 'import torch, imrestore.cli')"]
    cli_wall = med_wall["imrestore run (CLI, files)"]
    comparisons = {}
    for bare in ("bare script, default allocator", "bare script, tuned allocator"):
        comparisons[f"CLI wall vs {bare} wall"] = cli_wall / med_wall[bare] - 1
        comparisons[f"CLI wall minus start-up vs {bare} loop"] = (cli_wall - start) / med_loop[bare] - 1
    comparisons["Restorer API loop vs bare script, tuned allocator loop"] = med_loop["Restorer API"] / med_loop["bare script, tuned allocator"] - 1
    result = {
        "command": "python benchmarks/bench_n2n_cpu.py " + " ".join(sys.argv[1:]),
        "images": f"{args.n} grey {args.size}x{args.size}, gaussian sigma=25",
        "weights": path.name,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "max_abs_diff_api_vs_bare": max_diff,
        "loop_seconds": loop,
        "wall_seconds": wall,
        "median_loop_seconds": med_loop,
        "median_wall_seconds": med_wall,
        "overhead": comparisons,
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_n2n_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# n2n-unet on the CPU: imrestore vs a bare forward pass", "",
             f"`{result['command']}` — {result['images']}, every path in a fresh process, median of {args.repeats} interleaved runs, {result['machine']}.",
             f"The Restorer API's outputs equal the bare pass's to {max_diff:.1e}.", "",
             "| path | forward loop s | process wall s |", "|---|---|---|"]
    for k in paths:
        lines.append(f"| {k} | {f'{med_loop[k]:.2f}' if k in med_loop else '—'} | {med_wall[k]:.2f} |")
    lines += ["", "| comparison | overhead |", "|---|---|"]
    lines += [f"| {k} | {v * 100:+.1f} % |" for k, v in comparisons.items()]
    lines += ["", "The CLI also reads and writes the PNGs and adds the noise; the bare scripts get the noisy images as .npy. "
              "On the CPU imrestore raises glibc's mmap/trim thresholds (`imrestore.nn.allocator`), so a bare script with glibc's "
              "defaults is slower than the CLI; the tuned bare script is the like-for-like bar (target: at most +10 %)."]
    (RESULTS / "bench_n2n_cpu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
