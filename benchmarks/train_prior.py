"""Fine-tune the shipped blind grey U-Net into a noise-level-conditioned one: the plug-and-play prior (issue 22).

DRUNet's way (Zhang et al., TPAMI 2021): the network takes the noise level as one more input channel, a constant map of
sigma, so that a plug-and-play loop can ask it for the strength each iteration needs; a blind network judges the noise
from the image, and the residue of a data step (ringing, aliasing, holes) is not the white noise it learnt.  The extra
channel's weights start at zero, so training starts from the blind network exactly; it then trains on the same
scikit-image split as the blind weights (clean targets, white Gaussian noise of a level drawn uniformly in 0-50 per
patch, L2 loss).

    python benchmarks/train_prior.py --minutes 40        # writes plugins/imrestore_builtins/weights/n2n-unet-sigma-grey.safetensors
    python benchmarks/train_prior.py --init plugins/imrestore_builtins/weights/n2n-unet-sigma-grey.safetensors \
        --low-sigma 0.5 --minutes 40                     # continue it, half the patches at log-uniform low levels

As a prior the network is asked for every level of the schedule, down to the measurement's noise (2.55/255 and
below); a uniform draw in 0-50 leaves the lowest levels rare, and there the first fine-tune was worse than doing
nothing (camera at sigma 2: 41.5 dB from 42.1).  ``--low-sigma P`` draws that share of the patches' levels
log-uniformly in 0.5-50 instead.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from imrestore.datasets import skimage_images
from imrestore.nn.checkpoint import load_checkpoint, save_checkpoint
from imrestore.nn.data import split, to_channels
from imrestore.nn.models import N2NUNet, N2NUNetConfig

WEIGHTS = Path(__file__).resolve().parents[1] / "plugins" / "imrestore_builtins" / "weights"


def conditioned_from(blind: N2NUNet) -> N2NUNet:
    """A U-Net with one more input channel (the sigma map) that computes what ``blind`` does while that channel's weights are zero."""
    c = blind.config
    net = N2NUNet(N2NUNetConfig(in_channels=c.in_channels + 1, out_channels=c.out_channels, features=c.features))
    state = net.state_dict()
    for key, value in blind.state_dict().items():
        target = state[key]
        if target.shape == value.shape:
            state[key] = value.clone()
            continue
        new = torch.zeros_like(target)  # enc0 and dec1's first conv: the extra input channel starts at zero
        if key.startswith("enc0"):
            new[:, : value.shape[1]] = value
        else:  # dec1.0: [up (2f), x (C)] -> [up (2f), x (C), sigma (1)]
            new[:, : value.shape[1]] = value
        state[key] = new
    net.load_state_dict(state)
    return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=WEIGHTS / "n2n-unet-sigma-grey.safetensors")
    ap.add_argument("--init", type=Path, default=None, help="continue from these conditioned weights (default: start "
                    "from the blind grey weights, the sigma channel at zero)")
    ap.add_argument("--low-sigma", type=float, default=0.0, help="share of patches whose level is drawn log-uniformly "
                    "in 0.5-50 (0-255 scale) rather than uniformly in 0-50")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    blind, meta = load_checkpoint(WEIGHTS / "n2n-unet-gaussian-grey.safetensors", expect="n2n-unet")
    if args.init is not None:
        net, init_meta = load_checkpoint(args.init, expect="n2n-unet")
        net = net.train()
        meta = {**meta, "earlier_fine_tunes": [*init_meta.get("earlier_fine_tunes", []), init_meta.get("options", {})]}
    else:
        net = conditioned_from(blind).train()
    sk = skimage_images()
    names = list(sk)
    train, val = split(len(names), 0.15, 0)  # the blind weights' own split: the held-out images stay held out
    images = [to_channels(sk[names[i]], 1) for i in train]
    images = [im for im in images if min(im.shape) >= args.crop]
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    start, step, losses = time.time(), 0, []
    while time.time() - start < args.minutes * 60:
        batch, inputs = [], []
        for _ in range(args.batch):
            im = images[rng.integers(len(images))]
            y, x = rng.integers(im.shape[0] - args.crop + 1), rng.integers(im.shape[1] - args.crop + 1)
            patch = im[y : y + args.crop, x : x + args.crop]
            patch = np.rot90(patch, rng.integers(4))
            patch = patch[:, ::-1] if rng.random() < 0.5 else patch
            sigma = (np.exp(rng.uniform(np.log(0.5), np.log(50))) if rng.random() < args.low_sigma
                     else rng.uniform(0, 50)) / 255
            noisy = patch + rng.normal(0, sigma, patch.shape)
            batch.append(np.ascontiguousarray(patch))
            inputs.append(np.stack([noisy, np.full_like(patch, sigma)]))
        x = torch.from_numpy(np.asarray(inputs, np.float32))
        t = torch.from_numpy(np.asarray(batch, np.float32))[:, None]
        loss = torch.mean((net(x) - t) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        step += 1
        if step % 50 == 0:
            print(f"step {step} ({time.time() - start:.0f} s): loss {np.mean(losses[-50:]):.6f}", flush=True)
    net.eval()
    meta_out = {k: meta[k] for k in ("corruptions", "data", "n_train", "n_val", "normalisation", "earlier_fine_tunes")
                if k in meta}
    meta_out.update({"restorer": "n2n-unet", "targets": "clean", "loss": "l2", "channels": 1, "noise_map": True,
                     "fine_tuned_from": args.init.name if args.init else "n2n-unet-gaussian-grey.safetensors",
                     "options": {"minutes": args.minutes, "crop": args.crop, "batch": args.batch, "lr": args.lr, "steps": step,
                                 "sigma_range": [0, 50], "low_sigma": args.low_sigma, "seed": 0},
                     "note": "input channels: the image, then a constant map of the noise sigma ([0, 1] units)"})
    save_checkpoint(args.out, "n2n-unet", net, meta_out)
    print(f"wrote {args.out} after {step} steps")


if __name__ == "__main__":
    main()
