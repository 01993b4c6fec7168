"""Posterior samples of ``restorer:pnp:samples=16`` (issue 22): is the mean as good as the point estimate, and does the
std map say where the error is?  On held-out natural grey 256² images with imrestore's chains and ``--seed 0``.

For each task and prior: the point estimate's PSNR (``restorer:pnp``), the mean of 16 samples' PSNR, the empirical
coverage of mean ± 2·std over pixels (a calibrated std covers about 95 %), and Spearman's rank correlation between the
std and |error| averaged over 8×8 blocks (does the map rank the regions by their error?), with seconds per image.

    python benchmarks/bench_sample.py                        # tv prior, 3 images, inpainting and deblurring
    python benchmarks/bench_sample.py --priors tv bm3d --images 2
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
from natural import test_images  # noqa: E402
from panels import enlarged  # noqa: E402

from imrestore.chain import Chain  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TASKS = {"inpaint": ["erase:p=0.8"], "deblur": ["blur:sigma=2", "gaussian:sigma=2.55"], "sr4": ["downsample:factor=4"]}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(np.asarray(b, np.float64), 0, 1) - a) ** 2)))


def blocks(a: np.ndarray, size: int = 8) -> np.ndarray:
    h, w = (a.shape[0] // size) * size, (a.shape[1] // size) * size
    return a[:h, :w].reshape(h // size, size, w // size, size).mean(axis=(1, 3)).ravel()


def run(specs: list[str], image: np.ndarray):
    chain = Chain.from_specs(specs)
    y, record = chain.corrupt(image, seed=0, key="bench")
    t = time.perf_counter()
    out = chain.restore(y, record)
    record["measurement"] = y
    return out, record, time.perf_counter() - t


def figure(shown: dict[str, dict], path: Path, samples: int) -> None:
    """One row per task (the first image, the default prior): original, measurement, point estimate, sample mean, and
    the mean's |error| beside the samples' std on one scale: where the std is bright, the error should be too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(shown), 6, figsize=(13.2, 2.6 * len(shown)), squeeze=False)
    for r, (task, d) in enumerate(shown.items()):
        image, err, std = d["original"], np.abs(np.clip(d["mean"], 0, 1) - d["original"]), d["std"]
        top = float(np.percentile(np.concatenate([err.ravel(), std.ravel()]), 99)) or 1.0
        panels = [("original", image, "gray", 1.0), ("measurement", enlarged(d["measurement"], image.shape), "gray", 1.0),
                  (f"point estimate\n{psnr(image, d['point']):.2f} dB", d["point"], "gray", 1.0),
                  (f"mean of {samples} samples\n{psnr(image, d['mean']):.2f} dB", d["mean"], "gray", 1.0),
                  ("|error| of the mean", err, "magma", top), ("std of the samples (same scale)", std, "magma", top)]
        for ax, (title, img, cmap, vmax) in zip(axes[r], panels):
            ax.imshow(np.clip(img, 0, vmax), cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_axis_off()
        axes[r, 0].text(-0.08, 0.5, task, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--tasks", nargs="+", default=["inpaint", "deblur"], choices=list(TASKS))
    ap.add_argument("--priors", nargs="+", default=["n2n-unet", "tv"])
    ap.add_argument("--zeta", type=float, default=0.5)
    ap.add_argument("--out", default="bench_sample")
    args = ap.parse_args()
    images = dict(list(test_images(1).items())[: args.images])
    rows, shown = [], {}
    for task in args.tasks:
        for prior in args.priors:
            per = []
            for name, image in images.items():
                point, _, t_point = run(TASKS[task] + [f"restorer:pnp:denoiser={prior}"], image)
                mean, record, t_mean = run(TASKS[task] + [f"restorer:pnp:denoiser={prior},samples={args.samples},"
                                                          f"zeta={args.zeta}"], image)
                std = record["outputs"]["std"].astype(np.float64)
                err = np.abs(np.clip(mean, 0, 1) - image)
                r = {"image": name, "point_psnr": psnr(image, point), "mean_psnr": psnr(image, mean),
                     "coverage_2std": float(np.mean(err <= 2 * std)),
                     "spearman_8x8": float(spearmanr(blocks(std), blocks(err)).correlation),
                     "std_mean_255": float(std.mean() * 255), "abs_error_mean_255": float(err.mean() * 255),
                     "seconds_point": t_point, "seconds_samples": t_mean,
                     "denoiser_calls": record["estimated"]["pnp"]["denoiser_calls"]}
                per.append(r)
                if prior == args.priors[0] and name == next(iter(images)):  # for the figure
                    shown[task] = {"original": image, "measurement": np.asarray(record["measurement"], np.float64),
                                   "point": point, "mean": mean, "std": std}
                print(f"{task} {prior} {name}: point {r['point_psnr']:.2f} mean {r['mean_psnr']:.2f} coverage "
                      f"{r['coverage_2std']:.3f} spearman {r['spearman_8x8']:.2f} ({t_mean:.0f} s)", flush=True)
            keys = [k for k in per[0] if k != "image"]
            rows.append({"task": task, "chain": " ".join(TASKS[task]), "prior": prior, "per_image": per,
                         **{k: float(np.median([p[k] for p in per])) if k.startswith("seconds") else
                            float(np.mean([p[k] for p in per])) for k in keys}})
    RESULTS.mkdir(exist_ok=True)
    result = {"command": "python benchmarks/bench_sample.py " + " ".join(sys.argv[1:]), "images": list(images),
              "samples": args.samples, "zeta": args.zeta, "seed": 0, "rows": rows,
              "targets": {"mean_within_db_of_point": 0.5, "coverage": [0.85, 0.99], "spearman": 0.4}}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2))
    lines = ["# Posterior samples: the mean, the coverage of mean ± 2 std, the std map against |error|\n",
             f"`{result['command']}` — held-out grey 256² crops: {', '.join(images)}; {args.samples} DiffPIR samples "
             f"(zeta {args.zeta}); means over the images, median seconds per image on this CPU. Targets: mean within 0.5 dB "
             "of the point estimate, coverage 85-99 %, Spearman ≥ 0.4.\n",
             "| task | chain | prior | point PSNR | mean PSNR | coverage ±2 std | Spearman (8×8) | mean std / mean abs error (0-255) | s point | s samples | denoiser calls |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | `{r['chain']}` | {r['prior']} | {r['point_psnr']:.2f} | {r['mean_psnr']:.2f} | "
                     f"{100 * r['coverage_2std']:.1f} % | {r['spearman_8x8']:.2f} | {r['std_mean_255']:.2f} / "
                     f"{r['abs_error_mean_255']:.2f} | {r['seconds_point']:.1f} | {r['seconds_samples']:.0f} | {r['denoiser_calls']:.0f} |")
    figure(shown, RESULTS / f"{args.out}.png", args.samples)
    lines += ["", f"![{next(iter(images))} with the {args.priors[0]} prior: point estimate, sample mean, its |error| "
              f"and the samples' std]({args.out}.png)"]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
