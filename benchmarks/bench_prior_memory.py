"""Plug-and-play deconvolution at size (issue 22): a 2048² plane with a 2-D PSF and a 64x512x512 stack with a 3-D PSF,
each through ``imrestore run`` in its own process; wall time, peak RSS (the child's own maximum, ``os.wait4``) and the
gain over the blurred input.

    python benchmarks/bench_prior_memory.py            # both; about 10 minutes on this 2-core CPU

The data: the 2048² plane tiles scikit-image's camera (8-bit, blurred by a Gaussian PSF of sigma 2, white noise 2.55);
the stack is 64 planes of fluorescence-like blobs that drift through Z (16-bit, blurred by a 3-D Gaussian PSF of
sigma 2 in Z and 1.5 in Y and X, 9x11x11, white noise 1 % of the range).  The prior is the default (the learned one).  A stack is
restored in slabs of 16 planes with the PSF's depth on each side: memory follows the slab, not the stack.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

RESULTS = Path(__file__).resolve().parent / "results"
SCRIPT = "import sys\nfrom imrestore.cli import main\nsys.argv = ['imrestore', *sys.argv[1:]]\nmain()\n"


def gaussian(sigmas: tuple[float, ...], shape: tuple[int, ...]) -> np.ndarray:
    axes = [np.exp(-0.5 * ((np.arange(n) - n // 2) / s) ** 2) for s, n in zip(sigmas, shape)]
    psf = axes[0]
    for a in axes[1:]:
        psf = np.multiply.outer(psf, a)
    return psf / psf.sum()


def run(args: list[str], cwd: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``imrestore ARGS`` in a fresh interpreter."""
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if status:
        raise SystemExit(f"imrestore {' '.join(args)} failed: {proc.stderr.read()[-500:]}")
    return seconds, usage.ru_maxrss / 1024


def psnr(ref: np.ndarray, est: np.ndarray, peak: float) -> float:
    return float(10 * np.log10(peak**2 / np.mean((np.asarray(est, np.float64) - ref) ** 2)))


def plane_case(tmp: Path, rng: np.random.Generator) -> dict:
    from skimage import data

    clean = np.tile(data.camera() / 255.0, (4, 4))  # 2048 x 2048
    psf = gaussian((2.0, 2.0), (13, 13))
    blurred = ndimage.convolve(clean, psf, mode="reflect") + rng.normal(0, 2.55 / 255, clean.shape)
    tifffile.imwrite(tmp / "plane.tif", np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8))
    np.save(tmp / "psf2d.npy", psf)
    seconds, rss = run(["run", f"restorer:pnp:psf={tmp / 'psf2d.npy'}", "plane.tif", "plane_out.tif", "-m", "none"], tmp)
    out = tifffile.imread(tmp / "plane_out.tif") / 255.0
    measured = tifffile.imread(tmp / "plane.tif") / 255.0
    return {"case": "2048x2048 plane, 2-D PSF 13x13", "command": "imrestore run restorer:pnp:psf=psf2d.npy plane.tif plane_out.tif",
            "seconds": seconds, "peak_rss_mib": rss, "input_mib": clean.size / 2**20,
            "psnr_input": psnr(clean, measured, 1.0), "psnr_output": psnr(clean, out, 1.0)}


def stack_case(tmp: Path, rng: np.random.Generator, planes: int) -> dict:
    shape = (planes, 512, 512)
    clean = np.zeros(shape)
    centres = rng.random((400, 3)) * np.array(shape)
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    for z, y, x in centres:  # blobs of a few pixels, bright on a dim background
        zs, ys, xs = (slice(max(int(c) - r, 0), int(c) + r + 1) for c, r in ((z, 6), (y, 12), (x, 12)))
        clean[zs, ys, xs] += np.exp(-((zz[zs] - z) ** 2 / 8 + (yy[:, ys] - y) ** 2 / 18 + (xx[:, :, xs] - x) ** 2 / 18))
    clean = 0.1 + 0.8 * clean / clean.max()
    psf = gaussian((2.0, 1.5, 1.5), (9, 11, 11))
    blurred = ndimage.convolve(clean, psf, mode="reflect") + rng.normal(0, 0.01, shape)
    tifffile.imwrite(tmp / "stack.tif", np.round(np.clip(blurred, 0, 1) * 65535).astype(np.uint16))
    tifffile.imwrite(tmp / "psf3d.tif", psf.astype(np.float32))
    seconds, rss = run(["run", f"restorer:pnp:psf={tmp / 'psf3d.tif'}", "stack.tif", "stack_out.tif", "-m", "none"], tmp)
    out = tifffile.imread(tmp / "stack_out.tif") / 65535.0
    measured = tifffile.imread(tmp / "stack.tif") / 65535.0
    return {"case": f"{planes}x512x512 uint16 stack, 3-D PSF 9x11x11", "command":
            "imrestore run restorer:pnp:psf=psf3d.tif stack.tif stack_out.tif", "seconds": seconds, "peak_rss_mib": rss,
            "input_mib": clean.size * 2 / 2**20, "psnr_input": psnr(clean, measured, 1.0),
            "psnr_output": psnr(clean, out, 1.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--planes", type=int, default=64)
    ap.add_argument("--only", choices=("plane", "stack"), default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "plane"):
            rows.append(plane_case(Path(tmp), rng))
            print(rows[-1], flush=True)
        if args.only in (None, "stack"):
            rows.append(stack_case(Path(tmp), rng, args.planes))
            print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    result = {"command": "python benchmarks/bench_prior_memory.py " + " ".join(sys.argv[1:]), "rows": rows}
    (RESULTS / "bench_prior_memory.json").write_text(json.dumps(result, indent=2))
    lines = ["# Plug-and-play deconvolution at size: seconds and peak RSS\n",
             f"`{result['command']}` — each case through `imrestore run` in its own process (the default prior, the learned one; "
             "peak RSS: the child's own maximum). PSNR against the clean data.\n",
             "| case | seconds | peak RSS (MiB) | input (MiB) | PSNR in → out (dB) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['seconds']:.0f} | {r['peak_rss_mib']:.0f} | {r['input_mib']:.0f} | "
                     f"{r['psnr_input']:.2f} → {r['psnr_output']:.2f} |")
    (RESULTS / "bench_prior_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
