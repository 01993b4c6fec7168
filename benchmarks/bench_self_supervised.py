"""Self-supervised training on the noisy data itself, side by side with CAREamics, Noise2Noise and BM3D.

Each data set is a set of noisy images and nothing else: every method trains
on them (no clean image, no second acquisition) for the same wall-clock
budget on this machine's CPU, then restores them; the clean images only score.

Data:
  a. the held-out natural grey images (benchmarks/natural.py), white Gaussian noise sigma 25;
  b. the same with Poisson-Gaussian noise, variance 0.02 x + 0.02 on [0, 1];
  c. a synthetic fluorescence stack (imrestore.synthetic: blobs and filaments
     through an anisotropic PSF), Poisson-Gaussian noise (--stack sets its size).

Methods, each for --minutes of training:
  imrestore `train restorer:n2n-unet --targets self` with --self blind-spot,
  neighbor and sure (from scratch), and sure fine-tuning the shipped blind
  weights (pre-trained start); the best of those again with a quarter of the
  budget (how fast it gets there); CAREamics N2V and N2V2 (its own venv,
  benchmarks/careamics_n2v.py, configured as its documentation shows);
  imrestore's Noise2Noise, which needs what the others lack: a second,
  independent acquisition of the same images (`train --targets noisy --pairs`:
  the fair comparison), and, as an upper reference, a fresh pair of noisy
  draws of the *clean* images at every step (more than any number of real
  acquisitions give); BM3D given the true noise (the generalised Anscombe
  transform for Poisson-Gaussian noise).

Run:  python benchmarks/bench_self_supervised.py [--minutes 4] [--only a,b,c] [--rows GROUPS] [--quick]
      -> benchmarks/results/bench_self_supervised.{json,md,png}
--rows reruns some groups of rows (2d, 3d, pretrained, quarter, careamics, pairs, n2n, bm3d) and merges them into
the committed results of the same data sets.
Needs: pip install ./plugins/imrestore-bm3d; CAREamics in benchmarks/.venv-careamics (see careamics_n2v.py).
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

sys.path.insert(0, str(Path(__file__).parent))
from natural import test_images  # noqa: E402

from imrestore.chain import Chain  # noqa: E402
from imrestore.helpers import psnr  # noqa: E402
from imrestore.nn.training import TrainingData, TrainOptions, train  # noqa: E402
from imrestore.synthetic import fluorescence_stack  # noqa: E402

HERE = Path(__file__).parent
RESULTS = HERE / "results"
CAREAMICS_PYTHON = HERE / ".venv-careamics" / "bin" / "python"
SHIPPED_GREY = HERE.parent / "plugins" / "imrestore_builtins" / "weights" / "n2n-unet-gaussian-grey.safetensors"
SELF_METHODS = ("blind-spot", "neighbor", "sure")
#: The 3-D network's training: 16 features and 4 crops of 8x64x64 a step, about 1.3 s on this CPU.  A 3-D convolution
#: costs a 2-D one times its depth, so a 3-D step is much dearer than a 2-D one: with 32 features and crops 16 deep the
#: 4 minutes gave 72 steps, and the blind-spot network, which learns from one voxel in 64, had learnt nothing (-3.7 dB).
THREE_D = {"net": {"dims": 3, "features": 16}, "batch_size": 4, "crop": 64, "crop_depth": 8}
ROW_GROUPS = ("2d", "3d", "pretrained", "quarter", "careamics", "pairs", "n2n", "bm3d", "defaults")
DEFAULTS_ROW = "imrestore --targets self, default options"
#: Steps between the clock checks of a time budget (imrestore stops at the end of the "epoch" that passes it).
STEPS = 8


# --------------------------------------------------------------------------- data
def acquire(clean: np.ndarray, seed: int, a: float = 0.0, b: float = 0.0, sigma: float = 0.0) -> np.ndarray:
    """One noisy acquisition: Poisson counts of gain a plus Gaussian noise of variance b + sigma^2 (seeded)."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(clean / a) * a if a > 0 else clean.astype(np.float64)
    return (x + rng.normal(0.0, np.sqrt(b + sigma**2), clean.shape)).astype(np.float32)


def datasets(only: set[str], stack_shape: tuple[int, int, int], size: int) -> list[dict]:
    out = []
    natural = np.stack(list(test_images(channels=1, size=size).values()))
    if "a" in only:
        out.append({"key": "a", "name": "natural grey, Gaussian sigma 25", "clean": natural, "noise": "gaussian:sigma=25",
                    "bm3d": "restorer:bm3d:sigma=25", "noisy": acquire(natural, 1, sigma=25 / 255),
                    "second": acquire(natural, 11, sigma=25 / 255)})
    if "b" in only:
        out.append({"key": "b", "name": "natural grey, Poisson-Gaussian a=0.02 b=0.02", "clean": natural,
                    "noise": "poisson-gaussian:a=0.02,b=0.02", "bm3d": "restorer:bm3d:noise_a=0.02,noise_b=0.02",
                    "noisy": acquire(natural, 2, a=0.02, b=0.02), "second": acquire(natural, 12, a=0.02, b=0.02)})
    if "c" in only:
        stack = fluorescence_stack(stack_shape, seed=0)
        out.append({"key": "c", "name": f"fluorescence stack {'x'.join(map(str, stack_shape))}, Poisson-Gaussian a=0.01 b=0.0004",
                    "clean": stack, "noise": "poisson-gaussian:a=0.01,b=0.0004", "bm3d": "restorer:bm3d:noise_a=0.01,noise_b=0.0004",
                    "noisy": acquire(stack, 3, a=0.01, b=0.0004), "second": acquire(stack, 13, a=0.01, b=0.0004)})
    return out


def score(clean: np.ndarray, restored: np.ndarray) -> float:
    """Mean PSNR over the images (planes), peak 1."""
    return float(np.mean([psnr(c, r) for c, r in zip(clean, restored)]))


# --------------------------------------------------------------------------- methods
def restore_with(spec: str, noisy: np.ndarray, corruptions: tuple[str, ...] = ()) -> np.ndarray:
    """One pass of ``spec`` over the images (the 2-D networks with ensemble=false where no corruption is named: the x8
    self-ensemble that real data get by default came after these results, and CAREamics' prediction has none)."""
    chain = Chain.from_specs([*corruptions, spec], metrics=[])
    return np.stack(chain.restorer.restore(list(noisy), [{} for _ in noisy]))


def imrestore_self(noisy: np.ndarray, method: str, minutes: float, work: Path, init: Path | None = None,
                   dims: int = 2) -> tuple[np.ndarray, dict]:
    """``imrestore train restorer:n2n-unet --targets self`` on the noisy images (a 3-D network: on the stack), then restore them."""
    weights = work / f"self-{method}-{dims}d{'-init' if init else ''}-{minutes:g}.safetensors"
    spec = f"restorer:n2n-unet:weights={init}" if init else "restorer:n2n-unet"
    chain = Chain.from_specs([spec], metrics=[], prepare=False)
    extra = THREE_D if dims == 3 else {}
    options = TrainOptions(targets="self", self_method=method, epochs=100000, steps_per_epoch=STEPS, max_minutes=minutes,
                           val_fraction=0.0, init="none", **extra)  # the rows' own start: from scratch, or weights=init
    data = TrainingData(list(noisy), "noisy stack", volumes=[noisy]) if dims == 3 else list(noisy)
    t0 = time.perf_counter()
    log = train(chain, data, weights, options)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    if dims == 3:
        restored = restore_with(f"restorer:n2n-unet:weights={weights}", noisy[None])[0]
    else:
        restored = restore_with(f"restorer:n2n-unet:weights={weights},ensemble=false", noisy)
    return restored, {"train_seconds": seconds, "restore_seconds": time.perf_counter() - t0, "steps": len(log["history"]) * STEPS,
                      "noise": log["self_supervised"]["noise"], "reason": log["self_supervised"]["reason"]}


def imrestore_defaults(noisy: np.ndarray, minutes: float, work: Path) -> tuple[np.ndarray, dict]:
    """What a user gets from `imrestore train restorer:n2n-unet --targets self DATA -o W --max-minutes M` and
    `imrestore run restorer:n2n-unet:weights=W DATA OUT`: every other option at its default (the held-out split, the
    method, the start, the harm check, the x8 self-ensemble of a real-data run)."""
    weights = work / f"self-defaults-{minutes:g}.safetensors"
    chain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    t0 = time.perf_counter()
    log = train(chain, list(noisy), weights, TrainOptions(targets="self", max_minutes=minutes))
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    restored = restore_with(f"restorer:n2n-unet:weights={weights}", noisy)
    one_pass = restore_with(f"restorer:n2n-unet:weights={weights},ensemble=false", noisy)
    return restored, {"train_seconds": seconds, "restore_seconds": time.perf_counter() - t0,
                      "epochs": len(log["history"]), "init": (log.get("init_weights") or {}).get("file"),
                      "method": log["self_supervised"]["method"], "harm_check": log.get("harm_check"),
                      "one_pass_restored": one_pass}


def noise2noise(clean: np.ndarray, noisy: np.ndarray, noise: str, minutes: float, work: Path) -> tuple[np.ndarray, dict]:
    weights = work / "n2n.safetensors"
    chain = Chain.from_specs([noise, "restorer:n2n-unet"], metrics=[], prepare=False)
    t0 = time.perf_counter()
    train(chain, list(clean), weights, TrainOptions(targets="noisy", epochs=100000, steps_per_epoch=STEPS, max_minutes=minutes, val_fraction=0.0))
    seconds = time.perf_counter() - t0
    return restore_with(f"restorer:n2n-unet:weights={weights}", noisy, (noise,)), {"train_seconds": seconds}


def noise2noise_pairs(noisy: np.ndarray, second: np.ndarray, minutes: float, work: Path) -> tuple[np.ndarray, dict]:
    """``imrestore train restorer:n2n-unet --targets noisy DATA --pairs DATA2``: two acquisitions, no clean image."""
    weights = work / "n2n-pairs.safetensors"
    chain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    t0 = time.perf_counter()
    log = train(chain, TrainingData(list(noisy), "first", partners=list(second), partners_name="second"), weights,
                TrainOptions(targets="noisy", epochs=100000, steps_per_epoch=STEPS, max_minutes=minutes, val_fraction=0.0))
    seconds = time.perf_counter() - t0
    return restore_with(f"restorer:n2n-unet:weights={weights},ensemble=false", noisy), {"train_seconds": seconds, "steps": len(log["history"]) * STEPS}


def careamics(noisy: np.ndarray, minutes: float, n2v2: bool, work: Path) -> tuple[np.ndarray, dict]:
    """CAREamics trained and predicting in its own environment; 2-D runs also export its BMZ package (``info["package"]``)."""
    src, dst = work / "noisy.npz", work / f"careamics-{n2v2}.npz"
    np.savez(src, images=noisy)
    package = work / f"careamics-{n2v2}.zip"
    cmd = [str(CAREAMICS_PYTHON), str(HERE / "careamics_n2v.py"), str(src), str(dst), "--minutes", str(minutes)] + (["--n2v2"] if n2v2 else [])
    if noisy.ndim == 3:
        cmd += ["--bmz", str(package)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"CAREamics failed: {proc.stderr[-2000:]}")
    out = np.load(dst)
    return out["restored"], {"train_seconds": float(out["train_seconds"]), **({"package": package} if package.exists() else {})}


def careamics_imported(noisy: np.ndarray, package: Path, prediction: np.ndarray) -> tuple[np.ndarray, dict]:
    """CAREamics' exported package run by imrestore (``restorer:bmz``, careamics not installed in imrestore's environment),
    whole images; how far it lies from CAREamics' own (tiled) prediction."""
    t0 = time.perf_counter()
    out = restore_with(f"restorer:bmz:package={package},units=unit", noisy)
    return out, {"seconds": time.perf_counter() - t0, "max_abs_vs_careamics": float(np.abs(out - prediction).max())}


def bm3d(noisy: np.ndarray, spec: str) -> tuple[np.ndarray, dict]:
    t0 = time.perf_counter()
    out = restore_with(spec, noisy)
    return out, {"seconds": time.perf_counter() - t0}


def run_dataset(ds: dict, minutes: float, work: Path, groups: set[str], before: dict) -> dict:
    """This run's rows of a data set (``groups`` of them; ``before``: the committed rows, which choose the quarter budget's
    method when this run trains none of the candidates)."""
    clean, noisy = ds["clean"], ds["noisy"]
    rows: dict[str, dict] = {}
    stack = ds["key"] == "c"

    def add(name: str, restored: np.ndarray, info: dict) -> None:
        rows[name] = {"psnr": score(clean, restored), **info}
        ds.setdefault("outputs", {})[name] = restored
        print(f"  [{ds['key']}] {name}: {rows[name]['psnr']:.2f} dB", flush=True)

    add("input", noisy, {})
    ours: dict[str, dict] = {f"imrestore {m}" + (", 2-D plane by plane" if stack else ""): {"method": m, "group": "2d"} for m in SELF_METHODS}
    if stack:
        ours.update({f"imrestore {m}, 3-D network": {"method": m, "dims": 3, "group": "3d"} for m in SELF_METHODS})
    else:  # the shipped blind weights are for natural grey images
        ours["imrestore sure, pre-trained start"] = {"method": "sure", "init": SHIPPED_GREY, "group": "pretrained"}
    for name, kw in ours.items():
        if kw["group"] in groups:
            add(name, *imrestore_self(noisy, minutes=minutes, work=work, **{k: v for k, v in kw.items() if k != "group"}))
    if "quarter" in groups:
        scores = {n: (rows.get(n) or before.get(n) or {}).get("psnr", -np.inf) for n in ours}
        best = max(scores, key=scores.get)
        kw = {k: v for k, v in ours[best].items() if k != "group"}
        add(f"{best}, 1/4 budget", *imrestore_self(noisy, minutes=minutes / 4, work=work, **kw))
    if CAREAMICS_PYTHON.exists() and "careamics" in groups:
        restored, info = careamics(noisy, minutes, False, work)
        package = info.pop("package", None)
        add("CAREamics N2V" + (", 2-D" if stack else ""), restored, info)
        if package is not None:
            add("CAREamics N2V, its BMZ package in imrestore" + (", 2-D" if stack else ""), *careamics_imported(noisy, package, restored))
        if stack:
            restored, info = careamics(noisy[None], minutes, False, work)
            add("CAREamics N2V, 3-D", restored[0], info)
        else:
            restored, info = careamics(noisy, minutes, True, work)
            package = info.pop("package", None)
            add("CAREamics N2V2", restored, info)
            if package is not None:
                add("CAREamics N2V2, its BMZ package in imrestore", *careamics_imported(noisy, package, restored))
    if "pairs" in groups:
        add(PAIRS_ROW, *noise2noise_pairs(noisy, ds["second"], minutes, work))
    if "n2n" in groups:
        add(FRESH_ROW, *noise2noise(clean, noisy, ds["noise"], minutes, work))
    if "bm3d" in groups:
        add("BM3D, true noise", *bm3d(noisy, ds["bm3d"]))
    if "defaults" in groups and not stack:
        restored, info = imrestore_defaults(noisy, minutes, work)
        info["one_pass_psnr"] = score(clean, info.pop("one_pass_restored"))
        add(DEFAULTS_ROW, restored, info)
    return rows


PAIRS_ROW = "imrestore Noise2Noise, two acquisitions (--pairs)"
FRESH_ROW = "imrestore Noise2Noise (fresh pairs of the clean images)"


# --------------------------------------------------------------------------- report
def summary(rows: dict) -> dict:
    own = {n: r["psnr"] for n, r in rows.items() if n.startswith("imrestore") and "Noise2Noise" not in n and "1/4" not in n}
    peers = {n: r["psnr"] for n, r in rows.items() if n.startswith("CAREamics")}
    best_own = max(own, key=own.get)
    scratch = {n: v for n, v in own.items() if "pre-trained" not in n and n != DEFAULTS_ROW}
    best_scratch = max(scratch, key=scratch.get) if scratch else best_own
    scratch = scratch or own
    out = {"best_imrestore": best_own, "best_imrestore_psnr": own[best_own], "best_from_scratch": best_scratch,
           "best_from_scratch_psnr": scratch[best_scratch]}
    quarter = next((r["psnr"] for n, r in rows.items() if "1/4" in n), None)
    if peers:
        best_peer = max(peers, key=peers.get)
        out.update(best_careamics=best_peer, margin_over_careamics=own[best_own] - peers[best_peer],
                   from_scratch_margin_over_careamics=scratch[best_scratch] - peers[best_peer],
                   quarter_budget_margin_over_careamics=None if quarter is None else quarter - peers[best_peer])
    n2n = rows.get(PAIRS_ROW, {}).get("psnr")
    fresh = rows.get(FRESH_ROW, {}).get("psnr")
    bm3d_ = next((r["psnr"] for n, r in rows.items() if n.startswith("BM3D")), None)
    out.update(margin_vs_noise2noise=None if n2n is None else own[best_own] - n2n,
               margin_vs_fresh_noise2noise=None if fresh is None else own[best_own] - fresh,
               margin_vs_bm3d=None if bm3d_ is None else own[best_own] - bm3d_)
    defaults = rows.get(DEFAULTS_ROW, {}).get("psnr")
    out["defaults_vs_bm3d"] = None if defaults is None or bm3d_ is None else defaults - bm3d_
    return out


def markdown(result: dict) -> str:
    runs = result.get("runs") or [result]
    made = "; ".join(f"`{r['command']}` ({r['seconds'] / 60:.0f} min)" for r in runs)
    lines = ["# Self-supervised training on the noisy data alone", "",
             f"{made}. {result['minutes']} min of training per method on this 2-core CPU, the methods one after the other "
             "in one run per data set. Mean PSNR (dB) against the clean images, which no method sees.", ""]
    for ds in result["datasets"]:
        s = ds["summary"]
        lines += [f"## {ds['key']}. {ds['name']}", ""]
        if any("3-D" in name for name in ds["rows"]):
            cfg = result.get("three_d", THREE_D)
            lines += [f"3-D networks: {cfg['net']['features']} features, {cfg['batch_size']} crops of "
                      f"{cfg['crop_depth']}x{cfg['crop']}x{cfg['crop']} a step; restored in slabs of 16 planes with 8 more on each side.", ""]
        lines += ["| method | PSNR | training s | steps |", "|---|---|---|---|"]
        for name, r in ds["rows"].items():
            secs = r.get("train_seconds", r.get("seconds"))
            extra = f" (one pass: {r['one_pass_psnr']:.2f})" if "one_pass_psnr" in r else ""
            lines.append(f"| {name} | {r['psnr']:.2f}{extra} | {'' if secs is None else f'{secs:.0f}'} | {r.get('steps', '')} |")
        lines.append("")
        parts = [f"best imrestore: {s['best_imrestore']} ({s['best_imrestore_psnr']:.2f} dB)"]
        if "best_careamics" in s:
            parts.append(f"vs best CAREamics ({s['best_careamics']}): **{s['margin_over_careamics']:+.2f} dB** (target +0.5); "
                         f"with a quarter of the budget: {s['quarter_budget_margin_over_careamics']:+.2f} dB")
            if s["best_from_scratch"] != s["best_imrestore"] and "from_scratch_margin_over_careamics" in s:
                parts.append(f"from scratch, {s['best_from_scratch']}: {s['from_scratch_margin_over_careamics']:+.2f} dB over CAREamics")
        if s.get("margin_vs_noise2noise") is not None:
            parts.append(f"vs Noise2Noise from two acquisitions: **{s['margin_vs_noise2noise']:+.2f} dB** (target: at most 0.5 below)")
        if s.get("margin_vs_fresh_noise2noise") is not None:
            parts.append(f"vs Noise2Noise on fresh draws of the clean images (an upper reference): {s['margin_vs_fresh_noise2noise']:+.2f} dB")
        if s.get("margin_vs_bm3d") is not None:
            parts.append(f"vs BM3D given the true noise: {s['margin_vs_bm3d']:+.2f} dB")
        if s.get("defaults_vs_bm3d") is not None:
            parts.append(f"default options vs BM3D given the true noise: **{s['defaults_vs_bm3d']:+.2f} dB** (target: at most 0.3 below)")
        lines += ["; ".join(parts) + ".", ""]
    lines += ["![noisy / CAREamics / imrestore / clean](bench_self_supervised.png)", ""]
    return "\n".join(lines)


def crops(ds: dict) -> dict[str, np.ndarray]:
    """A 128x128 crop of every row's output of one data set, and of the clean image (the figure picks its panels)."""
    outs = ds["outputs"]
    idx = 0 if ds["key"] != "c" else len(ds["clean"]) // 2
    h, w = ds["clean"][idx].shape
    box = (slice(h // 2 - 64, h // 2 + 64), slice(w // 2 - 64, w // 2 + 64))
    panels = {name: out[idx][box] for name, out in outs.items()}
    panels["clean"] = ds["clean"][idx][box]
    return panels


def chosen(crops_: dict[str, np.ndarray], s: dict) -> dict[str, np.ndarray]:
    """The figure's panels: noisy / best CAREamics / best imrestore / clean."""
    names = ["input", *([s["best_careamics"]] if s.get("best_careamics") else []), s["best_imrestore"], "clean"]
    return {name: crops_[name] for name in names if name in crops_}


def figure(panels: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """Rows: data sets; columns: noisy, CAREamics, imrestore, clean (PSNR of the crop under each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(p) for p in panels.values())
    fig, axes = plt.subplots(len(panels), n, figsize=(3 * n, 3.3 * len(panels)), squeeze=False)
    for row, (key, crops_) in enumerate(sorted(panels.items())):
        clean = crops_["clean"]
        for j in range(n):
            ax = axes[row][j]
            ax.axis("off")
            if j < len(crops_):
                title, im = list(crops_.items())[j]
                ax.imshow(np.clip(im, 0, 1), cmap="gray", vmin=0, vmax=1)
                label = "noisy" if title == "input" else title
                ax.set_title(f"{key}. {label}" + ("" if title == "clean" else f"\n{psnr(clean, im):.2f} dB"), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def committed(stem: str) -> dict:
    path = RESULTS / f"{stem}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def merged(old: dict, result: dict, panels: dict[str, dict[str, np.ndarray]], crops_path: Path) -> tuple[dict, dict]:
    """This run's rows over those of an earlier run (``--only`` and ``--rows`` run them apart); the crops likewise."""
    if old:
        before = {d["key"]: d for d in old["datasets"]}
        for ds in result["datasets"]:
            rows = {**before.get(ds["key"], {}).get("rows", {}), **ds["rows"]}
            ds["rows"] = {name: rows[name] for name in sorted(rows, key=_row_order)}
            ds["summary"] = summary(ds["rows"])
            before[ds["key"]] = ds
        result = {**result, "datasets": sorted(before.values(), key=lambda d: d["key"]),
                  "runs": old.get("runs", [{k: old[k] for k in ("command", "minutes", "seconds") if k in old}]) + [
                      {k: result[k] for k in ("command", "minutes", "seconds")}]}
    for ds in result["datasets"]:
        ds["summary"] = summary(ds["rows"])
    for key, crops_ in load_crops(crops_path).items():
        for title, im in crops_.items():
            panels.setdefault(key, {}).setdefault(title, im)  # this run's crops win
    return result, panels


def _row_order(name: str) -> tuple:
    """input, imrestore's self-supervised rows, the quarter budget, CAREamics, Noise2Noise, BM3D."""
    order = ["input", "imrestore", "default options", "1/4", "CAREamics", "Noise2Noise", "BM3D"]
    rank = max(i for i, word in enumerate(order) if word in name or i == 0)
    return (rank, "3-D" in name)


def load_crops(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """The figure's panels saved by earlier runs, by data set."""
    panels: dict[str, dict[str, np.ndarray]] = {}
    if path.exists():
        with np.load(path) as z:
            for name in z.files:
                key, title = name.split("/", 1)
                panels.setdefault(key, {})[title] = z[name].astype(np.float32)
    return panels


def rewrite_report(stem: str) -> None:
    """The Markdown and the figure again from the JSON and the crops (the summaries recomputed from the rows)."""
    result = json.loads((RESULTS / f"{stem}.json").read_text())
    for ds in result["datasets"]:
        ds["summary"] = summary(ds["rows"])
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(result).replace("bench_self_supervised.png", f"{stem}.png") + "\n")
    summaries = {ds["key"]: ds["summary"] for ds in result["datasets"]}
    figure({k: chosen(c, summaries[k]) for k, c in load_crops(RESULTS / f"{stem}_crops.npz").items() if k in summaries}, RESULTS / f"{stem}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=4.0, help="training budget per method")
    ap.add_argument("--only", default="a,b,c", help="data sets to run (a, b, c)")
    ap.add_argument("--stack", default="64x256x256", help="ZYX size of the fluorescence stack (c)")
    ap.add_argument("--quick", action="store_true", help="a smoke test: 128x128 images, a 16x128x128 stack")
    ap.add_argument("--rows", default=",".join(ROW_GROUPS), help=f"groups of rows to run ({', '.join(ROW_GROUPS)}); "
                    "the others are kept from the committed results")
    ap.add_argument("--report", action="store_true", help="only rewrite the Markdown and the figure from the committed JSON and crops")
    args = ap.parse_args()
    if args.report:
        rewrite_report("bench_self_supervised_quick" if args.quick else "bench_self_supervised")
        return
    groups = set(args.rows.split(","))
    if groups - set(ROW_GROUPS):
        ap.error(f"unknown row groups: {', '.join(sorted(groups - set(ROW_GROUPS)))}")
    stem = "bench_self_supervised_quick" if args.quick else "bench_self_supervised"
    old = committed(stem)
    before = {d["key"]: d["rows"] for d in old.get("datasets", [])}
    stack = tuple(int(v) for v in ("16x128x128" if args.quick else args.stack).split("x"))
    sets = datasets(set(args.only.split(",")), stack, 128 if args.quick else 256)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for ds in sets:
            print(f"{ds['key']}. {ds['name']}", flush=True)
            ds["rows"] = run_dataset(ds, args.minutes, Path(tmp), groups, before.get(ds["key"], {}))
    command = "python benchmarks/bench_self_supervised.py " + " ".join(sys.argv[1:])
    result = {"command": command.strip(), "minutes": args.minutes, "seconds": time.perf_counter() - t0, "three_d": THREE_D,
              "datasets": [{k: ds[k] for k in ("key", "name", "noise", "rows")} for ds in sets]}
    RESULTS.mkdir(exist_ok=True)
    crops_path = RESULTS / f"{stem}_crops.npz"
    result, panels = merged(old, result, {ds["key"]: crops(ds) for ds in sets}, crops_path)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(result).replace("bench_self_supervised.png", f"{stem}.png") + "\n")
    np.savez_compressed(crops_path, **{f"{k}/{t}": im.astype(np.float16) for k, p in panels.items() for t, im in p.items()})
    summaries = {ds["key"]: ds["summary"] for ds in result["datasets"]}
    figure({k: chosen(c, summaries[k]) for k, c in panels.items() if k in summaries}, RESULTS / f"{stem}.png")


if __name__ == "__main__":
    main()
