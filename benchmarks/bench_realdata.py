"""Real acquisitions: restoring noisy images with no corruption in the chain and no clean image, on held-out images.

Each "acquisition" is a held-out clean image with noise drawn here (seeded);
imrestore sees only the noisy image, as it would see a microscope's or a
camera's, and the clean image is used only to score the result.

1. Poisson-Gaussian noise (variance a*x + b on [0, 1]): the estimated (a, b)
   against the truth, and the blind ``n2n-unet`` (nothing given: it estimates
   the model, stabilises, denoises, inverts) against BM3D in the generalised
   Anscombe domain given the *true* (a, b).
2. White Gaussian sigma 5-50: ``n2n-unet`` with its own estimate against the
   same network given the true sigma.
3. Do no harm: on clean images and at sigma 1 and 2, every denoiser's output
   against its input.
4. Repeated acquisitions: restore acquisition 1, score it by its MSE against an
   independent acquisition 2 of the same object (expected: the true MSE plus
   the noise variance); the ranking of the methods must match the ranking
   against the clean images.

Run:  python benchmarks/bench_realdata.py [--quick]   -> benchmarks/results/bench_realdata.{json,md}
(BM3D comes from the example plugin: pip install ./plugins/imrestore-bm3d)
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from natural import test_images, training_images  # noqa: E402

from imrestore.chain import Chain  # noqa: E402
from imrestore.helpers import psnr  # noqa: E402
from imrestore.noise import estimate_noise, estimate_poisson_gaussian  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PG_SETTINGS = [(0.005, 0.005), (0.005, 0.05), (0.02, 0.02), (0.05, 0.005), (0.05, 0.05)]
SIGMAS = [5, 10, 25, 50]
#: Steps of per-image adaptation (SURE in the stabilised domain) for the second n2n-unet column (--adapt; 0: none).
ADAPT = 40
DENOISERS = ["restorer:n2n-unet", "restorer:bm3d", "restorer:nlmeans", "restorer:tv", "restorer:wavelet"]


def acquire(clean: np.ndarray, seed: int, a: float = 0.0, b: float = 0.0, sigma: float = 0.0) -> np.ndarray:
    """One noisy acquisition: Poisson counts of gain a plus Gaussian noise of variance b + sigma^2 (seeded)."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(clean / a) * a if a > 0 else clean.astype(np.float64)
    return (x + rng.normal(0.0, np.sqrt(b + sigma**2), clean.shape)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def chain_of(spec: str) -> Chain:
    return Chain.from_specs([spec], metrics=[])


def restore(spec: str, noisy: np.ndarray) -> np.ndarray:
    """The restorer's output for one acquisition, with no corruption in the chain (the input is the measurement)."""
    return chain_of(spec).restore(noisy, {"shape": noisy.shape})


def poisson_gaussian(images: dict, settings) -> dict:
    rows = []
    for k, (a, b) in enumerate(settings):
        row = {"a": a, "b": b, "input": [], "n2n_blind": [], "n2n_blind_single": [], "n2n_blind_adapt": [], "gat_bm3d_true": [],
               "a_est": [], "b_est": [], "models": []}
        for j, (name, clean) in enumerate(images.items()):
            noisy = acquire(clean, 1000 * k + j, a=a, b=b)
            row["models"].append(estimate_noise(noisy).model.name)  # what noise=auto chooses
            fit = estimate_poisson_gaussian(noisy)  # the estimator itself, whichever model auto chooses
            row["a_est"].append(fit.a)
            row["b_est"].append(fit.b)
            row["input"].append(psnr(clean, noisy))
            row["n2n_blind"].append(psnr(clean, restore("restorer:n2n-unet", noisy)))
            row["n2n_blind_single"].append(psnr(clean, restore("restorer:n2n-unet:ensemble=false", noisy)))
            if ADAPT:
                row["n2n_blind_adapt"].append(psnr(clean, restore(f"restorer:n2n-unet:adapt={ADAPT}", noisy)))
            row["gat_bm3d_true"].append(psnr(clean, restore(f"restorer:bm3d:noise_a={a},noise_b={b}", noisy)))
        summary = {f"mean_{key}": float(np.mean(v)) for key, v in row.items()
                   if key in ("input", "n2n_blind", "n2n_blind_single", "n2n_blind_adapt", "gat_bm3d_true") and v}
        if row["a_est"]:  # the Poisson-Gaussian fit of every image
            summary["a_error_pct"] = float(100 * np.median(np.abs(np.array(row["a_est"]) / a - 1)))
            summary["b_error_pct"] = float(100 * np.median(np.abs(np.array(row["b_est"]) / b - 1)))
        summary["chosen"] = {m: row["models"].count(m) for m in sorted(set(row["models"]))}
        print("PG", a, b, {k: round(v, 2) if isinstance(v, float) else v for k, v in summary.items()}, flush=True)
        rows.append({**row, **summary})
    return {"rows": rows}


def oracle_fit(clean: np.ndarray, noisy: np.ndarray) -> tuple[float, float]:
    """(a, b) fitted by one who knows the clean image: the squared error of every pixel against its clean level, weighted
    least squares (1 / variance^2): the most any estimator can get from this acquisition."""
    x, y = clean.ravel().astype(np.float64), ((noisy - clean).ravel().astype(np.float64)) ** 2
    a, b = 0.0, float(y.mean())
    for _ in range(5):
        w = 1.0 / np.maximum(a * x + b, 1e-12)
        a, b = np.linalg.lstsq(np.stack([x * w, w], axis=1), y * w, rcond=None)[0]
    return float(a), float(b)


def estimation_by_size(settings, sizes=(256, 400)) -> dict:
    """The Poisson-Gaussian fit alone on larger crops of the same images (its error shrinks with the pixels it sees),
    and beside it the fit of an oracle that knows the clean image (the information limit of one acquisition)."""
    rows = []
    for size in sizes:
        images = test_images(channels=1, size=size)
        for k, (a, b) in enumerate(settings):
            noisy = [acquire(clean, 1000 * k + j, a=a, b=b) for j, clean in enumerate(images.values())]
            fits = [estimate_poisson_gaussian(n) for n in noisy]
            oracle = [oracle_fit(clean, n) for clean, n in zip(images.values(), noisy)]
            rows.append({"size": size, "a": a, "b": b, "a_est": [f.a for f in fits], "b_est": [f.b for f in fits],
                         "a_error_pct": float(100 * np.median([abs(f.a / a - 1) for f in fits])),
                         "b_error_pct": float(100 * np.median([abs(f.b / b - 1) for f in fits])),
                         "oracle_a_error_pct": float(100 * np.median([abs(o[0] / a - 1) for o in oracle])),
                         "oracle_b_error_pct": float(100 * np.median([abs(o[1] / b - 1) for o in oracle]))})
            print("estimation", size, a, b, {k: round(v, 1) for k, v in rows[-1].items() if k.endswith("pct")}, flush=True)
    return {"rows": rows}


def gaussian(images: dict, sigmas) -> dict:
    rows = []
    for k, sigma in enumerate(sigmas):
        own, given, noisy_psnr = [], [], []
        for j, clean in enumerate(images.values()):
            noisy = acquire(clean, 5000 + 100 * k + j, sigma=sigma / 255)
            noisy_psnr.append(psnr(clean, noisy))
            own.append(psnr(clean, restore("restorer:n2n-unet", noisy)))
            given.append(psnr(clean, restore(f"restorer:n2n-unet:sigma={sigma}", noisy)))
        rows.append({"sigma": sigma, "input": float(np.mean(noisy_psnr)), "own_estimate": float(np.mean(own)),
                     "true_sigma": float(np.mean(given)), "difference": float(np.mean(own) - np.mean(given))})
        print("gaussian", rows[-1], flush=True)
    return {"rows": rows}


def do_no_harm(images: dict, denoisers) -> dict:
    rows = []
    for k, sigma in enumerate([0, 1, 2]):
        row = {"sigma": sigma}
        for spec in denoisers:
            losses = []
            for j, clean in enumerate(images.values()):
                noisy = acquire(clean, 9000 + 100 * k + j, sigma=sigma / 255) if sigma else clean.astype(np.float32)
                before = psnr(clean, noisy) if sigma else float("inf")
                after = psnr(clean, restore(spec, noisy))
                losses.append(after - before if sigma else (float("inf") if after == float("inf") else -after))
            row[spec.split(":", 1)[1]] = losses
        rows.append(row)
        print("no harm", sigma, {k: (min(v) if k != "sigma" else v) for k, v in row.items()}, flush=True)
    return {"rows": rows}


def repeated(images: dict, denoisers) -> dict:
    out = {}
    for label, kw in (("gaussian sigma 25", {"sigma": 25 / 255}), ("poisson-gaussian a 0.02 b 0.002", {"a": 0.02, "b": 0.002})):
        truth, pairs = {}, {}
        for spec in denoisers:
            mse_true, mse_pair = [], []
            for j, clean in enumerate(images.values()):
                first, second = acquire(clean, 7000 + j, **kw), acquire(clean, 8000 + j, **kw)
                restored = restore(spec, first)
                mse_true.append(float(np.mean((restored - clean) ** 2)))
                mse_pair.append(float(np.mean((restored - second) ** 2)))
            truth[spec.split(":", 1)[1]], pairs[spec.split(":", 1)[1]] = float(np.mean(mse_true)), float(np.mean(mse_pair))
        names = list(truth)
        rank_true = list(np.argsort([truth[n] for n in names]))
        rank_pair = list(np.argsort([pairs[n] for n in names]))
        tau = float(stats.kendalltau([truth[n] for n in names], [pairs[n] for n in names]).statistic)
        out[label] = {"mse_vs_clean": truth, "mse_vs_second_acquisition": pairs, "same_ranking": rank_true == rank_pair,
                      "kendall_tau": tau, "ranking": [names[i] for i in rank_pair]}
        print("repeated", label, out[label]["ranking"], rank_true == rank_pair, flush=True)
    return out


def check_auto() -> dict:
    """noise=auto's test (the variance grows >= 2 % and by >= 1 standard error) against the earlier one (>= 30 %), on the
    images the network was trained on: the threshold was set looking at the held-out images, so it is checked here."""
    import imrestore.noise as noise_module

    images = training_images(channels=1)
    tests = {"grows >= 30 %": (1.3, -np.inf), "grows >= 2 %, 1 standard error": (noise_module.AUTO_RATIO, noise_module.AUTO_T)}
    saved = noise_module.AUTO_RATIO, noise_module.AUTO_T
    cases = [("poisson-gaussian", {"a": a, "b": b}, 1000 * k + 77) for k, (a, b) in enumerate(PG_SETTINGS)]
    cases += [("gaussian", {"sigma": s / 255}, 5000 + 100 * k + 77) for k, s in enumerate(SIGMAS)]
    psnrs: dict = {}
    try:
        for label, (ratio, t) in tests.items():
            noise_module.AUTO_RATIO, noise_module.AUTO_T = ratio, t
            psnrs[label] = [[psnr(clean, restore("restorer:n2n-unet:ensemble=false", acquire(clean, seed + j, **kw)))
                             for j, clean in enumerate(images.values())] for _, kw, seed in cases]
    finally:
        noise_module.AUTO_RATIO, noise_module.AUTO_T = saved
    old, new = (np.array(psnrs[k]) for k in tests)
    rows = [{"noise": name, **{k: round(v * (255 if k == "sigma" else 1), 4) for k, v in kw.items()},
             "mean_difference": float((new[i] - old[i]).mean()), "min": float((new[i] - old[i]).min()), "max": float((new[i] - old[i]).max())}
            for i, (name, kw, _) in enumerate(cases)]
    for row in rows:
        print("auto check", row, flush=True)
    return {"command": "python benchmarks/bench_realdata.py --check-auto", "images": list(images), "rows": rows}


def check_auto_markdown(r: dict) -> str:
    lines = ["# noise=auto's test on images the network was trained on", "",
             f"`{r['command']}` — {len(r['images'])} grey skimage images the shipped n2n-unet was trained on ({', '.join(r['images'])}), "
             "256x256, the held-out benchmark's noise settings and new seeds; blind n2n-unet, one pass (ensemble=false). "
             "PSNR with the test that takes Poisson-Gaussian noise when the fitted variance grows by >= 2 % and by >= 1 standard "
             "error, minus PSNR with the earlier test (grows by >= 30 %), dB:", "",
             "| noise | mean | worst image | best image |", "|---|---|---|---|"]
    for row in r["rows"]:
        label = f"Poisson-Gaussian a {row['a']}, b {row['b']}" if row["noise"] == "poisson-gaussian" else f"white Gaussian sigma {row['sigma']:g}"
        lines.append(f"| {label} | {row['mean_difference']:+.3f} | {row['min']:+.2f} | {row['max']:+.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 images, 128x128, fewer settings (a smoke test)")
    ap.add_argument("--adapt", type=int, default=ADAPT, help="adapt steps of the n2n-unet column that adapts to each image (0: none)")
    ap.add_argument("--check-auto", action="store_true", help="only check noise=auto's test on the training images (-> bench_realdata_auto.md)")
    args = ap.parse_args()
    if args.check_auto:
        checked = check_auto()
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_realdata_auto.json").write_text(json.dumps(checked, indent=2) + "\n")
        (RESULTS / "bench_realdata_auto.md").write_text(check_auto_markdown(checked) + "\n")
        return
    command = "python benchmarks/bench_realdata.py" + (" --quick" if args.quick else f" --adapt {args.adapt}" if args.adapt != ADAPT else "")
    globals()["ADAPT"] = 0 if args.quick else args.adapt
    images = test_images(channels=1, size=128 if args.quick else 256)
    if args.quick:
        images = dict(list(images.items())[:3])
    t0 = time.perf_counter()
    result = {"command": command, "images": list(images),
              "poisson_gaussian": poisson_gaussian(images, PG_SETTINGS[2:3] if args.quick else PG_SETTINGS),
              "estimation_by_size": estimation_by_size(PG_SETTINGS[2:3] if args.quick else PG_SETTINGS,
                                                       (128,) if args.quick else (256, 400)),
              "gaussian": gaussian(images, [25] if args.quick else SIGMAS),
              "do_no_harm": do_no_harm(images, DENOISERS),
              "repeated_acquisitions": repeated(images, DENOISERS)}
    result["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    stem = "bench_realdata_quick" if args.quick else "bench_realdata"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(result) + "\n")


def _pct(value: float | None) -> str:
    return "— (white Gaussian chosen everywhere)" if value is None else f"{value:.0f} %"


def markdown(r: dict) -> str:
    lines = ["# Real acquisitions: no corruption in the chain, no clean image given", "",
             f"`{r['command']}` — held-out grey images ({', '.join(r['images'])}), noise drawn here with fixed seeds; imrestore sees "
             f"only the noisy image; the clean one only scores. {r['seconds']:.0f} s on 2 CPU cores.", "",
             "## Poisson-Gaussian noise (variance a*x + b), mean PSNR dB", "",
             "The blind n2n-unet is `restorer:n2n-unet` with nothing given: it estimates the noise model, stabilises, denoises "
             "(on real data by default the mean over 8 flips and rotations: x8 self-ensemble) and inverts; `ensemble=false` is "
             "one pass. a and b errors are those of the Poisson-Gaussian fit of every image (`estimate_poisson_gaussian`), "
             "whichever model `noise=auto` then chose.", ""]
    adapt = any(row.get("n2n_blind_adapt") for row in r["poisson_gaussian"]["rows"])
    head = ["a", "b", "input", "n2n-unet, blind", "same, ensemble=false", *(["same, adapt=40"] if adapt else []),
            "GAT + BM3D, true (a, b)", "blind - BM3D", "ensemble=false - BM3D", *(["adapt - BM3D"] if adapt else []),
            "a error", "b error", "model auto chose"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in r["poisson_gaussian"]["rows"]:
        bm3d = row["mean_gat_bm3d_true"]
        single = row.get("mean_n2n_blind_single", float("nan"))
        adapted = row.get("mean_n2n_blind_adapt", float("nan"))
        cells = [row["a"], row["b"], f"{row['mean_input']:.2f}", f"{row['mean_n2n_blind']:.2f}", f"{single:.2f}",
                 *([f"{adapted:.2f}"] if adapt else []), f"{bm3d:.2f}", f"{row['mean_n2n_blind'] - bm3d:+.2f}", f"{single - bm3d:+.2f}",
                 *([f"{adapted - bm3d:+.2f}"] if adapt else []), _pct(row.get("a_error_pct")), _pct(row.get("b_error_pct")),
                 row["chosen"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Errors are the median over the images of |estimate / truth - 1|. Per image, blind n2n-unet minus GAT + BM3D (dB):", "",
              "| a | b | " + " | ".join(r["images"]) + " |", "|---|---|" + "---|" * len(r["images"])]
    for row in r["poisson_gaussian"]["rows"]:
        lines.append(f"| {row['a']} | {row['b']} | " + " | ".join(f"{x - y:+.2f} ({m[:5]})" for x, y, m in
                                                             zip(row["n2n_blind"], row["gat_bm3d_true"], row["models"])) + " |")
    if "estimation_by_size" in r:
        sizes = sorted({x["size"] for x in r["estimation_by_size"]["rows"]})
        lines += ["", "The Poisson-Gaussian fit alone, on centre crops of the same images (the restorations above use the smaller; "
                  "400x400 is the largest square all six allow) and the same seeds: median |estimate / truth - 1| over the images "
                  "(a / b), and the same for an oracle that knows the clean image and fits every pixel's squared error: the most one "
                  "acquisition tells (with a = 0.005 and b = 0.05 the variance grows by only 10 % from black to white).", "",
                  "| a | b | " + " | ".join(f"imrestore {s}² | oracle {s}²" for s in sizes) + " |", "|---|---|" + "---|---|" * len(sizes)]
        by_setting: dict = {}
        for x in r["estimation_by_size"]["rows"]:
            by_setting.setdefault((x["a"], x["b"]), []).append(x)
        for (a, b), xs in by_setting.items():
            lines.append(f"| {a} | {b} | " + " | ".join(
                f"{x['a_error_pct']:.0f} % / {x['b_error_pct']:.0f} % | "
                + (f"{x['oracle_a_error_pct']:.0f} % / {x['oracle_b_error_pct']:.0f} %" if "oracle_a_error_pct" in x else "—")
                for x in sorted(xs, key=lambda x: x["size"])) + " |")
    lines += ["",
              "## White Gaussian noise: n2n-unet with its own estimate vs given the true sigma, mean PSNR dB", "",
              "| sigma | input | own estimate | true sigma | difference |", "|---|---|---|---|---|"]
    for row in r["gaussian"]["rows"]:
        lines.append(f"| {row['sigma']} | {row['input']:.2f} | {row['own_estimate']:.2f} | {row['true_sigma']:.2f} | {row['difference']:+.2f} |")
    lines += ["", "## Do no harm: output PSNR minus input PSNR, worst image (dB; on clean images: the output's PSNR against the clean image, "
              "inf = unchanged)", "", "| noise | " + " | ".join(k for k in r["do_no_harm"]["rows"][0] if k != "sigma") + " |",
              "|---" * len(r["do_no_harm"]["rows"][0]) + "|"]
    for row in r["do_no_harm"]["rows"]:
        label = "clean" if row["sigma"] == 0 else f"sigma {row['sigma']}"
        cells = [(f"{-max(v):.2f}" if row["sigma"] == 0 and max(v) != float("inf") else "inf") if row["sigma"] == 0 else f"{min(v):+.2f}"
                 for k, v in row.items() if k != "sigma"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "## Scoring real data with repeated acquisitions", "",
              "Restore acquisition 1; its MSE against an independent acquisition 2 of the same object is the true MSE plus the "
              "noise variance in expectation, so it ranks methods as the clean image would.", ""]
    for label, rep in r["repeated_acquisitions"].items():
        lines += [f"**{label}** — same ranking as against the clean images: {rep['same_ranking']} (Kendall tau {rep['kendall_tau']:.2f}); "
                  f"best to worst: {', '.join(rep['ranking'])}", "", "| method | MSE vs clean | MSE vs acquisition 2 |", "|---|---|---|"]
        lines += [f"| {m} | {rep['mse_vs_clean'][m]:.6f} | {rep['mse_vs_second_acquisition'][m]:.6f} |" for m in rep["mse_vs_clean"]]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
