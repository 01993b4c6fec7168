"""Real MRI magnitude data with a repeated acquisition: does anything imrestore does make it worse?

The data: nibabel's own test file ``example4d.nii.gz`` (installed with ``pip install nibabel``; a real EPI series of
24 planes of 96x128, int16, two time frames). Frame 1 is the data; frame 2, an independent acquisition of the same
anatomy, scores it: the MSE of a restoration of frame 1 against frame 2 is its true MSE plus the noise variance, so
"restored MSE <= raw MSE" (the raw frame 1 against frame 2) means the restoration did not make the data worse.
(The two frames also differ by physiology: their difference is far from white, its power at high spatial
frequencies a quarter of that at low ones, so the cross-frame sigma is larger than the thermal noise.)

    pip install nibabel
    python benchmarks/bench_mri_realdata.py                 # 4- and 10-minute training, about 25 minutes
    python benchmarks/bench_mri_realdata.py --minutes 1     # a shorter check

Everything runs through the command line on real files, with `--range data` (the frames fill 0..1162 of int16):
`imrestore train restorer:n2n-unet --targets self` with default options for each budget (and with `--noise mri` for
the first), then `imrestore run` with its weights (and with force=true, to show what the harm check prevented); `adapt=40`; every denoiser with noise=auto
and with noise=mri; the noise estimate of each plane against the repeated-acquisition sigma.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DENOISERS = ("n2n-unet", "bm3d", "nlmeans", "tv", "wavelet")


def frames() -> tuple[np.ndarray, np.ndarray]:
    """The two frames of nibabel's example4d.nii.gz as ZYX int16 stacks."""
    try:
        import nibabel
    except ImportError:
        raise SystemExit("this benchmark reads nibabel's test data: pip install nibabel") from None
    path = Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    data = np.asanyarray(nibabel.load(path).dataobj)  # X Y Z T
    stack = np.ascontiguousarray(np.transpose(data, (3, 2, 1, 0)))
    return stack[0], stack[1]


def cli(*args: str, cwd: Path) -> tuple[float, str]:
    """Run `imrestore ARGS`; seconds and stderr (the log)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "imrestore.cli", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"imrestore {' '.join(args)} failed: {done.stderr[-1500:]}")
    return time.perf_counter() - t0, done.stderr


def cross_mse(restored: np.ndarray, second: np.ndarray) -> float:
    return float(np.mean((restored.astype(np.float64) - second.astype(np.float64)) ** 2))


def noise_rows(first: np.ndarray, second: np.ndarray) -> dict:
    """The MRI noise estimate per plane (and pooled over the stack) against the repeated-acquisition sigma."""
    from imrestore.noise import estimate_mri_sigma, estimate_noise

    peak = float(first.max())
    support = (first > 0) & (second > 0)
    diff = first.astype(np.float64) - second
    truth = float(diff[support].std() / np.sqrt(2))
    per_plane = [estimate_mri_sigma(p / peak) * peak for p in first.astype(np.float64)]  # one plane alone
    pooled = estimate_mri_sigma(list(first.astype(np.float64) / peak)) * peak  # what `train --noise mri` fits
    auto = [estimate_noise(p / peak, "auto") for p in first.astype(np.float64)[::4]]
    return {"repeated_sigma": truth, "repeated_sigma_whole_image": float(diff.std() / np.sqrt(2)),
            "mri_sigma_median_of_planes": float(np.median(per_plane)), "mri_sigma_pooled": pooled,
            "ratio_planes": float(np.median(per_plane)) / truth, "ratio_pooled": pooled / truth,
            "auto_models": [e.model.name for e in auto], "auto_reason": auto[0].reason}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", default="4,10", help="training budgets, comma-separated")
    ap.add_argument("--skip-denoisers", action="store_true", help="only the training rows")
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the Markdown from the committed JSON, run nothing")
    args = ap.parse_args()
    if args.markdown_only:
        write_markdown(json.loads((RESULTS / "bench_mri_realdata.json").read_text()))
        return
    first, second = frames()
    t_all = time.perf_counter()
    rows: list[dict] = []
    raw = cross_mse(first, second)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tifffile.imwrite(work / "stack.tif", first)

        def restored_row(name: str, spec: str, **extra) -> dict:
            out = f"{len(rows)}.tif"
            seconds, log = cli("run", spec, "stack.tif", out, "--range", "data", "-q", cwd=work)
            mse = cross_mse(tifffile.imread(work / out), second)
            report = json.loads((work / f"{out}.report.json").read_text())
            row = {"row": name, "spec": spec, "cross_mse": mse, "ratio_to_raw": mse / raw, "seconds": seconds,
                   "kept_as_is": bool(np.array_equal(tifffile.imread(work / out), first)),
                   "removed_structure": report.get("removed_structure"),
                   "estimated_noise": (report["items"][0].get("estimated") or {}).get("noise"), **extra}
            rows.append(row)
            print(f"{name}: cross-frame MSE {mse:.1f} ({mse / raw:.2f}x raw){' kept as is' if row['kept_as_is'] else ''}", flush=True)
            return row

        budgets = [float(m) for m in args.minutes.split(",")]
        for minutes, noise in [(m, "auto") for m in budgets] + [(budgets[0], "mri")]:
            weights = f"self-{minutes:g}-{noise}.safetensors"
            seconds, log = cli("train", "restorer:n2n-unet", "--targets", "self", "stack.tif", "-o", weights, "--range", "data",
                               "--max-minutes", f"{minutes:g}", "--noise", noise, "-q", cwd=work)
            train_log = json.loads((work / weights.replace(".safetensors", ".log.json")).read_text())
            check = train_log.get("harm_check") or {}
            info = {"train_seconds": seconds, "method": train_log["self_supervised"]["method"],
                    "noise": train_log["self_supervised"]["noise"], "init": (train_log.get("init_weights") or {}).get("file"),
                    "harm_check": check}
            what = f"--targets self{' --noise mri' if noise == 'mri' else ''}, {minutes:g} min"
            restored_row(f"{what}, then run", f"restorer:n2n-unet:weights={weights}", **info)
            restored_row(f"{what}, run with force=true", f"restorer:n2n-unet:weights={weights},force=true")
        if not args.skip_denoisers:
            restored_row("n2n-unet adapt=40", "restorer:n2n-unet:adapt=40")
            for name in DENOISERS:
                restored_row(f"{name}, noise=auto", f"restorer:{name}")
            for name in DENOISERS:
                restored_row(f"{name}, noise=mri", f"restorer:{name}:noise=mri")
    noise = noise_rows(first, second)
    run_noise = next((r["estimated_noise"] for r in rows if r["row"] == "tv, noise=mri" and r.get("estimated_noise")), None)
    if run_noise:  # what `imrestore run ...:noise=mri` estimated for the volume
        noise["run_sigma"] = run_noise["sigma"] * float(first.max())
        noise["ratio_run"] = noise["run_sigma"] / noise["repeated_sigma"]
        noise["run_reason"] = run_noise["reason"]
    result = {"command": "python benchmarks/bench_mri_realdata.py " + " ".join(sys.argv[1:]),
              "data": "nibabel tests/data/example4d.nii.gz: EPI, 24 planes 96x128 int16, frame 1 restored, frame 2 scores",
              "raw_cross_mse": raw, "rows": rows, "noise": noise, "seconds": time.perf_counter() - t_all}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_mri_realdata.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_markdown(result)


def write_markdown(result: dict) -> None:
    """bench_mri_realdata.md from the JSON result."""
    rows, noise = result["rows"], result["noise"]
    auto_run = next((r["estimated_noise"] for r in rows if r["row"] == "tv, noise=auto" and r.get("estimated_noise")), None)
    lines = ["# Real MRI magnitude data with a repeated acquisition", "", f"`{result['command'].strip()}` "
             f"({result['seconds'] / 60:.0f} min). {result['data']}. Raw frame 1 against frame 2: MSE {result['raw_cross_mse']:.1f} "
             "(int16 units squared). A restoration that does no harm scores at most that (ratio <= 1).", "",
             "| row | cross-frame MSE | ratio to raw | kept as is | harm check at training | report |", "|---|---|---|---|---|---|"]
    for r in rows:
        check = r.get("harm_check") or {}
        verdict = "" if not check else ("beats the data" if check.get("helps") else "does not beat the data") + (
            f" ({check['estimated_gain_db']:+.2f} dB)" if check.get("estimated_gain_db") is not None else "")
        flag = "removed structure" if r["removed_structure"] and not r["removed_structure"].startswith("none") else ""
        lines.append(f"| {r['row']} | {r['cross_mse']:.1f} | {r['ratio_to_raw']:.2f} | {'yes' if r['kept_as_is'] else ''} | {verdict} | {flag} |")
    lines += ["", f"Noise sigma (int16 units): repeated acquisitions (std of the difference / sqrt 2, inside the object) "
              f"{noise['repeated_sigma']:.2f}; `noise=mri` per plane (median) {noise['mri_sigma_median_of_planes']:.2f} "
              f"({noise['ratio_planes']:.2f}x), pooled over the stack (what `train --noise mri` fits) {noise['mri_sigma_pooled']:.2f} ({noise['ratio_pooled']:.2f}x); "
              + (f"`imrestore run restorer:tv:noise=mri` {noise['run_sigma']:.2f} ({noise['ratio_run']:.2f}x: {noise['run_reason']}); "
                 if "run_sigma" in noise else "")
              + (f"`imrestore run restorer:tv` (noise=auto) chose {auto_run['model']} ({auto_run['reason']}); "
                 if auto_run else "")
              + f"`noise=auto` on one plane alone (too few blocks for the texture check) chose "
              f"{', '.join(sorted(set(noise['auto_models'])))} ({noise['auto_reason']})."]
    (RESULTS / "bench_mri_realdata.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
