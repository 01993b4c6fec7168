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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small sizes (CPU check)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
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

    restorer = imrestore.build(f"restorer:n2n-unet:weights={weights},device={args.device},batch_size={batch},compile={str(not args.quick).lower()}")
    restorer.prepare([])
    images = [np.moveaxis(a, 0, -1) for a in x.float().cpu().numpy()]
    result["inference_mpix_s"]["imrestore restorer:n2n-unet (end to end from NumPy)"] = mpix / timed(lambda: restorer.restore(images), device, repeats)
    got = restorer.restore(images[:2])
    result["max_abs_err_vs_cpu"]["imrestore restorer"] = float(np.abs(np.stack([np.moveaxis(g, -1, 0) for g in got]) - reference.numpy()).max())

    # imrestore's own training path (data made on the fly by workers)
    from imrestore.chain import Chain
    from imrestore.nn.training import TrainOptions, train

    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[], prepare=False)
    steps = 4 if args.quick else 60
    opts = TrainOptions(epochs=1, steps_per_epoch=steps, batch_size=batch, crop=size, device=args.device, channels=3,
                        compile=not args.quick, workers=0 if args.quick else 8, val_fraction=0.05, max_val=1, val_crop=size)
    log = train(chain, "skimage", tmp / "t.safetensors", opts)
    seconds = log["history"][-1]["seconds"]
    result["training_mpix_s"]["imrestore train (end to end, incl. data, compile and validation)"] = steps * mpix / seconds
    result["anchors_h100_plain_pytorch"] = ANCHORS
    name = "cpu" if device.type == "cpu" else "gpu"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"bench_gpu_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# n2n-unet throughput on {result['device']}", "", f"`{result['command']}` — {result['image']}, batch {batch}, torch {result['torch']}.", "",
             "| path | inference MPix/s | training MPix/s | max abs err vs CPU fp32 |", "|---|---|---|---|"]
    for k in result["inference_mpix_s"]:
        tr = result["training_mpix_s"].get(k)
        err = result["max_abs_err_vs_cpu"].get(k, result["max_abs_err_vs_cpu"].get("imrestore restorer") if k.startswith("imrestore") else None)
        lines.append(f"| {k} | {result['inference_mpix_s'][k]:.2f} | {'' if tr is None else f'{tr:.2f}'} | {'' if err is None else f'{err:.2e}'} |")
    for k, v in result["training_mpix_s"].items():
        if k not in result["inference_mpix_s"]:
            lines.append(f"| {k} | | {v:.2f} | |")
    lines += ["", "Anchors (H100, plain PyTorch): " + "; ".join(f"{k}: {a} / {b}" for k, (a, b) in ANCHORS.items())]
    (RESULTS / f"bench_gpu_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
