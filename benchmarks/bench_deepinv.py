"""imrestore's plug-and-play deblurring side by side with deepinv's DPIR, the same denoiser on the same images (issue 22).

deepinv 0.5 is a peer, never a requirement: it runs from the benchmark's own virtual environment (which installs its
own torch there), made once with

    python -m venv --system-site-packages benchmarks/.venv-peers && benchmarks/.venv-peers/bin/pip install "deepinv==0.5.*"
    benchmarks/.venv-peers/bin/python benchmarks/bench_deepinv.py            # about 3 minutes on 2 cores

The task is ``blur:sigma=2 gaussian:sigma=2.55`` on the held-out grey 256² images, ``--seed 0``.  imrestore:
``restorer:pnp:denoiser=D`` through its chain.  deepinv: ``deepinv.optim.DPIR(sigma, denoiser=D)`` (8 iterations of HQS,
the same σ schedule and λ, from the noise level imrestore's loop assumes with ``D``) with imrestore's denoiser ``D`` wrapped as a deepinv ``Denoiser``, on
``deepinv.physics.Blur(psf, padding="reflect")``, whose data step is deepinv's conjugate gradients; its measurement
is its own blur of the same image plus the same noise draw (torch's ``reflect`` is whole-sample, imrestore's
half-sample: each method gets the measurement of its own forward model).  PSNR and seconds per image.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from natural import test_images  # noqa: E402

from imrestore.chain import Chain  # noqa: E402
from imrestore.registry import build  # noqa: E402
from imrestore_builtins.prior import loop_noise  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CHAIN = ["blur:sigma=2", "gaussian:sigma=2.55"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(np.asarray(b, np.float64), 0, 1) - a) ** 2)))


def wrapped(denoiser):
    """imrestore's ``denoise(image, sigma)`` as a deepinv Denoiser (B x 1 x H x W tensors)."""
    import torch
    from deepinv.models import Denoiser

    class Wrapped(Denoiser):
        def forward(self, x, sigma=None, **kwargs):
            s = float(sigma.flatten()[0]) if torch.is_tensor(sigma) else float(sigma)
            outs = [denoiser.denoise(im[0].cpu().numpy().astype(np.float32), s) for im in x]
            return torch.from_numpy(np.stack(outs)[:, None].astype(np.float32))

    return Wrapped()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--priors", nargs="+", default=["tv", "n2n-unet", "bm3d"])
    ap.add_argument("--out", default="bench_deepinv")
    args = ap.parse_args()
    import deepinv
    import torch

    torch.set_grad_enabled(False)
    images = dict(list(test_images(1).items())[: args.images])
    rows = []
    for prior in args.priors:
        denoiser = build(prior, kind="restorer")
        getattr(denoiser, "prepare_as_prior", lambda: denoiser.prepare([]))()
        res = {"imrestore": [], "deepinv": []}
        secs = {"imrestore": [], "deepinv": []}
        for name, image in images.items():
            chain = Chain.from_specs(CHAIN + [f"restorer:pnp:denoiser={prior}"])
            y, record = chain.corrupt(image, seed=0, key="bench")
            blurred = record["operators"][0].forward(image)
            noise = np.asarray(y, np.float64) - blurred
            t = time.perf_counter()
            out = chain.restore(y, record)
            secs["imrestore"].append(time.perf_counter() - t)
            res["imrestore"].append(psnr(image, out))
            psf = torch.from_numpy(np.asarray(record["operators"][0].psf, np.float32))[None, None]
            physics = deepinv.physics.Blur(filter=psf, padding="reflect")
            x = torch.from_numpy(image.astype(np.float32))[None, None]
            yd = physics.A(x) + torch.from_numpy(noise.astype(np.float32))[None, None]
            # the level imrestore's loop assumes with this prior (its loop_noise_scale: 2 for the learned one), so that
            # both run the same schedule and data weight
            level = loop_noise(denoiser, float(record["noise_sigma"]), "the chain")[0]
            model = deepinv.optim.DPIR(sigma=level, denoiser=wrapped(denoiser))
            t = time.perf_counter()
            outd = model(yd, physics)
            secs["deepinv"].append(time.perf_counter() - t)
            res["deepinv"].append(psnr(image, outd[0, 0].numpy()))
            print(f"{prior} {name}: imrestore {res['imrestore'][-1]:.2f} dB {secs['imrestore'][-1]:.1f} s, "
                  f"deepinv {res['deepinv'][-1]:.2f} dB {secs['deepinv'][-1]:.1f} s", flush=True)
        for tool in res:
            rows.append({"prior": prior, "tool": tool, "psnr": float(np.mean(res[tool])), "per_image": dict(zip(images, res[tool])),
                         "seconds_median": float(np.median(secs[tool]))})
    RESULTS.mkdir(exist_ok=True)
    result = {"command": "benchmarks/.venv-peers/bin/python benchmarks/bench_deepinv.py " + " ".join(sys.argv[1:]),
              "deepinv": deepinv.__version__, "torch": torch.__version__, "chain": " ".join(CHAIN), "images": list(images),
              "rows": rows}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2))
    lines = ["# Plug-and-play deblurring: imrestore against deepinv's DPIR, the same denoiser\n",
             f"`{result['command']}` — deepinv {deepinv.__version__}; `{' '.join(CHAIN)}`, held-out grey 256² crops "
             f"({', '.join(images)}), 8 denoiser calls each, deepinv given the noise level imrestore's loop assumes with the "
             "prior (twice the measurement's for the learned one); mean PSNR, median seconds per image on this CPU.\n",
             "| prior | tool | PSNR (dB) | s / image |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['prior']} | {r['tool']} | {r['psnr']:.2f} | {r['seconds_median']:.1f} |")
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
