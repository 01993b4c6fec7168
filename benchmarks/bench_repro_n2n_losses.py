"""Lecture result 5 (losses): what the loss estimates must be what the noise keeps.

Noise2Noise trains on pairs of noisy images; the network learns the statistic of
the target's distribution that its loss estimates: L2 the mean, L1 the median,
annealed L0 the mode.  Two experiments with n2n-unet, noisy targets, the same
steps and crops from scikit-image's samples (grey), tested on held-out images:

* salt-and-pepper noise (p = 0.25; keeps the median, not the mean): L2 vs L1;
* random-valued impulse noise, 70 % of the pixels (keeps only the mode, the
  paper's setting): L2, L1 and annealed L0, and clean targets for reference.

`imrestore train` refuses L2/L1 with noisy targets whose noise does not keep the
statistic (it says why); this benchmark lifts that check to show the failure.

Run:  python benchmarks/bench_repro_n2n_losses.py [--quick]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from natural import test_images  # noqa: E402
from repro import out_dir, parser, save  # noqa: E402

import imrestore.nn.training as training  # noqa: E402
from imrestore.chain import Chain  # noqa: E402
from imrestore.datasets import training_data  # noqa: E402

RUNS = [
    ("saltpepper:p=0.25", "noisy", "l2"),
    ("saltpepper:p=0.25", "noisy", "l1"),
    ("impulse:p=0.7", "noisy", "l2"),
    ("impulse:p=0.7", "noisy", "l1"),
    ("impulse:p=0.7", "noisy", "l0"),
    ("impulse:p=0.7", "clean", "l2"),
]
PAPER = {("impulse:p=0.7", "noisy", "l2"): 13.02, ("impulse:p=0.7", "noisy", "l1"): 16.36,
         ("impulse:p=0.7", "noisy", "l0"): 28.43, ("impulse:p=0.7", "clean", "l2"): 28.86}


def main() -> None:
    args = parser(__doc__).parse_args()
    steps = 8 if args.quick else 400
    training.check_targets = lambda chain, options, paired=False: None  # the point is to show what the check prevents
    images = test_images(channels=1)
    if args.quick:
        images = dict(list(images.items())[:2])
    work = Path(tempfile.mkdtemp(prefix="imrestore-n2nloss-"))
    result: dict = {"steps": steps, "batch": 16, "crop": 64, "test_images": list(images), "runs": []}
    shown = {}
    for corruption, targets, loss in RUNS:
        weights = work / f"{corruption.split(':')[0]}-{targets}-{loss}.safetensors"
        chain = Chain.from_specs([corruption, "restorer:n2n-unet"], metrics=[], prepare=False)
        opts = training.TrainOptions(targets=targets, loss=loss, epochs=max(1, steps // 50), steps_per_epoch=min(50, steps),
                                     batch_size=16, crop=64, channels=1, val_fraction=0.15, seed=0, device="cpu", lr=1e-3)
        training.train(chain, training_data("skimage", opts.max_images, opts.value_range), weights, opts)
        run_chain = Chain.from_specs([corruption, f"restorer:n2n-unet:weights={weights}"], metrics=["psnr"])
        outs, report = run_chain.run_arrays(images, seed=0)
        mean = report.mean()
        entry = {"corruption": corruption, "targets": targets, "loss": loss, "input_psnr": mean["corrupted"]["psnr"],
                 "psnr": mean["restored"]["psnr"], "paper": PAPER.get((corruption, targets, loss))}
        result["runs"].append(entry)
        first = next(iter(images))
        shown[(corruption, targets, loss)] = (images[first], outs[first])
        print(entry, flush=True)
    figure(shown, out_dir(args) / "repro_n2n_losses.png")
    md = ["# Lecture 5: Noise2Noise losses", "",
          f"`python benchmarks/bench_repro_n2n_losses.py{' --quick' if args.quick else ''}` — n2n-unet, {steps} steps of 16 crops 64x64 "
          f"(scikit-image's samples, grey), held-out: {', '.join(images)}. ![figure](repro_n2n_losses.png)", "",
          "| noise | targets | loss | input PSNR | ours | paper (Kodak) |", "|---|---|---|---|---|---|"]
    for e in result["runs"]:
        paper = f"{e['paper']:.2f}" if e["paper"] else ""
        md.append(f"| {e['corruption']} | {e['targets']} | {e['loss']} | {e['input_psnr']:.2f} | {e['psnr']:.2f} | {paper} |")
    md += ["", "Salt-and-pepper keeps the median: L1 on noisy targets works, L2 learns the biased mean. 70 % impulses keep only "
           "the mode: only annealed L0 on noisy targets comes near clean targets."]
    save(args, "repro_n2n_losses", result, md)


def figure(shown, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, len(shown), figsize=(2.5 * len(shown), 5.6))
    crop = (slice(64, 192), slice(64, 192))
    for j, ((corruption, targets, loss), (_, out)) in enumerate(shown.items()):
        axes[0, j].set_title(f"{corruption}\n{loss}, {targets} targets", fontsize=9)
        for i, (im, psnr) in enumerate(((out.corrupted, out.metrics["corrupted"]["psnr"]), (out.restored, out.metrics["restored"]["psnr"]))):
            ax = axes[i, j]
            ax.imshow(np.clip(im[crop], 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xlabel(f"{psnr:.2f} dB", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("restored")
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    main()
