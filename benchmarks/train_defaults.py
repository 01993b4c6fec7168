"""Train the default weights shipped in the package (rerunnable by anyone).

Each default is one `imrestore train` command; its weights go to
plugins/imrestore_builtins/weights/ and its training log to
benchmarks/results/training/.

Run:  python benchmarks/train_defaults.py [NAME ...]      (default: all)
      python benchmarks/train_defaults.py --gpu NAME ...  (the GPU recipe where there is one)
      python benchmarks/train_defaults.py --list

The shipped natural-image weights (n2n-unet-*, edsr-x2) come from the GPU
recipes, run side by side on one H100; the MNIST ones from the CPU recipes.
The shipped GPU weights predate `--keep last` in the recipes: they hold the epoch
with the best validation PSNR (their logs in results/training/ say which).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "plugins" / "imrestore_builtins" / "weights"
LOGS = ROOT / "benchmarks" / "results" / "training"

#: name -> the `imrestore train` arguments that produce it
DEFAULTS: dict[str, list[str]] = {
    "conv-ae-erase": ["erase:p=0.9", "restorer:conv-ae", "mnist", "--epochs", "30"],
    "conv-ae-blur": ["blur:sigma=4", "restorer:conv-ae", "mnist", "--epochs", "30"],
    "conv-ae-block": ["block:size=10,position=random", "restorer:conv-ae", "mnist", "--epochs", "30"],
    "sr-mnist-x2": ["downsample:factor=2", "restorer:sr-mnist", "mnist", "--epochs", "30"],
    # The natural-image defaults are trained on scikit-image's samples within a CPU time budget
    # (--max-minutes); with a GPU, drop it and raise --epochs.
    "n2n-unet-gaussian-grey": ["gaussian:sigma=0,sigma_max=50", "restorer:n2n-unet", "skimage", "--channels", "1",
                               "--crop", "64", "--batch-size", "16", "--epochs", "100", "--steps-per-epoch", "50",
                               "--val-fraction", "0.15", "--max-minutes", "30"],
    "n2n-unet-gaussian-rgb": ["gaussian:sigma=0,sigma_max=50", "restorer:n2n-unet", "skimage", "--channels", "3",
                              "--crop", "64", "--batch-size", "16", "--epochs", "100", "--steps-per-epoch", "50",
                              "--val-fraction", "0.15", "--max-minutes", "20"],
    "edsr-x2": ["downsample:factor=2", "restorer:edsr", "skimage", "--channels", "3", "--net", "upsample_skip=true", "--crop", "96", "--batch-size", "16",
                "--loss", "l1", "--lr", "5e-4", "--epochs", "100", "--steps-per-epoch", "50", "--val-fraction", "0.15",
                "--max-minutes", "20"],
    # MDSR, x2/x3/x4 in one network (the paper's baseline body: 16 blocks of 64), starting from the shipped EDSR x2
    # (head, body, x2 up-sampler and last convolution; the new per-scale blocks start as identities), each batch one
    # scale; --keep last, as the GPU recipes (the validation images are the benchmark's); bf16 autocast, twice the
    # steps of fp32 on a CPU with bf16 instructions (use --precision fp32 elsewhere, at half the steps).
    "mdsr": ["downsample:factor=2", "restorer:mdsr:weights={init}", "skimage", "--channels", "3", "--scales", "2,3,4",
             "--crop", "96", "--batch-size", "16", "--loss", "l1", "--lr", "2e-4", "--epochs", "1000",
             "--steps-per-epoch", "50", "--val-fraction", "0.15", "--max-minutes", "90", "--keep", "last",
             "--precision", "bf16"],
}


def mdsr_init(folder: Path) -> Path:
    """The start of the mdsr recipe: an MDSR checkpoint made from the shipped EDSR x2 (see models.mdsr_from_edsr)."""
    from imrestore.nn.checkpoint import load_checkpoint, save_checkpoint
    from imrestore.nn.models import config_from_dict, mdsr_from_edsr

    edsr, meta = load_checkpoint(WEIGHTS / "edsr-x2.safetensors")
    net = mdsr_from_edsr(edsr, config_from_dict("mdsr", {"channels": 3, "upsample_skip": True}))
    return save_checkpoint(folder / "mdsr-init.safetensors", "mdsr", net,
                           {"corruptions": meta["corruptions"], "data": meta.get("data"), "note": "mdsr_from_edsr(edsr-x2)"})


#: name -> what must exist before its recipe runs (a file its arguments name as {init})
PREPARE = {"mdsr": mdsr_init}

# --keep last: the validation split of `skimage` (camera, cell, immunohistochemistry) is also in the
# denoising and SR test sets (benchmarks/natural.py), so it must not choose the shipped weights.
_GPU = ["--device", "cuda", "--compile", "--workers", "4", "--epochs", "1000", "--steps-per-epoch", "200",
        "--val-fraction", "0.15", "--max-minutes", "4", "--keep", "last"]
#: name -> the GPU recipe (a 4-minute budget each; the learning-rate ramp-down follows the clock)
GPU_DEFAULTS: dict[str, list[str]] = {
    "n2n-unet-gaussian-grey": ["gaussian:sigma=0,sigma_max=50", "restorer:n2n-unet", "skimage", "--channels", "1",
                               "--crop", "128", "--batch-size", "32", "--lr", "5e-4", *_GPU],
    "n2n-unet-gaussian-rgb": ["gaussian:sigma=0,sigma_max=50", "restorer:n2n-unet", "skimage", "--channels", "3",
                              "--crop", "128", "--batch-size", "32", "--lr", "5e-4", *_GPU],
    "edsr-x2": ["downsample:factor=2", "restorer:edsr", "skimage", "--channels", "3", "--net", "upsample_skip=true",
                "--crop", "128", "--batch-size", "32", "--loss", "l1", "--lr", "5e-4", *_GPU],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="which defaults (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--gpu", action="store_true", help="use the GPU recipe where there is one")
    ap.add_argument("--minutes", type=float, help="override the recipes' --max-minutes (e.g. 8 when one network has the GPU alone)")
    args = ap.parse_args()
    recipes = {**DEFAULTS, **GPU_DEFAULTS} if args.gpu else dict(DEFAULTS)
    if args.minutes is not None:
        recipes = {k: [str(args.minutes) if i and v[i - 1] == "--max-minutes" else a for i, a in enumerate(v)] for k, v in recipes.items()}
    if args.list:
        for k, v in recipes.items():
            print(f"{k}: imrestore train {' '.join(v)} -o {k}.safetensors")
        return
    names = args.names or list(recipes)
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    for name in names:
        out = LOGS / f"{name}.safetensors"
        recipe = recipes[name]
        if name in PREPARE:
            init = PREPARE[name](LOGS)
            recipe = [a.replace("{init}", str(init)) for a in recipe]
        cmd = [sys.executable, "-m", "imrestore.cli", "train", *recipe, "-o", str(out), "-q"]
        print(f"== {name}: imrestore train {' '.join(recipes[name])}", flush=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        if name in PREPARE:
            init.unlink(missing_ok=True)
        shutil.move(out, WEIGHTS / f"{name}.safetensors")
        out.with_name(f"{name}.last.safetensors").unlink(missing_ok=True)
        print(f"   {time.perf_counter() - t0:.0f} s -> {WEIGHTS / (name + '.safetensors')}", flush=True)


if __name__ == "__main__":
    main()
