"""Plug-and-play MRI reconstruction of real brain slices from under-sampled k-space (issue 22), side by side with
zero filling and sigpy's L1-wavelet compressed sensing.

The data: the middle slices of nibabel's ``example4d.nii.gz`` (a real EPI brain series, 128x96, frame 1), each scaled
to its maximum (so PSNR is fastMRI's, with the slice maximum as data range).  Single coil: each slice's orthonormal 2-D
Fourier transform under-sampled by imrestore's ``kspace`` corruption (fastMRI random column masks, 8 % centre at 4x,
4 % at 8x, ``--seed 0``).  Rows: ``restorer:zerofill``; ``restorer:pnp`` (Fourier operator, closed-form data step) with
TV and with BM3D as the prior; and, when sigpy is importable, ``sigpy.mri.app.L1WaveletRecon`` on the same k-space
(centred FFT, a single coil of ones) for the best λ of a sweep (chosen on the same slices: an upper bound for sigpy).

sigpy is a peer, never a requirement: it runs from the benchmark's own virtual environment, made once with

    python -m venv --system-site-packages benchmarks/.venv-peers && benchmarks/.venv-peers/bin/pip install sigpy
    benchmarks/.venv-peers/bin/python benchmarks/bench_mri_prior.py         # all rows, one run
    python benchmarks/bench_mri_prior.py                                    # without sigpy's rows
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from imrestore.chain import Chain

RESULTS = Path(__file__).parent / "results"
MASKS = {4: "kspace:acceleration=4,center_fraction=0.08,mask=random", 8: "kspace:acceleration=8,center_fraction=0.04,mask=random"}
PRIORS = {"zero-filled": "restorer:zerofill", "pnp tv (100 calls, the default)": "restorer:pnp",
          "pnp tv (24 calls)": "restorer:pnp:iterations=24", "pnp bm3d (24 calls)": "restorer:pnp:denoiser=bm3d,iterations=24"}
LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


def slices(count: int) -> list[np.ndarray]:
    try:
        import nibabel
    except ImportError:
        raise SystemExit("this benchmark reads nibabel's test data: pip install nibabel") from None
    path = Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    vol = np.asarray(nibabel.load(path).dataobj)[..., 0].astype(np.float64)  # X Y Z, frame 1
    mid = vol.shape[2] // 2
    picked = range(mid - count // 2, mid - count // 2 + count)
    return [np.ascontiguousarray((vol[:, :, z] / vol[:, :, z].max()).T.astype(np.float32)) for z in picked]


def psnr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(ref.max() ** 2 / np.mean((np.asarray(est, np.float64) - ref) ** 2)))


def sigpy_recon(image: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    import sigpy as sp
    import sigpy.mri.app as app

    ksp = sp.fft(image.astype(np.complex64), axes=(-2, -1)) * np.fft.fftshift(weights)[None, :]  # centred, orthonormal
    maps = np.ones((1,) + image.shape, np.complex64)
    out = app.L1WaveletRecon(ksp[None], maps, lam, max_iter=100, show_pbar=False).run()
    return np.abs(np.asarray(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=6)
    ap.add_argument("--out", default="bench_mri_prior")
    args = ap.parse_args()
    try:
        import sigpy  # noqa: F401
        have_sigpy = True
    except ImportError:
        have_sigpy = False
        print("sigpy is not importable here: its rows are left out (see the docstring for its venv)", flush=True)
    images = slices(args.slices)
    rows = []
    for accel, mask in MASKS.items():
        per = {name: [] for name in PRIORS}
        secs = {name: [] for name in PRIORS}
        weights_of = []
        for k, image in enumerate(images):
            for name, restorer in PRIORS.items():
                chain = Chain.from_specs([mask, restorer])
                y, record = chain.corrupt(image, seed=0, key=f"slice{k}")
                t = time.perf_counter()
                out = chain.restore(y, record)
                secs[name].append(time.perf_counter() - t)
                per[name].append(psnr(image, out))
            weights_of.append(record["kspace_weights"])
            print(f"{accel}x slice {k}: " + ", ".join(f"{n} {v[-1]:.2f}" for n, v in per.items()), flush=True)
        if have_sigpy:
            sweep = {}
            for lam in LAMBDAS:
                t = time.perf_counter()
                sweep[lam] = [psnr(im, sigpy_recon(im, w, lam)) for im, w in zip(images, weights_of)]
                print(f"{accel}x sigpy L1-wavelet lambda {lam:g}: {np.mean(sweep[lam]):.2f}", flush=True)
                secs.setdefault(f"sigpy l1-wavelet", []).append((time.perf_counter() - t) / len(images))
            best = max(sweep, key=lambda lam: np.mean(sweep[lam]))
            per[f"sigpy l1-wavelet"] = sweep[best]
        for name, values in per.items():
            row = {"acceleration": accel, "mask": mask, "method": name, "psnr": float(np.mean(values)),
                   "per_slice": values, "seconds_median": float(np.median(secs[name]))}
            if name.startswith("sigpy"):
                row.update({"lambda": best, "sweep": {str(k): float(np.mean(v)) for k, v in sweep.items()}})
            rows.append(row)
    RESULTS.mkdir(exist_ok=True)
    result = {"command": f"{'benchmarks/.venv-peers/bin/' if have_sigpy else ''}python benchmarks/bench_mri_prior.py "
                         + " ".join(sys.argv[1:]), "data": "nibabel tests/data/example4d.nii.gz, frame 1, middle slices",
              "slices": args.slices, "shape": list(images[0].shape), "seed": 0, "sigpy": have_sigpy, "rows": rows}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2))
    lines = ["# MRI: plug-and-play against zero filling and sigpy's L1-wavelet CS (real brain slices, single coil)\n",
             f"`{result['command']}` — {args.slices} slices {images[0].shape[0]}x{images[0].shape[1]} of a real EPI "
             "brain series, fastMRI random column masks, seed 0; mean PSNR (slice maximum as data range), median "
             "seconds per slice on this CPU. sigpy: the best λ of the sweep on these slices.\n",
             "| acceleration | method | PSNR (dB) | vs zero-filled | s / slice |", "|---|---|---|---|---|"]
    for accel in MASKS:
        base = next(r["psnr"] for r in rows if r["acceleration"] == accel and r["method"] == "zero-filled")
        for r in (r for r in rows if r["acceleration"] == accel):
            extra = f" (λ {r['lambda']:g})" if "lambda" in r else ""
            lines.append(f"| {accel}x | {r['method']}{extra} | {r['psnr']:.2f} | {r['psnr'] - base:+.2f} | {r['seconds_median']:.2f} |")
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
