"""Noise2Noise: the same U-Net trained with noisy targets vs clean targets, same budget.

Both runs see the same crops in the same order (the batches are a function of the
seed); only the target differs: the clean crop, or a second independent
Gaussian draw (sigma 25).  Evaluated on held-out natural grey images.

Run:  python benchmarks/bench_n2n_targets.py [--steps 600] [--quick]
      -> benchmarks/results/bench_n2n_targets.{json,md,png}
--quick: 40 steps, two test images, numbers in results/quick/ (checked by the tests).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from natural import test_images  # noqa: E402
from repro import out_dir, parser  # noqa: E402

from imrestore.chain import Chain  # noqa: E402
from imrestore.datasets import training_data  # noqa: E402
from imrestore.nn.training import TrainOptions, train  # noqa: E402


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--steps", type=int, default=600, help="training steps (batches of 16 crops of 64x64)")
    args = ap.parse_args()
    if args.quick:
        args.steps = 40
    tmp = Path(tempfile.mkdtemp())
    images = test_images(channels=1)
    if args.quick:
        images = dict(list(images.items())[:2])
    command = "python benchmarks/bench_n2n_targets.py " + ("--quick" if args.quick else f"--steps {args.steps}")
    result = {"command": command, "quick": args.quick, "steps": args.steps,
              "batch": 16, "crop": 64, "data": "skimage (grey)", "test_images": list(images), "targets": {}}
    shown = {}
    for targets in ("clean", "noisy"):
        chain = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[], prepare=False)
        opts = TrainOptions(targets=targets, epochs=max(1, args.steps // 50), steps_per_epoch=min(50, args.steps), batch_size=16, crop=64,
                            channels=1, val_fraction=0.15, seed=0)
        log = train(chain, training_data("skimage", opts.max_images, opts.value_range), tmp / f"{targets}.safetensors", opts)
        outs, report = Chain.from_specs(["gaussian:sigma=25", f"restorer:n2n-unet:weights={tmp / (targets + '.safetensors')}"]).run_arrays(images, seed=0)
        shown[targets] = outs[next(iter(images))]
        mean = report.mean()
        result["targets"][targets] = {"psnr": mean["restored"]["psnr"], "ssim": mean["restored"]["ssim"], "input_psnr": mean["corrupted"]["psnr"],
                                      "train_seconds": log["history"][-1]["seconds"], "val_history": [h["val_psnr"] for h in log["history"]]}
        print(targets, result["targets"][targets]["psnr"], flush=True)
    diff = result["targets"]["noisy"]["psnr"] - result["targets"]["clean"]["psnr"]
    result["noisy_minus_clean_db"] = diff
    folder = out_dir(args)
    (folder / "bench_n2n_targets.json").write_text(json.dumps(result, indent=2) + "\n")
    t = result["targets"]
    lines = ["# Noise2Noise: noisy vs clean targets (Gaussian sigma 25)", "", f"`{result['command']}` — n2n-unet, {args.steps} steps of 16 crops 64x64 from scikit-image's samples (grey), "
             f"held-out test images: {', '.join(images)}.", "", "| targets | PSNR | SSIM |", "|---|---|---|",
             f"| input (noisy) | {t['clean']['input_psnr']:.2f} | |",
             f"| clean | {t['clean']['psnr']:.2f} | {t['clean']['ssim']:.3f} |",
             f"| noisy (Noise2Noise) | {t['noisy']['psnr']:.2f} | {t['noisy']['ssim']:.3f} |", "",
             f"noisy minus clean: {diff:+.2f} dB (paper, Kodak, fully trained: 32.39 vs 32.38; target: within 0.1 dB)."]
    lines += ["", f"![{next(iter(images))}: noisy input, clean targets, noisy targets](bench_n2n_targets.png)"]
    (folder / "bench_n2n_targets.md").write_text("\n".join(lines) + "\n")
    from repro import image_row

    crop = (slice(64, 192), slice(64, 192))
    image_row([("clean", images[next(iter(images))][crop]),
               (f"noisy input {shown['clean'].metrics['corrupted']['psnr']:.2f} dB", shown["clean"].corrupted[crop]),
               (f"clean targets {shown['clean'].metrics['restored']['psnr']:.2f} dB", shown["clean"].restored[crop]),
               (f"noisy targets {shown['noisy'].metrics['restored']['psnr']:.2f} dB", shown["noisy"].restored[crop])],
              folder / "bench_n2n_targets.png", width=3.0, height=3.2)


if __name__ == "__main__":
    main()
