"""GPU: the Noise2Noise U-Net (256x256 RGB) in plain PyTorch and through imrestore.

Model-only paths (plain PyTorch): fp32 eager; bf16 autocast + channels_last;
the same + torch.compile.  imrestore's paths: inference through
`restorer:n2n-unet` (batched `predict`, bf16 + channels_last, compile=true) and
training through `imrestore.nn.training.train` (on-the-fly corruption, data
workers, bf16, --compile).  Each GPU output is checked against the CPU fp32
result of the same network on the same input.

Run on a GPU machine:  python benchmarks/bench_gpu.py
On a CPU (correctness and plumbing only, small sizes):  python benchmarks/bench_gpu.py --device cpu --quick
Writes benchmarks/results/bench_gpu_<device>.json and .md.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from imrestore.nn.models import build_network

RESULTS = Path(__file__).parent / "results"
ANCHORS = {"fp32 eager": (71.5, 22.5), "bf16 + channels_last": (173.6, 73.2), "bf16 + channels_last + compile": (336.5, 96.2)}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeats):
    fn()  # warm-up (and compilation)
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_adapt(device: torch.device, quick: bool) -> dict:
    """``adapt=N`` on the device and on the CPU: seconds per step, and whether both reach the same PSNR."""
    from imrestore_builtins.learned import shipped_checkpoints
    from skimage import data as skdata

    from imrestore.nn.adapt import sure_adapt
    from imrestore.nn.checkpoint import load_checkpoint
    from imrestore.nn.inference import predict

    side, steps, sigma = (64, 2, 25 / 255) if quick else (256, 40, 25 / 255)
    clean = (skdata.camera()[128 : 128 + side, 128 : 128 + side] / 255.0).astype(np.float32)  # held out from the weights
    noisy = (clean + np.random.default_rng(0).normal(0, sigma, clean.shape)).astype(np.float32)
    path = next(p for p, _ in shipped_checkpoints() if p.stem == "n2n-unet-gaussian-grey")
    psnr = lambda x: float(10 * np.log10(1 / np.mean((np.clip(x, 0, 1) - clean) ** 2)))  # noqa: E731
    out = {"image": f"camera {side}x{side}, sigma 25", "steps": steps, "seconds_per_step": {}, "psnr_adapted": {}}
    for dev in dict.fromkeys([str(device), "cpu"]):
        model = load_checkpoint(path, expect="n2n-unet", device=dev)[0]
        out["psnr_plain"] = psnr(predict(model, [noisy], device=dev)[0])
        sure_adapt(model, noisy, sigma, 1)  # warm-up (cuDNN plans)
        sync(torch.device(dev))
        t0 = time.perf_counter()
        tuned, _, _ = sure_adapt(model, noisy, sigma, steps)
        sync(torch.device(dev))
        out["seconds_per_step"][dev] = (time.perf_counter() - t0) / steps
        out["psnr_adapted"][dev] = psnr(predict(tuned, [noisy], device=dev)[0])
        print("adapt", dev, out["seconds_per_step"][dev], out["psnr_plain"], out["psnr_adapted"][dev], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small sizes (CPU check)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--workers", type=int, default=12, help="data workers of the training path")
    ap.add_argument("--no-cudnn-benchmark", action="store_true", help="leave cuDNN's autotuner off in the plain-PyTorch paths "
                    "(imrestore turns it on for CUDA)")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
    device = torch.device(args.device)
    size = 64 if args.quick else 256
    batch = 2 if args.quick else args.batch
    repeats = 2 if args.quick else args.repeats
    torch.manual_seed(0)
    net = build_network("n2n-unet", {"in_channels": 3, "out_channels": 3}).to(device)
    x = torch.rand(batch, 3, size, size, device=device)
    mpix = batch * size * size / 1e6
    cpu_net = build_network("n2n-unet", {"in_channels": 3, "out_channels": 3})
    cpu_net.load_state_dict({k: v.cpu() for k, v in net.state_dict().items()})
    with torch.no_grad():
        reference = cpu_net.eval()(x[:2].cpu())
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "image": f"{size}x{size} RGB", "batch": batch, "command": "python benchmarks/bench_gpu.py " + " ".join(sys.argv[1:]),
              "cudnn_benchmark_plain_paths": not args.no_cudnn_benchmark,
              "inference_mpix_s": {}, "training_mpix_s": {}, "max_abs_err_vs_cpu": {}}
    use_amp = device.type == "cuda"

    for name, (bf16, cl, comp) in {"fp32 eager": (False, False, False), "bf16 + channels_last": (True, True, False),
                                   "bf16 + channels_last + compile": (True, True, True)}.items():
        model = build_network("n2n-unet", {"in_channels": 3, "out_channels": 3}).to(device)
        model.load_state_dict(net.state_dict())
        if cl:
            model = model.to(memory_format=torch.channels_last)
        run = torch.compile(model) if comp and not args.quick else model
        xi = x.contiguous(memory_format=torch.channels_last) if cl else x
        ctx = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if (bf16 and use_amp) else (lambda: torch.autocast("cpu", enabled=False))

        def infer():
            with torch.inference_mode(), ctx():
                return run.eval()(xi)

        result["inference_mpix_s"][name] = mpix / timed(infer, device, repeats)
        with torch.inference_mode(), ctx():
            out = run.eval()(xi[:2]).float().cpu()
        result["max_abs_err_vs_cpu"][name] = float((out - reference).abs().max())
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step():
            with ctx():
                y = run.train()(xi)
            loss = ((y.float() - x) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        result["training_mpix_s"][name] = mpix / timed(step, device, repeats)
        print(name, result["inference_mpix_s"][name], result["training_mpix_s"][name], flush=True)

    # imrestore's own inference path
    from imrestore.nn.checkpoint import save_checkpoint

    tmp = Path(tempfile.mkdtemp())
    weights = save_checkpoint(tmp / "u.safetensors", "n2n-unet", net, {"corruptions": ["corruption:gaussian:sigma=25.0"]})
    import imrestore

    n_images = 8 if args.quick else 8 * batch
    restorer = imrestore.build(f"restorer:n2n-unet:weights={weights},device={args.device},batch_size={batch},compile={str(not args.quick).lower()}")
    restorer.prepare([])
    rng = np.random.default_rng(0)
    images = [rng.random((size, size, 3), dtype=np.float32) for _ in range(n_images)]
    images[:2] = [np.moveaxis(a, 0, -1) for a in x[:2].float().cpu().numpy()]
    key = f"imrestore restorer:n2n-unet ({n_images} images from NumPy to NumPy, batch {batch})"
    result["inference_mpix_s"][key] = n_images * size * size / 1e6 / timed(lambda: restorer.restore(images), device, max(3, repeats // 2))
    got = restorer.restore(images)
    picks = sorted({0, 1, n_images // 2 + 1, n_images - 1})  # images from different batches of the pipeline
    with torch.no_grad():
        ref = cpu_net(torch.from_numpy(np.stack([np.moveaxis(images[i], -1, 0) for i in picks]))).numpy()
    result["max_abs_err_vs_cpu"][key] = float(np.abs(np.stack([np.moveaxis(got[i], -1, 0) for i in picks]) - ref).max())
    # tiled: one large image cut into tiles that run in several pipelined batches, vs the same tiling on the CPU
    from imrestore.nn.inference import predict

    big = rng.random((256 if args.quick else 1024, 256 if args.quick else 1024, 3), dtype=np.float32)
    tile = 64 if args.quick else 256
    cpu_big = predict(cpu_net, [big], device="cpu", batch_size=4, tile=tile, overlap=32)[0]
    eager = getattr(restorer._model(3)[0], "_orig_mod", restorer._model(3)[0])  # no recompilation for the tile shape
    gpu_big = predict(eager, [big], device=device, batch_size=4, tile=tile, overlap=32)[0]
    result["max_abs_err_vs_cpu"][f"tiled {big.shape[0]}x{big.shape[1]} (tile {tile}, batches of 4)"] = float(np.abs(gpu_big - cpu_big).max())

    # imrestore's own training path: batches corrupted on the fly by data workers, pinned, bf16, channels_last, compile
    from imrestore.chain import Chain
    from imrestore.datasets import training_data
    from imrestore.nn.training import TrainOptions, train

    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[], prepare=False)
    steps = 4 if args.quick else 300
    opts = TrainOptions(epochs=3, steps_per_epoch=steps, batch_size=batch, crop=size, device=args.device, channels=3,
                        compile=not args.quick, workers=0 if args.quick else args.workers, val_fraction=0.05, max_val=1, val_crop=size)
    log = train(chain, training_data("skimage", opts.max_images, opts.value_range), tmp / "t.safetensors", opts)
    secs = [h["seconds"] for h in log["history"]]
    result["training_mpix_s"][f"imrestore train, steady state (epoch 3: {steps} steps incl. data workers and validation)"] = steps * mpix / (secs[2] - secs[1])
    result["training_mpix_s"]["imrestore train, whole run (incl. compilation and start-up)"] = 3 * steps * mpix / secs[2]
    result["adapt"] = bench_adapt(device, args.quick)
    result["anchors_h100_plain_pytorch"] = ANCHORS
    name = ("cpu" if device.type == "cpu" else "gpu") + args.tag
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"bench_gpu_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# n2n-unet throughput on {result['device']}", "", f"`{result['command']}` — {result['image']}, batch {batch}, torch {result['torch']}, "
             f"cuDNN autotuner in the plain paths: {'on' if result['cudnn_benchmark_plain_paths'] else 'off'} (imrestore's: on).", "",
             "| path | inference MPix/s | training MPix/s | max abs err vs CPU fp32 |", "|---|---|---|---|"]
    for k in result["inference_mpix_s"]:
        tr = result["training_mpix_s"].get(k)
        err = result["max_abs_err_vs_cpu"].get(k)
        lines.append(f"| {k} | {result['inference_mpix_s'][k]:.2f} | {'' if tr is None else f'{tr:.2f}'} | {'' if err is None else f'{err:.2e}'} |")
    for k, v in result["training_mpix_s"].items():
        if k not in result["inference_mpix_s"]:
            lines.append(f"| {k} | | {v:.2f} | |")
    for k, v in result["max_abs_err_vs_cpu"].items():
        if k not in result["inference_mpix_s"]:
            lines.append(f"| {k} | | | {v:.2e} |")
    a = result["adapt"]
    lines += ["", f"Per-image SURE adaptation (`restorer:n2n-unet:adapt={a['steps']}`, shipped grey weights, {a['image']}): "
              + "; ".join(f"{dev}: {sec:.3f} s a step, PSNR {a['psnr_plain']:.2f} -> {a['psnr_adapted'][dev]:.2f} dB"
                          for dev, sec in a["seconds_per_step"].items())]
    lines += ["", "Anchors (H100, plain PyTorch): " + "; ".join(f"{k}: {a} / {b}" for k, (a, b) in ANCHORS.items())]
    (RESULTS / f"bench_gpu_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
