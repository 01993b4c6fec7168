"""x2 super-resolution of held-out natural RGB images: shipped edsr vs bicubic and bilinear.

Run:  python benchmarks/bench_sr.py [--quick]  -> benchmarks/results/bench_sr.{json,md,png}
(the figure: 96x96 crops of the photographs, original / low-resolution input / bicubic / edsr)
--quick: the two sample photographs of scikit-learn only, numbers in results/quick/ (checked by the tests).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from natural import PHOTOS, test_images  # noqa: E402
from repro import out_dir, parser  # noqa: E402

from imrestore.chain import Chain  # noqa: E402

QUICK_IMAGES = ("china", "flower")


def main() -> None:
    args = parser(__doc__).parse_args()
    images = test_images(channels=3)
    if args.quick:
        images = {k: images[k] for k in QUICK_IMAGES}
    photos = [k for k in PHOTOS if k in images]
    result = {"command": "python benchmarks/bench_sr.py" + (" --quick" if args.quick else ""), "quick": args.quick, "images": list(images), "size": "256x256 RGB centre crops, 2x2 average pooling", "restorers": {}}
    shown = {}
    for r in ("restorer:edsr", "restorer:interp:order=bicubic", "restorer:interp:order=bilinear"):
        outs, report = Chain.from_specs(["downsample:factor=2", r]).run_arrays(images, seed=0)
        shown[r.split(":", 1)[1]] = outs
        mean = report.mean()["restored"]
        result["restorers"][r.split(":", 1)[1]] = {"psnr": mean["psnr"], "ssim": mean["ssim"],
                                                   "per_image_psnr": {i.path: i.metrics["restored"]["psnr"] for i in report.items}}
        print(r, round(mean["psnr"], 2), flush=True)
    for v in result["restorers"].values():
        v["psnr_photos"] = sum(v["per_image_psnr"][k] for k in photos) / len(photos)
    gain = result["restorers"]["edsr"]["psnr"] - result["restorers"]["interp:order=bicubic"]["psnr"]
    result["edsr_minus_bicubic_db"] = gain
    result["edsr_minus_bicubic_db_photos"] = result["restorers"]["edsr"]["psnr_photos"] - result["restorers"]["interp:order=bicubic"]["psnr_photos"]
    folder = out_dir(args)
    (folder / "bench_sr.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# x2 super-resolution, held-out natural RGB images", "", f"`{result['command']}` — {len(images)} images ({', '.join(images)}), {result['size']}, mean PSNR dB / SSIM.", "",
             f"| restorer | PSNR ({len(images)} images) | SSIM ({len(images)} images) | PSNR ({len(photos)} photographs) |", "|---|---|---|---|"]
    for k, v in result["restorers"].items():
        lines.append(f"| {k} | {v['psnr']:.2f} | {v['ssim']:.3f} | {v['psnr_photos']:.2f} |")
    lines += ["", f"edsr minus bicubic: {gain:+.2f} dB over the {len(images)} images, {result['edsr_minus_bicubic_db_photos']:+.2f} dB over the photographs "
              f"({', '.join(photos)}) (target: at least +1 dB).", "", "Anchors: bilinear 26.93, bicubic 28.17 (22 grey images); EDSR x2 Set5 38.11 vs bicubic 33.66 (published, fully trained)."]
    lines += ["", "![crops: original / input / bicubic / edsr](bench_sr.png)"]
    (folder / "bench_sr.md").write_text("\n".join(lines) + "\n")
    figure(images, shown, photos, folder / "bench_sr.png")


def figure(images, shown, photos, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(photos), 4, figsize=(10, 2.6 * len(photos)), squeeze=False)
    for r, name in enumerate(photos):
        c = (slice(80, 176), slice(80, 176))
        low = shown["edsr"][name].corrupted
        cols = [("original", images[name][c]), ("input (x2 smaller, nearest)", np.repeat(np.repeat(low[40:88, 40:88], 2, 0), 2, 1))]
        for key, label in (("interp:order=bicubic", "bicubic"), ("edsr", "edsr")):
            out = shown[key][name]
            cols.append((f"{label} {out.metrics['restored']['psnr']:.2f} dB", out.restored[c]))
        for k, (title, im) in enumerate(cols):
            ax = axes[r, k]
            ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
