"""Lecture result 4: a 7 masked down to its lower stroke is restored as a blend of 7 and 9.

The shipped conv-ae for block masking restores held-out 7s whose top 18 rows are
covered by a white patch (only the bottom extremity of the stroke remains).  The
quadratic loss returns the posterior mean; with a 7 and a 9 equally able to
explain the fragment, the reconstruction of the masked part is a mix of both.  We
measure, in the masked rows, the distance of the reconstruction to the mean 7 and
the mean 9 of the training digits and the weight alpha of the mean 7 in the best
mix alpha * mean7 + (1 - alpha) * mean9 (alpha = 1: a clean 7; 0: a 9).

Run:  python benchmarks/bench_repro_seven_nine.py [--quick]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from repro import image_row, out_dir, parser, save  # noqa: E402

import imrestore  # noqa: E402
from imrestore.datasets import mnist
from imrestore.nn.data import split  # noqa: E402

TOP = 18  # rows hidden by the patch


def main() -> None:
    args = parser(__doc__).parse_args()
    digits, labels = mnist()
    train, held = split(len(digits), 0.2, 0)
    sevens = [i for i in held if labels[i] == 7 and digits[i][TOP:].sum() > 3]  # a visible lower stroke
    if args.quick:
        sevens = sevens[:10]
    m7 = digits[train][labels[train] == 7].mean(0)
    m9 = digits[train][labels[train] == 9].mean(0)
    restorer = imrestore.build("restorer:conv-ae")
    restorer.prepare([imrestore.build("block:size=10,position=random")])  # the block-masking weights
    mask = np.zeros((28, 28), bool)
    mask[:TOP] = True
    rows = []
    for i in sevens:
        x = digits[i].copy()
        x[mask] = 1.0  # the white patch of the lecture (the block corruption's value)
        out = restorer(x)
        a = out[mask]
        d7, d9 = np.linalg.norm(a - m7[mask]), np.linalg.norm(a - m9[mask])
        diff = (m7 - m9)[mask]
        alpha = float(np.clip(np.dot(a - m9[mask], diff) / np.dot(diff, diff), -1, 2))
        rows.append({"index": int(i), "d_mean7": float(d7), "d_mean9": float(d9), "d_original": float(np.linalg.norm(a - digits[i][mask])),
                     "alpha7": alpha, "masked": x, "restored": out})
    alphas = np.array([r["alpha7"] for r in rows])
    example = min(rows, key=lambda r: abs(r["alpha7"] - np.median(alphas)))
    result = {
        "patch_rows": TOP, "n_sevens": len(rows),
        "example": {k: v for k, v in example.items() if k not in ("masked", "restored")},
        "alpha7_median": float(np.median(alphas)), "alpha7_iqr": [float(np.percentile(alphas, 25)), float(np.percentile(alphas, 75))],
        "share_closer_to_mean9": float(np.mean([r["d_mean9"] < r["d_mean7"] for r in rows])),
        "mean_d_mean7": float(np.mean([r["d_mean7"] for r in rows])), "mean_d_mean9": float(np.mean([r["d_mean9"] for r in rows])),
    }
    print(result, flush=True)
    figure(digits[example["index"]], example, m7, m9, out_dir(args) / "repro_seven_nine.png")
    e = result["example"]
    md = ["# Lecture 4: a 7 or a 9?", "",
          f"`python benchmarks/bench_repro_seven_nine.py{' --quick' if args.quick else ''}` — shipped conv-ae (block masking), "
          f"{len(rows)} held-out 7s with their top {TOP} rows covered by a white patch. ![figure](repro_seven_nine.png)", "",
          "| | value |", "|---|---|",
          f"| weight of the mean 7 in the best mix of mean 7 and mean 9 (median, IQR) | {result['alpha7_median']:.2f} ({result['alpha7_iqr'][0]:.2f}-{result['alpha7_iqr'][1]:.2f}) |",
          f"| share of reconstructions closer to the mean 9 than to the mean 7 | {100 * result['share_closer_to_mean9']:.0f} % |",
          f"| distance to mean 7 / mean 9 (masked rows, mean) | {result['mean_d_mean7']:.2f} / {result['mean_d_mean9']:.2f} |",
          f"| example digit {e['index']}: alpha, distance to mean 7 / mean 9 / its own top | {e['alpha7']:.2f}, {e['d_mean7']:.2f} / {e['d_mean9']:.2f} / {e['d_original']:.2f} |",
          "", "alpha near 0.5 is the blend the lecture shows: the reconstruction is neither digit, the average of both under the posterior."]
    save(args, "repro_seven_nine", result, md)


def figure(original, ex, m7, m9, path: Path) -> None:
    image_row([("original 7", original), ("masked", ex["masked"]), (f"reconstruction (alpha {ex['alpha7']:.2f})", ex["restored"]),
               ("mean 7", m7), ("mean 9", m9), ("(mean 7 + mean 9) / 2", (m7 + m9) / 2)], path, width=2.2, height=2.6)


if __name__ == "__main__":
    main()
