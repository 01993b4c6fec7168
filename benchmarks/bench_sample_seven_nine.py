"""Issue 22, the lecture's 7-or-9 point with posterior samples: the mean is a blend, the samples fall on either digit.

Forty held-out 7s whose top 18 rows are missing (only the lower stroke is measured, no noise) are restored by
:func:`imrestore.priors.pnp_sample` (DiffPIR, the sampler behind ``restorer:pnp:samples=N``) with the masking operator and,
as the prior, the exact minimum-mean-square-error denoiser of the training digits (all ten classes): under the empirical
distribution of the training set, ``E[X | X + σN = x]`` is the average of the training digits weighted by
``exp(-|x - x_i|² / 2σ²)``, the quadratic-loss denoiser the lecture describes, without a network's approximation.  For
each sample and for the mean of 16 we measure the weight ``alpha`` of the mean 7 in the best mix of mean 7 and mean 9
over the missing rows (1: a 7, 0: a 9) and the class of the nearest training digit.

    python benchmarks/bench_sample_seven_nine.py [--quick]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from repro import out_dir, parser, save  # noqa: E402

from imrestore.datasets import mnist  # noqa: E402
from imrestore.nn.data import split  # noqa: E402
from imrestore.operators import Mask  # noqa: E402
from imrestore.priors import pnp_sample  # noqa: E402

TOP = 18  # rows missing
SAMPLES = 16


def exemplar_denoiser(examples: np.ndarray):
    """The MMSE denoiser of the empirical distribution of ``examples`` (N x H x W): ``denoise(x, sigma)``."""
    flat = examples.reshape(len(examples), -1).astype(np.float64)
    norms = (flat**2).sum(1)

    def denoise(x: np.ndarray, sigma: float) -> np.ndarray:
        v = np.asarray(x, np.float64).ravel()
        logw = -(norms - 2 * flat @ v + v @ v) / (2 * sigma**2)
        w = np.exp(logw - logw.max())
        return (w @ flat / w.sum()).reshape(x.shape)

    return denoise


def main() -> None:
    args = parser(__doc__).parse_args()
    digits, labels = mnist()
    train, held = split(len(digits), 0.2, 0)
    sevens = [i for i in held if labels[i] == 7 and digits[i][TOP:].sum() > 3]
    sevens = sevens[:8] if args.quick else sevens[:40]
    m7 = digits[train][labels[train] == 7].mean(0)
    m9 = digits[train][labels[train] == 9].mean(0)
    denoise = exemplar_denoiser(digits[train])
    flat_train = digits[train].reshape(len(train), -1)
    keep = np.ones((28, 28), bool)
    keep[:TOP] = False
    op = Mask(keep)
    hidden = ~keep
    diff = (m7 - m9)[hidden]

    def alpha(image):
        return float(np.clip(np.dot(image[hidden] - m9[hidden], diff) / np.dot(diff, diff), -1, 2))

    def nearest_class(image):
        return int(labels[train][np.argmin(((flat_train - image.ravel()) ** 2).sum(1))])

    rows, figure_row = [], None
    for n, i in enumerate(sevens):
        y = op.forward(digits[i])
        draws = []

        def keep_sample(x):  # each sample, to look at one by one: pnp_sample with samples=1, one seed stream each
            draws.append(x)

        rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(int(i),)))
        for _ in range(SAMPLES):
            x, _, _ = pnp_sample(y, op, denoise, 0.0, samples=1, iterations=30, sigma_start=1.0, rng=rng, in_shape=(28, 28))
            keep_sample(x)
        draws = np.array(draws)
        mean, std = draws.mean(0), draws.std(0)
        classes = [nearest_class(d) for d in draws]
        rows.append({"index": int(i), "alpha_mean": alpha(mean), "alpha_samples": [alpha(d) for d in draws],
                     "classes": classes, "std_hidden": float(std[hidden].mean()), "std_measured": float(std[keep].max())})
        if figure_row is None and 7 in classes and 9 in classes:
            figure_row = (digits[i], y, mean, std, draws)
        print(f"{n + 1}/{len(sevens)} digit {i}: alpha of the mean {rows[-1]['alpha_mean']:.2f}; samples' classes {classes}",
              flush=True)
    samples_alpha = np.concatenate([r["alpha_samples"] for r in rows])
    classes = np.concatenate([r["classes"] for r in rows])
    both = [r for r in rows if 7 in r["classes"] and 9 in r["classes"]]
    result = {
        "missing_rows": TOP, "n_sevens": len(rows), "samples_each": SAMPLES, "iterations": 30, "sigma_start_0_1": 1.0,
        "alpha_of_the_mean_median": float(np.median([r["alpha_mean"] for r in rows])),
        "alpha_of_samples_share_near_0_or_1": float(np.mean((samples_alpha < 0.25) | (samples_alpha > 0.75))),
        "alpha_of_means_share_near_0_or_1": float(np.mean([(r["alpha_mean"] < 0.25) | (r["alpha_mean"] > 0.75) for r in rows])),
        "sample_classes": {str(c): int((classes == c).sum()) for c in np.unique(classes)},
        "share_of_digits_with_both_a_7_and_a_9_among_samples": len(both) / len(rows),
        "std_on_measured_rows_max": max(r["std_measured"] for r in rows),
        "rows": rows,
    }
    out = out_dir(args)
    if figure_row is not None:
        figure(*figure_row, out / "sample_seven_nine.png")
    md = ["# A 7 or a 9? Posterior samples against the posterior mean", "",
          f"`python benchmarks/bench_sample_seven_nine.py{' --quick' if args.quick else ''}` — {len(rows)} held-out 7s, top "
          f"{TOP} rows missing (no noise), {SAMPLES} DiffPIR samples each (30 steps) with the exact MMSE denoiser of the "
          "training digits as the prior. ![figure](sample_seven_nine.png)", "",
          "| | value |", "|---|---|",
          f"| alpha (weight of the mean 7 against the mean 9, missing rows) of the mean of the samples, median | {result['alpha_of_the_mean_median']:.2f} |",
          f"| share of samples with alpha below 0.25 or above 0.75 (a clear 9 or 7) | {100 * result['alpha_of_samples_share_near_0_or_1']:.0f} % |",
          f"| share of means with alpha below 0.25 or above 0.75 | {100 * result['alpha_of_means_share_near_0_or_1']:.0f} % |",
          f"| class of the nearest training digit, over all samples | {', '.join(f'{k}: {v}' for k, v in result['sample_classes'].items())} |",
          f"| digits whose samples hold both a 7 and a 9 | {len(both)} of {len(rows)} |",
          f"| largest std on the measured rows | {result['std_on_measured_rows_max']:.1e} |",
          "", "The samples are digits (7s and 9s, and other digits whose lower stroke fits); their mean is a blend, the "
          "posterior mean that a quadratic-loss restorer returns; the std map is zero where the pixels are measured."]
    save(args, "sample_seven_nine", result, md)


def figure(original, measured, mean, std, draws, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("original", original), ("measured", measured), ("mean of 16", mean), ("std", std)]
    panels += [(f"sample {k + 1}", d) for k, d in enumerate(draws[:8])]
    fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
    for ax, (title, im) in zip(axes.ravel(), panels):
        ax.imshow(im, cmap="gray", vmin=0, vmax=1 if title != "std" else max(float(std.max()), 1e-6))
        ax.set_title(title, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
