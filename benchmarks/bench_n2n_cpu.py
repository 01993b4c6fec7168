"""CPU: what `imrestore run ... restorer:n2n-unet` adds over a bare forward pass.

Bare: `with torch.no_grad(): model(x)` on each noisy image, the images already in
memory.  imrestore: (a) the Restorer API on the same arrays (conversion, device
and tile choice, batching); (b) the whole CLI run over PNG files (read, noise,
restore, write; --metric none).  Same network, same weights, same images;
outputs of (a) are checked against the bare pass.

Run:  python benchmarks/bench_n2n_cpu.py [--n 6] [--size 512] [--repeats 3]
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
import torch
from PIL import Image

import imrestore
from imrestore.nn.checkpoint import load_checkpoint
from imrestore_builtins.learned import shipped_checkpoints

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from skimage import data, transform

    names = ["camera", "moon", "coins", "page", "text", "brick", "grass", "gravel"][: args.n]
    clean = [transform.resize(np.asarray(getattr(data, k)()) / 255.0, (args.size, args.size), anti_aliasing=True).astype(np.float32) for k in names]
    gauss = imrestore.build("gaussian:sigma=25")
    noisy = [gauss(c, i) for i, c in enumerate(clean)]
    path, _ = next((p, m) for p, m in shipped_checkpoints("n2n-unet") if m["config"]["in_channels"] == 1)
    model, _ = load_checkpoint(path)
    restorer = imrestore.build(f"restorer:n2n-unet:weights={path},device=cpu")
    restorer.prepare([])

    work = Path(tempfile.mkdtemp(prefix="imrestore-n2n-"))
    (work / "in").mkdir()
    for k, c in zip(names, clean):
        Image.fromarray((c * 255).round().astype(np.uint8)).save(work / "in" / f"{k}.png")

    def bare():
        with torch.no_grad():
            return [model(torch.from_numpy(x)[None, None])[0, 0].numpy() for x in noisy]

    def api():
        return [restorer.restore([x])[0] for x in noisy]

    def cli():
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "imrestore.cli", "run", "gaussian:sigma=25", f"restorer:n2n-unet:weights={path},device=cpu",
                        str(work / "in"), str(out), "-q", "--metric", "none"], check=True)

    ref, got = bare(), api()
    max_diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, got))
    assert max_diff < 1e-4, max_diff
    def startup():
        subprocess.run([sys.executable, "-c", "import torch, imrestore.cli"], check=True)

    times = {"bare torch.no_grad() forward": [], "Restorer API on arrays": [], "imrestore run (CLI, files)": [],
             "Python + torch + imrestore start-up alone": []}
    for _ in range(args.repeats):
        for name, fn in zip(times, (bare, api, cli, startup)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    med["imrestore run minus start-up"] = med["imrestore run (CLI, files)"] - med["Python + torch + imrestore start-up alone"]
    base = med["bare torch.no_grad() forward"]
    result = {
        "command": "python benchmarks/bench_n2n_cpu.py " + " ".join(sys.argv[1:]),
        "images": f"{args.n} grey {args.size}x{args.size}, gaussian sigma=25",
        "weights": path.name,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "max_abs_diff_api_vs_bare": max_diff,
        "seconds": times,
        "median_seconds": med,
        "overhead_vs_bare": {k: v / base - 1 for k, v in med.items() if not k.startswith(("bare", "Python"))},
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_n2n_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# n2n-unet on the CPU: imrestore vs a bare forward pass", "",
             f"`{result['command']}` — {result['images']}, median of {args.repeats} interleaved runs, {result['machine']}.",
             f"The API outputs equal the bare pass to {max_diff:.1e}.", "", "| path | median s | vs bare |", "|---|---|---|"]
    for k, v in med.items():
        lines.append(f"| {k} | {v:.2f} | {'—' if k.startswith(('bare', 'Python')) else f'{(v / base - 1) * 100:+.1f} %'} |")
    lines += ["", "The CLI row also reads and writes the PNGs, adds the noise and starts Python (target: at most +10 %)."]
    (RESULTS / "bench_n2n_cpu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
