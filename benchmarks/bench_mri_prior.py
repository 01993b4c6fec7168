"""Plug-and-play MRI reconstruction of real brain slices from under-sampled k-space (issue 22), side by side with
zero filling and sigpy's L1-wavelet compressed sensing.

The data: the middle slices of nibabel's ``example4d.nii.gz`` (a real EPI brain series, 128x96, frame 1), each scaled
to its maximum (so PSNR is fastMRI's, with the slice maximum as data range).  Single coil: each slice's orthonormal 2-D
Fourier transform under-sampled by imrestore's ``kspace`` corruption (fastMRI random column masks, 8 % centre at 4x,
4 % at 8x, ``--seed 0``).  Rows: ``restorer:zerofill``; ``restorer:pnp`` (Fourier operator, closed-form data step) with
its default prior (the shipped learned denoiser), with TV and with BM3D; and, when sigpy is importable, ``sigpy.mri.app.L1WaveletRecon`` on the same k-space
(centred FFT, a single coil of ones) for the best λ of a sweep (chosen on the same slices: an upper bound for sigpy).

``--files``: the same slices as fastMRI files (complex k-space, :func:`imrestore.mri.write_scan`) with one coil and with
8 coils of smooth simulated sensitivities, complex white noise of sigma 0.01 (the slice maximum is 1), under-sampled
by the same ``kspace`` corruption of the chain; ``restorer:pnp`` then works as on a real scan (its own sampling mask,
ESPIRiT coil maps, the noise level estimated from the outer k-space, the prior on the real and imaginary parts) and
is scored against the fully sampled root-sum-of-squares image.  At 8x the multi-coil rows keep 6 % centre columns
(8 of 128: ESPIRiT needs at least 6); sigpy's L1-wavelet gets the same ESPIRiT maps.

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

sys.path.insert(0, str(Path(__file__).parent))
from panels import panel_grid  # noqa: E402

from imrestore.chain import Chain  # noqa: E402

RESULTS = Path(__file__).parent / "results"
MASKS = {4: "kspace:acceleration=4,center_fraction=0.08,mask=random", 8: "kspace:acceleration=8,center_fraction=0.04,mask=random"}
PRIORS = {"zero-filled": "restorer:zerofill", "pnp n2n-unet (100 calls, the default)": "restorer:pnp",
          "pnp tv (100 calls)": "restorer:pnp:denoiser=tv", "pnp tv (24 calls)": "restorer:pnp:denoiser=tv,iterations=24",
          "pnp bm3d (24 calls)": "restorer:pnp:denoiser=bm3d,iterations=24"}
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


FILE_MASKS = {(4, 1): MASKS[4], (8, 1): MASKS[8], (4, 8): MASKS[4],
              (8, 8): "kspace:acceleration=8,center_fraction=0.06,mask=random"}
FILE_RESTORERS = {"zero-filled": "restorer:zerofill", "pnp n2n-unet (100 calls, the default)": "restorer:pnp",
                  "pnp tv (100 calls)": "restorer:pnp:denoiser=tv"}


def sigpy_file_recon(kspace: np.ndarray, mask: np.ndarray, lam: float) -> np.ndarray:
    """sigpy's L1-wavelet CS of a scan's under-sampled k-space with the ESPIRiT maps imrestore uses."""
    import sigpy.mri.app as app

    from imrestore.mri import coil_maps, sampling_mask

    coils = kspace if kspace.ndim == 3 else kspace[None]
    m, _ = sampling_mask(coils, mask)
    maps = coil_maps(coils, m)[0] if coils.shape[0] > 1 else np.ones_like(coils)
    out = app.L1WaveletRecon((coils * m).astype(np.complex64), maps.astype(np.complex64), lam, max_iter=100,
                             show_pbar=False).run()
    return np.abs(np.asarray(out))


def file_rows(images: list[np.ndarray], have_sigpy: bool) -> list[dict]:
    """Complex k-space of one and of eight coils, as a fastMRI file holds it, through the chain a file run uses."""
    from imrestore.mri import write_scan

    rows = []
    stack = np.stack(images)
    for (accel, coils), mask in FILE_MASKS.items():
        path = Path("/tmp") / f"bench_mri_prior_{coils}.h5"
        write_scan(path, stack, coils=coils, noise=0.01, seed=0)
        import h5py

        with h5py.File(path) as f:
            kspace = f["kspace"][()]
            refs = f["reconstruction_rss" if coils > 1 else "reconstruction_esc"][()]
        per = {name: [] for name in FILE_RESTORERS}
        secs = {name: [] for name in FILE_RESTORERS}
        masked = []
        for k, ref in enumerate(refs):
            hi = float(ref.max())
            for name, restorer in FILE_RESTORERS.items():
                chain = Chain.from_specs([mask, restorer])
                y, record = chain.corrupt(ref / hi, seed=0, key=f"slice{k}",
                                          measured={"kspace": kspace[k], "value_range": (0.0, hi)})
                t = time.perf_counter()
                out = chain.restore(y, record)
                secs[name].append(time.perf_counter() - t)
                per[name].append(psnr(ref / hi, out))
            masked.append((record["kspace"], np.asarray(record["kspace_mask"], bool), ref / hi, hi))
            print(f"file {coils} coil(s) {accel}x slice {k}: " + ", ".join(f"{n} {v[-1]:.2f}" for n, v in per.items()),
                  flush=True)
        best = None
        if have_sigpy:
            sweep = {}
            t = time.perf_counter()
            for lam in LAMBDAS:
                sweep[lam] = [psnr(ref, sigpy_file_recon(k, m, lam) / hi) for k, m, ref, hi in masked]
            secs["sigpy l1-wavelet"] = [(time.perf_counter() - t) / len(LAMBDAS) / len(masked)]
            best = max(sweep, key=lambda lam: np.mean(sweep[lam]))
            per["sigpy l1-wavelet"] = sweep[best]
            print(f"file {coils} coil(s) {accel}x sigpy sweep: " + ", ".join(f"{k:g} {np.mean(v):.2f}" for k, v in sweep.items()))
        for name, values in per.items():
            row = {"acceleration": accel, "coils": coils, "mask": mask, "method": name, "psnr": float(np.mean(values)),
                   "per_slice": values, "seconds_median": float(np.median(secs[name]))}
            if name.startswith("sigpy"):
                row["lambda"] = best
            rows.append(row)
        path.unlink()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=6)
    ap.add_argument("--files", action="store_true", help="only the fastMRI-file rows (complex k-space, 1 and 8 coils)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.out = args.out or ("bench_mri_prior_files" if args.files else "bench_mri_prior")
    try:
        import sigpy  # noqa: F401
        have_sigpy = True
    except ImportError:
        have_sigpy = False
        print("sigpy is not importable here: its rows are left out (see the docstring for its venv)", flush=True)
    images = slices(args.slices)
    if args.files:
        return write_files(file_rows(images, have_sigpy), args, have_sigpy)
    rows, shown, mid = [], {}, len(images) // 2
    for accel, mask in MASKS.items():
        row = shown.setdefault(f"{accel}x", {"reference": ("reference", images[mid], None)})
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
                if k == mid:  # the middle slice, for the figure
                    row[name] = (name.replace(", the default", ""), out, per[name][-1])
            weights_of.append(record["kspace_weights"])
            print(f"{accel}x slice {k}: " + ", ".join(f"{n} {v[-1]:.2f}" for n, v in per.items()), flush=True)
        if have_sigpy:
            sweep = {}
            for lam in LAMBDAS:
                t = time.perf_counter()
                sweep[lam] = [psnr(im, sigpy_recon(im, w, lam)) for im, w in zip(images, weights_of)]
                print(f"{accel}x sigpy L1-wavelet lambda {lam:g}: {np.mean(sweep[lam]):.2f}", flush=True)
                secs.setdefault("sigpy l1-wavelet", []).append((time.perf_counter() - t) / len(images))
            best = max(sweep, key=lambda lam: np.mean(sweep[lam]))
            per["sigpy l1-wavelet"] = sweep[best]
            row["sigpy"] = (f"sigpy λ {best:g}", sigpy_recon(images[mid], weights_of[mid], best), sweep[best][mid])
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
    panel_grid(shown, RESULTS / f"{args.out}.png", f"middle slice of {args.slices}: each reconstruction (PSNR) and its "
               "absolute error, one error scale per acceleration", errors=True)
    lines += ["", f"![the middle slice at 4x and 8x: each reconstruction and its error]({args.out}.png)"]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def write_files(rows: list[dict], args, have_sigpy: bool) -> None:
    RESULTS.mkdir(exist_ok=True)
    result = {"command": "python benchmarks/bench_mri_prior.py " + " ".join(sys.argv[1:]),
              "data": "nibabel tests/data/example4d.nii.gz, frame 1, middle slices, as fastMRI files (imrestore.mri.write_scan)",
              "slices": args.slices, "noise": 0.01, "seed": 0, "sigpy": have_sigpy, "rows": rows}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2))
    lines = ["# MRI from fastMRI files: complex k-space, one coil and eight (real brain slices)\n",
             f"`{result['command']}` — {args.slices} slices 96x128 of a real EPI brain series written as fastMRI files "
             "(complex k-space; 8 coils of smooth simulated sensitivities; complex noise sigma 0.01 of the slice "
             "maximum), under-sampled by fastMRI random column masks (seed 0) and reconstructed as a file run does "
             "(its own mask, ESPIRiT maps, the noise estimated from the outer k-space). PSNR against the fully "
             "sampled root-sum-of-squares image (slice maximum as data range); median seconds per slice on this CPU; "
             "sigpy: L1-wavelet with the same ESPIRiT maps, the best λ of the sweep.\n",
             "| coils | acceleration | method | PSNR (dB) | vs zero-filled | s / slice |", "|---|---|---|---|---|---|"]
    for accel, coils in FILE_MASKS:
        group = [r for r in rows if r["acceleration"] == accel and r["coils"] == coils]
        base = next(r["psnr"] for r in group if r["method"] == "zero-filled")
        for r in group:
            extra = f" (λ {r['lambda']:g})" if r.get("lambda") else ""
            lines.append(f"| {coils} | {accel}x | {r['method']}{extra} | {r['psnr']:.2f} | {r['psnr'] - base:+.2f} | "
                         f"{r['seconds_median']:.2f} |")
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
