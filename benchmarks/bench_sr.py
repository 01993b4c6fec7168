"""x2 super-resolution of held-out natural RGB images: shipped edsr vs bicubic and bilinear.

Run:  python benchmarks/bench_sr.py [--quick]  -> benchmarks/results/bench_sr.{json,md,png}
      python benchmarks/bench_sr.py --scales [--quick]  -> benchmarks/results/bench_sr_scales.{json,md}: x2, x3 and x4,
      mdsr beside edsr (x2), bicubic and plug-and-play (TV and learned priors), PSNR on RGB and Y, seconds per input
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



# --------------------------------------------------------------------------- x2, x3, x4: mdsr beside edsr, bicubic and plug-and-play
MULTI_RESTORERS = {
    "mdsr": "restorer:mdsr",
    "mdsr+": "restorer:mdsr:ensemble=true",  # the paper's "+": the x8 self-ensemble, what restorer:mdsr does on real data
    "edsr": "restorer:edsr",  # x2 weights only
    "bicubic": "restorer:interp:order=bicubic",
    "pnp (TV prior)": "restorer:pnp:denoiser=tv",
    "pnp (learned prior)": "restorer:pnp",  # the default prior
}


def y_psnr(reference, estimate, scale: int) -> float:
    """PSNR on the luma (ITU-R BT.601, 16..235) with ``scale`` border pixels left out, as the SR literature reports."""
    import numpy as np

    def luma(rgb):
        return 16.0 + rgb @ np.array([65.481, 128.553, 24.966])

    b = (slice(scale, -scale), slice(scale, -scale))
    diff = luma(np.clip(reference, 0, 1))[b] - luma(np.clip(estimate, 0, 1))[b]
    return float(10 * np.log10(255.0**2 / np.mean(diff**2)))


def seconds_per_input(spec: str, scale: int, repeats: int = 3) -> float:
    """Median seconds for one 256x256 RGB input (up-scaled by ``scale``), on this CPU."""
    import statistics
    import time

    import numpy as np

    chain = Chain.from_specs([f"downsample:factor={scale}", spec], metrics=[])
    hr = np.random.default_rng(0).random((256 * scale, 256 * scale, 3)).astype(np.float32)
    lr, record = chain.corrupt(hr, key="timing")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        chain.restorer.restore([lr], [dict(record)])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def multi_scale(quick: bool) -> None:
    """bench_sr_scales.{json,md}: x2, x3, x4 on the held-out RGB images, PSNR on RGB and on Y, seconds per 256^2 input."""
    import numpy as np

    images = test_images(channels=3, size=240)  # a size 2, 3 and 4 divide
    if quick:
        images = {k: images[k] for k in QUICK_IMAGES}
    photos = [k for k in PHOTOS if k in images]
    result = {"command": "python benchmarks/bench_sr.py --scales" + (" --quick" if quick else ""), "images": list(images),
              "size": "240x240 RGB centre crops, area down-sampling by the scale", "scales": {}}
    name = FIGURE_IMAGE if FIGURE_IMAGE in images else next(iter(images))  # the image the figure shows
    shown: dict[int, dict] = {}
    for scale in (2, 3, 4):
        rows = {}
        for label, spec in MULTI_RESTORERS.items():
            if label == "edsr" and scale != 2:
                continue
            outs, report = Chain.from_specs([f"downsample:factor={scale}", spec]).run_arrays(images, seed=0)
            shown.setdefault(scale, {})[label] = outs[name]
            rgb = {k: o.metrics["restored"]["psnr"] for k, o in outs.items()}
            y = {k: y_psnr(images[k], o.restored, scale) for k, o in outs.items()}
            rows[label] = {"psnr_rgb": float(np.mean(list(rgb.values()))), "psnr_y": float(np.mean(list(y.values()))),
                           "psnr_rgb_photos": float(np.mean([rgb[k] for k in photos])), "per_image_rgb": rgb,
                           "seconds_per_256_input": seconds_per_input(spec, scale, 1 if label.startswith("pnp") else 3)}
            print(scale, label, {k: round(v, 3) for k, v in rows[label].items() if not isinstance(v, dict)}, flush=True)
        rows_b = rows["bicubic"]
        result["scales"][str(scale)] = {"rows": rows, "mdsr_minus_bicubic_db": rows["mdsr"]["psnr_rgb"] - rows_b["psnr_rgb"],
                                        "mdsr_plus_minus_bicubic_db": rows["mdsr+"]["psnr_rgb"] - rows_b["psnr_rgb"],
                                        **({"mdsr_minus_edsr_db": rows["mdsr"]["psnr_rgb"] - rows["edsr"]["psnr_rgb"]} if "edsr" in rows else {})}
    folder = out_dir(argparse_quick(quick))
    (folder / "bench_sr_scales.json").write_text(json.dumps(result, indent=2) + "\n")
    targets = {2: 1.5, 3: 1.0, 4: 0.8}
    lines = ["# x2, x3, x4 super-resolution: mdsr beside edsr, bicubic and plug-and-play", "",
             f"Weights: {weights_line()}", "",
             f"`{result['command']}` — {len(images)} held-out images ({', '.join(images)}), {result['size']}; mean PSNR (dB) on RGB "
             "and on Y (BT.601 luma, the scale's border left out, as the SR literature reports); seconds for one 256x256 RGB "
             "input on this 2-core CPU.", ""]
    for scale in (2, 3, 4):
        s = result["scales"][str(scale)]
        lines += [f"## x{scale}", "", "| restorer | PSNR RGB | PSNR Y | PSNR RGB (photographs) | s / 256² input |", "|---|---|---|---|---|"]
        for label, r in s["rows"].items():
            lines.append(f"| {label} | {r['psnr_rgb']:.2f} | {r['psnr_y']:.2f} | {r['psnr_rgb_photos']:.2f} | {r['seconds_per_256_input']:.2f} |")
        lines += ["", f"mdsr minus bicubic: **{s['mdsr_minus_bicubic_db']:+.2f} dB** (target +{targets[scale]}); "
                  f"with the x8 self-ensemble (mdsr+, the paper's '+', what `restorer:mdsr` does on real data): {s['mdsr_plus_minus_bicubic_db']:+.2f} dB"
                  + (f"; mdsr minus the shipped edsr: **{s['mdsr_minus_edsr_db']:+.2f} dB** (target -0.1 or better)" if "mdsr_minus_edsr_db" in s else ""), ""]
    scales_figure(images[name], shown, folder / "bench_sr_scales.png", name)
    lines += [f"![{name}, a 96x96 crop at x2, x3 and x4: each restorer and its absolute error](bench_sr_scales.png)"]
    (folder / "bench_sr_scales.md").write_text("\n".join(lines) + "\n")


#: The held-out photograph the x2/x3/x4 figure shows, and its crop (a multiple of 2, 3 and 4: 96 pixels at 72, 72).
FIGURE_IMAGE = "flower"
FIGURE_CROP = (slice(72, 168), slice(72, 168))


def scales_figure(original, shown: dict[int, dict], path: Path, name: str) -> None:
    """One row per scale: the crop, the low-resolution input enlarged pixel by pixel, each restorer with its PSNR on the
    whole image; under each row the absolute errors on one scale."""
    from panels import panel_grid

    rows = {}
    for scale, outs in shown.items():
        c = FIGURE_CROP
        low = next(iter(outs.values())).corrupted
        row = {"original": ("original", original[c], None),
               "measurement": (f"input (1/{scale})", low[c[0].start // scale: c[0].stop // scale,
                                                         c[1].start // scale: c[1].stop // scale], None)}
        for label, out in outs.items():
            row[label] = (label, out.restored[c], out.metrics["restored"]["psnr"])
        rows[f"x{scale}"] = row
    panel_grid(rows, path, f"{name}, a 96x96 crop, PSNR on the whole RGB image; under each row the absolute "
               "errors on one scale", errors=True,
               columns=["original", "measurement", "bicubic", "pnp (TV prior)", "pnp (learned prior)", "edsr", "mdsr", "mdsr+"])


def weights_line() -> str:
    """How the shipped mdsr weights were made, from their training log."""
    log = json.loads((Path(__file__).parent / "results" / "training" / "mdsr.log.json").read_text())
    o, h = log["options"], log["history"]
    return (f"the shipped mdsr ({len(h)} epochs of {o['steps_per_epoch']} steps, batch {o['batch_size']} of {o['crop']}², "
            f"scales {', '.join(map(str, o['scales']))}, {h[-1]['seconds'] / 60:.0f} CPU minutes, precision {o.get('precision', 'fp32')}; "
            "`python benchmarks/train_defaults.py mdsr`)")


def argparse_quick(quick: bool):
    import argparse

    return argparse.Namespace(quick=quick, out=None)


if __name__ == "__main__" and "--scales" in sys.argv:  # pragma: no cover - the x2/x3/x4 benchmark
    multi_scale("--quick" in sys.argv)
    sys.exit(0)


if __name__ == "__main__":
    main()
