"""Models in and out: export parity and bioimageio.core's test for every shipped network, the round trip, a CAREamics
package through restorer:bmz, and the CPU inference paths (PyTorch fp32, bf16 autocast, onnxruntime) side by side.

    python benchmarks/bench_bmz.py [--out bench_bmz] [--skip-speed] [--skip-export]

Needs ``pip install -e ".[onnx,bmz]"``. The CAREamics row uses the package and prediction that
benchmarks/careamics_bmz.py made in CAREamics' own environment (tests/data/careamics-n2v-*), or a fresh one when
benchmarks/.venv-careamics exists and ``--careamics-fresh`` is given. Results: benchmarks/results/bench_bmz.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DATA = ROOT / "tests" / "data"
SHIPPED = [("n2n-unet grey", ["restorer:n2n-unet"], 1), ("n2n-unet rgb", ["restorer:n2n-unet"], 3),
           ("n2n-unet sigma prior", ["restorer:n2n-unet:weights=" + str(ROOT / "plugins/imrestore_builtins/weights/n2n-unet-sigma-grey.safetensors")], 2),
           ("edsr x2", ["restorer:edsr"], 3), ("mdsr x3", ["restorer:mdsr:scale=3"], 3), ("conv-ae erase", ["erase:p=0.9", "restorer:conv-ae"], 1),
           ("conv-ae blur", ["blur:sigma=4", "restorer:conv-ae"], 1), ("conv-ae block", ["block:size=10", "restorer:conv-ae"], 1),
           ("sr-mnist x2", ["downsample:factor=2", "restorer:sr-mnist"], 1)]


def exports(work: Path) -> list[dict]:
    from imrestore.nn.export import load_source, write_bmz

    rows = []
    for label, specs, channels in SHIPPED:
        src = load_source(specs, channels)
        t0 = time.perf_counter()
        record = write_bmz(src, work / f"{label.replace(' ', '-')}.zip")
        rows.append({"network": label, "weights": src.weights.name, "onnx_max_abs_error": record["onnx"]["parity"]["max_abs_error"],
                     "sizes": list(record["onnx"]["parity"]["per_size"]), "bioimageio_test": record["bioimageio_test"]["status"],
                     "checks": record["bioimageio_test"]["checks"], "seconds": time.perf_counter() - t0})
        print(rows[-1], flush=True)
    return rows


def round_trip(work: Path) -> dict:
    """The shipped grey denoiser exported and imported back, against restorer:n2n-unet on held-out images."""
    from imrestore import build
    from imrestore.chain import Chain
    from imrestore.nn.export import load_source, write_bmz

    from natural import test_images  # benchmarks/natural.py

    pkg = work / "round-trip.zip"
    write_bmz(load_source(["restorer:n2n-unet"], 1), pkg, test=False)
    out = {}
    for weights in ("onnx", "pytorch_state_dict"):
        worst = 0.0
        for name, clean in list(test_images(1).items())[:3]:
            own = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[])
            noisy, deg = own.corrupt(clean, seed=0, key=name)
            ref = own.restore(noisy, dict(deg))
            imported = build(f"restorer:bmz:package={pkg},weights={weights}")
            imported.prepare([])
            got = imported.restore([noisy], [dict(deg)])[0]
            worst = max(worst, float(np.abs(got - ref).max()))
        out[weights] = worst
    return {"max_abs_error": out, "images": 3}


def careamics(fresh: bool, work: Path) -> list[dict]:
    """CAREamics' N2V package through restorer:bmz (careamics not installed here) against CAREamics' own prediction."""
    import tifffile

    cases = []
    if fresh:
        python = HERE / ".venv-careamics" / "bin" / "python"
        data = work / "care.npz"
        from skimage import data as skdata

        rng = np.random.default_rng(0)
        cam = skdata.camera().astype(np.float32) / 255 * 800 + 100
        noisy = (rng.poisson(cam) + rng.normal(0, 5, cam.shape)).astype(np.float32)
        np.savez(data, train=noisy[None], test=noisy[96:352, 64:448])
        for variant in ("n2v", "n2v2"):
            dst = work / variant
            subprocess.run([str(python), str(HERE / "careamics_bmz.py"), str(data), str(dst), "--minutes", "1.5"]
                           + (["--n2v2"] if variant == "n2v2" else []), check=True, capture_output=True)
            pred = np.load(dst / "prediction.npz")
            cases.append((variant, dst / "model.zip", noisy[96:352, 64:448], pred["prediction"]))
    else:
        ref = np.load(DATA / "careamics-n2v-prediction.npz")
        cases.append(("n2v", DATA / "careamics-n2v-0.3.5.zip", ref["test"], ref["prediction"]))
    rows = []
    for variant, pkg, test, expected in cases:
        tifffile.imwrite(work / f"{variant}.tif", test.astype(np.float32))
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "imrestore.cli", "run", f"restorer:bmz:package={pkg}", str(work / f"{variant}.tif"),
               str(work / f"{variant}-out.tif"), "-q", "--overwrite"]
        subprocess.run(cmd, check=True, capture_output=True)
        seconds = time.perf_counter() - t0
        got = tifffile.imread(work / f"{variant}-out.tif")
        rows.append({"variant": f"CAREamics 0.3.5 {variant}", "image": "x".join(map(str, test.shape)), "package_axes": "128x128 fixed",
                     "max_abs_error": float(np.abs(got - expected).max()), "output_range": [float(expected.min()), float(expected.max())],
                     "seconds_cli": seconds})
        print(rows[-1], flush=True)
    return rows


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_rates(n: int = 2048, repeats: int = 5) -> dict:
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        sec = _median_seconds(lambda: torch.mm(a, b), repeats)
        out[str(dtype).split(".")[-1]] = 2 * n**3 / sec / 1e9
    return out


def flops(model, x) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return float(counter.get_total_flops())


def speed(repeats: int) -> dict:
    """N2N U-Net (shipped weights) grey 512^2 and RGB 256^2, batch 1 and 8: PyTorch fp32, bf16 autocast, onnxruntime."""
    import onnxruntime as ort

    from imrestore.nn.export import load_source, write_onnx

    from natural import test_images

    rows, accuracy = [], {}
    rates = matmul_rates()
    for label, channels, side in (("grey 512", 1, 512), ("rgb 256", 3, 256)):
        src = load_source(["restorer:n2n-unet"], channels)
        model = src.model
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.onnx"
            write_onnx(src, path, check=False)
            options = ort.SessionOptions()
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        per_image = flops(model, torch.zeros(1, channels, side, side))
        for batch in (1, 8):
            x = np.random.default_rng(0).random((batch, channels, side, side), dtype=np.float32)
            xt = torch.from_numpy(x)

            def fp32():
                with torch.inference_mode():
                    model(xt)

            def bf16():
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                    model(xt)

            def onnx():
                session.run(None, {"input": x})

            for backend, fn in (("torch fp32", fp32), ("torch bf16 autocast", bf16), ("onnxruntime fp32", onnx)):
                sec = _median_seconds(fn, repeats) / batch
                rows.append({"network": f"n2n-unet {label}", "batch": batch, "backend": backend, "seconds_per_image": sec,
                             "gflop_per_image": per_image / 1e9, "gflops": per_image / sec / 1e9,
                             "of_fp32_matmul": per_image / sec / 1e9 / rates["float32"]})
                print(rows[-1], flush=True)
        # accuracy of bf16 and onnxruntime against fp32 on held-out images (sigma 25)
        diffs = {"torch bf16 autocast": [], "onnxruntime fp32": []}
        max_abs = {"torch bf16 autocast": 0.0, "onnxruntime fp32": 0.0}
        rng = np.random.default_rng(1)
        for name, clean in list(test_images(channels, side).items())[:3]:
            noisy = (clean + rng.normal(0, 25 / 255, clean.shape)).astype(np.float32)
            x = noisy[None, None] if channels == 1 else np.moveaxis(noisy, -1, 0)[None]
            with torch.inference_mode():
                ref = model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    half = model(torch.from_numpy(np.ascontiguousarray(x))).float().numpy()
            onnx_out = session.run(None, {"input": np.ascontiguousarray(x)})[0]
            target = clean[None, None] if channels == 1 else np.moveaxis(clean, -1, 0)[None]

            def psnr(y):
                return 10 * np.log10(1 / np.mean((np.clip(y, 0, 1) - target) ** 2))

            for key, y in (("torch bf16 autocast", half), ("onnxruntime fp32", onnx_out)):
                diffs[key].append(psnr(y) - psnr(ref))
                max_abs[key] = max(max_abs[key], float(np.abs(y - ref).max()))
        accuracy[label] = {k: {"mean_psnr_change_db": float(np.mean(v)), "max_abs_vs_fp32": max_abs[k]} for k, v in diffs.items()}
    return {"matmul_gflops": rates, "rows": rows, "accuracy": accuracy, "threads": torch.get_num_threads()}


def markdown(result: dict) -> str:
    lines = ["# Models in and out (bench_bmz)", "", f"`{result['command']}` on {result['machine']}", ""]
    if result.get("exports"):
        lines += ["## Export: every shipped network, ONNX parity and bioimageio.core's test (offline)", "",
                  "| network | weights | ONNX vs PyTorch max abs | sizes | bioimageio test | checks | seconds |", "|---|---|---|---|---|---|---|"]
        for r in result["exports"]:
            lines.append(f"| {r['network']} | {r['weights']} | {r['onnx_max_abs_error']:.1e} | {', '.join(r['sizes'])} | "
                         f"**{r['bioimageio_test']}** | {r['checks']} | {r['seconds']:.1f} |")
        lines.append("")
    if result.get("round_trip"):
        rt = result["round_trip"]
        lines += ["## Round trip", "", "The shipped grey denoiser exported to BMZ and run back through `restorer:bmz`, against "
                  f"`restorer:n2n-unet` on {rt['images']} held-out images with sigma 25 noise: max abs difference "
                  + ", ".join(f"{k} weights {v:.1e}" for k, v in rt["max_abs_error"].items()) + " (target 1e-4).", ""]
    if result.get("careamics"):
        lines += ["## Import: a CAREamics package (careamics not installed in imrestore's environment)", "",
                  "| package | image | declared axes | max abs vs CAREamics' own prediction | output range | seconds (CLI, with start-up) |",
                  "|---|---|---|---|---|---|"]
        for r in result["careamics"]:
            lines.append(f"| {r['variant']} | {r['image']} | {r['package_axes']} | **{r['max_abs_error']:.1e}** (target 1e-3) | "
                         f"{r['output_range'][0]:.0f}..{r['output_range'][1]:.0f} | {r['seconds_cli']:.1f} |")
        lines.append("")
    if result.get("speed"):
        sp = result["speed"]
        m = sp["matmul_gflops"]
        lines += ["## CPU inference paths, N2N U-Net (shipped weights), median of repeats, in one run", "",
                  f"Matmul 2048^2 here: fp32 {m['float32']:.0f} GFLOP/s, bf16 {m['bfloat16']:.0f} GFLOP/s; {sp['threads']} threads.", "",
                  "| network | batch | backend | s / image | GFLOP / image | GFLOP/s | of fp32 matmul |", "|---|---|---|---|---|---|---|"]
        for r in sp["rows"]:
            lines.append(f"| {r['network']} | {r['batch']} | {r['backend']} | {r['seconds_per_image']:.3f} | {r['gflop_per_image']:.1f} | "
                         f"{r['gflops']:.0f} | {100 * r['of_fp32_matmul']:.0f} % |")
        lines += ["", "Accuracy against PyTorch fp32 on 3 held-out images (sigma 25):", ""]
        for label, acc in sp["accuracy"].items():
            lines.append(f"- {label}: " + "; ".join(f"{k}: PSNR {v['mean_psnr_change_db']:+.3f} dB, max abs {v['max_abs_vs_fp32']:.1e}"
                                                    for k, v in acc.items()))
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench_bmz")
    ap.add_argument("--skip-export", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--careamics-fresh", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    result: dict = {"command": "python benchmarks/bench_bmz.py " + " ".join(sys.argv[1:]),
                    "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, CPU"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_export:
            result["exports"] = exports(work)
            result["round_trip"] = round_trip(work)
            print(result["round_trip"], flush=True)
        result["careamics"] = careamics(args.careamics_fresh, work)
    if not args.skip_speed:
        result["speed"] = speed(args.repeats)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
