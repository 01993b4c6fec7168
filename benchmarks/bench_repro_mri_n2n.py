"""Lecture result 7: Noise2Noise for MRI, noisy (re-undersampled) targets vs clean targets.

n2n-unet is trained on random ellipse phantoms whose spectrum keeps about 10 % of
the samples (`kspace:acceleration=10,center_fraction=0.04,scale=true`: fastMRI
column masks, kept columns divided by their probability so the input is unbiased).
With noisy targets the target is a second, independent under-sampling of the same
image; with clean targets, the image itself.  Same steps, same crops.  Evaluated
on held-out Shepp-Logan phantoms (scaled and rotated slices).

Run:  python benchmarks/bench_repro_mri_n2n.py [--quick]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).parent))
from repro import image_row, out_dir, parser, save  # noqa: E402

from imrestore.chain import Chain  # noqa: E402
from imrestore.datasets import training_data  # noqa: E402
from imrestore.nn.training import TrainOptions, train  # noqa: E402

CORRUPTION = "kspace:acceleration=10,center_fraction=0.04,scale=true"
SIZE = 64


def ellipses(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random phantoms: a head-like outer ellipse filled with smaller ellipses of random intensity."""
    yy, xx = np.mgrid[-1 : 1 : SIZE * 1j, -1 : 1 : SIZE * 1j]
    out = np.zeros((n, SIZE, SIZE), np.float32)
    for k in range(n):
        img = np.zeros((SIZE, SIZE))
        a, b = rng.uniform(0.6, 0.9), rng.uniform(0.7, 0.95)
        img[(xx / a) ** 2 + (yy / b) ** 2 <= 1] = 0.8
        img[(xx / (a - 0.05)) ** 2 + (yy / (b - 0.05)) ** 2 <= 1] = rng.uniform(0.1, 0.3)
        for _ in range(rng.integers(3, 9)):
            cx, cy = rng.uniform(-0.5, 0.5, 2)
            ra, rb = rng.uniform(0.05, 0.3, 2)
            t = rng.uniform(0, np.pi)
            u = ((xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)) / ra
            v = (-(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)) / rb
            img[u**2 + v**2 <= 1] += rng.uniform(-0.15, 0.4)
        out[k] = np.clip(img, 0, 1)
    return out


def shepp_logan_slices(n: int) -> dict[str, np.ndarray]:
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize, rotate

    base = shepp_logan_phantom()
    out = {}
    for k in range(n):
        scale = 0.8 + 0.2 * k / max(n - 1, 1)
        img = rotate(base, angle=-10 + 20 * k / max(n - 1, 1), order=1)
        small = resize(img, (int(SIZE * scale), int(SIZE * scale)), anti_aliasing=True)
        canvas = np.zeros((SIZE, SIZE), np.float32)
        top = (SIZE - small.shape[0]) // 2
        canvas[top : top + small.shape[0], top : top + small.shape[1]] = small
        out[f"shepp-logan-{k}"] = np.clip(canvas, 0, 1)
    return out


def main() -> None:
    args = parser(__doc__).parse_args()
    steps, n_train = (10, 32) if args.quick else (800, 1000)
    work = Path(tempfile.mkdtemp(prefix="imrestore-mri-"))
    data = work / "ellipses.tif"
    tifffile.imwrite(data, (ellipses(n_train, np.random.default_rng(0)) * 65535).astype(np.uint16), photometric="minisblack",
                     metadata={"axes": "ZYX"})
    tests = shepp_logan_slices(8)
    result: dict = {"corruption": CORRUPTION, "steps": steps, "batch": 16, "train_images": n_train, "image_size": SIZE,
                    "test": list(tests), "psnr": {}}
    outs = {}
    for targets in ("noisy", "clean"):
        chain = Chain.from_specs([CORRUPTION, "restorer:n2n-unet"], metrics=[], prepare=False)
        opts = TrainOptions(targets=targets, epochs=max(1, steps // 50) if not args.quick else 1, steps_per_epoch=min(50, steps),
                            batch_size=16, crop=SIZE, channels=1, val_fraction=0.1, seed=0, device="cpu", flips=True)
        weights = work / f"{targets}.safetensors"
        train(chain, training_data(str(data), opts.max_images, opts.value_range), weights, opts)
        _, report = Chain.from_specs([CORRUPTION, f"restorer:n2n-unet:weights={weights}"], metrics=["psnr"]).run_arrays(tests, seed=0)
        mean = report.mean()
        result["psnr"]["input"] = mean["corrupted"]["psnr"]
        result["psnr"][f"{targets} targets"] = mean["restored"]["psnr"]
        outs[targets] = Chain.from_specs([CORRUPTION, f"restorer:n2n-unet:weights={weights}"]).apply(tests["shepp-logan-4"], seed=0, key="shepp-logan-4")
        print(targets, result["psnr"], flush=True)
    result["noisy_minus_clean_db"] = result["psnr"]["noisy targets"] - result["psnr"]["clean targets"]
    figure(tests["shepp-logan-4"], outs, out_dir(args) / "repro_mri_n2n.png")
    p = result["psnr"]
    md = ["# Lecture 7: Noise2Noise for MRI", "",
          f"`python benchmarks/bench_repro_mri_n2n.py{' --quick' if args.quick else ''}` — n2n-unet, `{CORRUPTION}` (~10 % of the spectrum), "
          f"{steps} steps of 16 random ellipse phantoms {SIZE}x{SIZE} ({n_train} images), tested on 8 held-out Shepp-Logan slices. "
          "![figure](repro_mri_n2n.png)", "",
          "| | input | noisy targets | clean targets |", "|---|---|---|---|",
          f"| ours, PSNR dB | {p['input']:.2f} | {p['noisy targets']:.2f} | {p['clean targets']:.2f} |",
          "| paper (IXI brains, 10 % of the spectrum) | 20.03 | 31.74 | 31.77 |", "",
          f"noisy minus clean targets: {result['noisy_minus_clean_db']:+.2f} dB."]
    save(args, "repro_mri_n2n", result, md)


def figure(clean, outs, path: Path) -> None:
    noisy, clean_t = outs["noisy"], outs["clean"]
    image_row([("clean\n", clean), (f"input (10 % of the spectrum)\n{noisy.metrics['corrupted']['psnr']:.2f} dB", noisy.corrupted),
               (f"noisy targets\n{noisy.metrics['restored']['psnr']:.2f} dB", noisy.restored),
               (f"clean targets\n{clean_t.metrics['restored']['psnr']:.2f} dB", clean_t.restored)], path, width=3.0, height=3.4)


if __name__ == "__main__":
    main()
