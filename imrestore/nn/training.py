"""Training a learned restorer on a corruption chain (``imrestore train``).

Inputs are corrupted on the fly by the chain; targets are the clean images
(``targets="clean"``) or a second, independent corruption of the same image
(``targets="noisy"``, Noise2Noise).  Batches are a pure function of (seed,
epoch, step), so a run is reproducible on the CPU whatever the number of data
workers, and a resumed run continues exactly where the last checkpoint was.
"""
from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .. import __version__
from ..chain import Chain
from ..errors import ChainError, ImrestoreUsageError
from ..report import atomic_write_text
from .checkpoint import load_checkpoint, read_metadata, save_checkpoint
from .data import load_images, split
from .inference import predict, select_device
from .losses import ESTIMATES, make_loss
from .models import build_network

log = logging.getLogger("imrestore")


@dataclass
class TrainOptions:
    """Everything that shapes a training run besides the chain and the data."""

    targets: str = "clean"
    loss: str = "l2"
    epochs: int = 30
    batch_size: int = 16
    crop: int | None = None
    lr: float = 1e-3
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    patience: int | None = None
    steps_per_epoch: int | None = None
    flips: bool | None = None
    max_images: int | None = None
    channels: int | None = None
    net: dict[str, Any] = field(default_factory=dict)
    val_crop: int = 256
    max_val: int = 1000
    workers: int = 0
    resume: bool = False
    max_minutes: float | None = None
    keep: str = "best"  # which weights the output holds: best validation PSNR, or the last epoch
    value_range: str = "dtype"  # --range: which stored values of DATA are 0 and 1 (dtype, data or LO:HI)

    def validate(self) -> None:
        if self.targets not in ("clean", "noisy"):
            raise ImrestoreUsageError(f"--targets must be clean or noisy, got {self.targets!r}")
        if self.loss not in ESTIMATES:
            raise ImrestoreUsageError(f"--loss must be one of {', '.join(ESTIMATES)}, got {self.loss!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ImrestoreUsageError(f"--{name.replace('_', '-')} must be at least 1")
        if not 0 <= self.val_fraction < 1:
            raise ImrestoreUsageError("--val-fraction must be in [0, 1)")
        if self.keep not in ("best", "last"):
            raise ImrestoreUsageError(f"--keep must be best or last, got {self.keep!r}")


def check_targets(chain: Chain, options: TrainOptions) -> None:
    """Noise2Noise needs noise that keeps what the loss estimates (mean for L2...)."""
    if options.targets != "noisy":
        return
    if not chain.corruptions:
        raise ChainError("--targets noisy needs at least one corruption to draw two noisy copies from")
    want = ESTIMATES[options.loss]
    for c in chain.corruptions:
        kept = c.preserved()
        if want not in kept:
            keeps = ", ".join(sorted(kept)) or "nothing"
            better = [loss for loss, stat in ESTIMATES.items() if stat in kept]
            hint = f"; use --loss {better[0]}" if better else "; use --targets clean"
            raise ChainError(f"--targets noisy with --loss {options.loss} needs noise whose {want} is the clean image, "
                             f"but {c.name} keeps only its {keeps}{hint}")


def _network_of(chain: Chain) -> str:
    restorer = chain.restorer
    network = getattr(restorer, "network", None)
    if not network:
        name = restorer.name if restorer else "none"
        raise ChainError(f"the chain's restorer ({name}) is not trainable; name one of conv-ae, sr-mnist, n2n-unet, edsr")
    return network


class BatchMaker(torch.utils.data.Dataset):
    """Step ``k`` of the run -> one (inputs, targets) batch; a pure function of the seed."""

    def __init__(self, images: list[np.ndarray], chain: Chain, options: TrainOptions, crop: int, steps_per_epoch: int):
        self.images, self.chain, self.o, self.crop, self.spe = images, chain, options, crop, steps_per_epoch

    def __len__(self) -> int:
        return self.o.epochs * self.spe

    def _crop(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.crop
        h, w = img.shape[:2]
        if h < c or w < c:
            pad = ((0, max(c - h, 0)), (0, max(c - w, 0))) + (((0, 0),) if img.ndim == 3 else ())
            img = np.pad(img, pad, mode="reflect" if min(h, w) > 1 else "edge")
            h, w = img.shape[:2]
        y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        out = img[y : y + c, x : x + c]
        if self.o.flips:
            if rng.random() < 0.5:
                out = out[:, ::-1]
            if rng.random() < 0.5:
                out = out[::-1]
        return np.ascontiguousarray(out)

    def __getitem__(self, step: int):
        epoch, k = divmod(step, self.spe)
        n = len(self.images)
        perm = np.random.default_rng([self.o.seed, epoch]).permutation(n)
        rng = np.random.default_rng([self.o.seed, epoch, k, 1])
        inputs, targets = [], []
        for j in range(self.o.batch_size):
            img = self.images[perm[(k * self.o.batch_size + j) % n]]
            clean = self._crop(img, rng)
            key = f"train/{epoch}/{k}/{j}"
            x, _ = self.chain.corrupt(clean, seed=self.o.seed, key=key)
            if self.o.targets == "noisy":
                y, _ = self.chain.corrupt(clean, seed=self.o.seed, key=key + "/target")
            else:
                y = clean
            inputs.append(x)
            targets.append(y)
        return _stack(inputs), _stack(targets)


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    """Images as stored, ``NHWC`` (``NHW1`` for grey): the device makes the NCHW view."""
    arr = np.stack([a[..., None] if a.ndim == 2 else a for a in arrays]).astype(np.float32, copy=False)
    return torch.from_numpy(arr)


def _to_nchw(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """NHWC host batch -> NCHW on ``device``; on CUDA the permuted view is channels_last as is."""
    x = batch.to(device, non_blocking=True).permute(0, 3, 1, 2)
    return x if device.type == "cuda" else x.contiguous()


def _val_set(images: list[np.ndarray], chain: Chain, options: TrainOptions, crop: int | None) -> tuple[list, list]:
    clean, noisy = [], []
    factor = math.prod(int(getattr(c, "factor", 1)) for c in chain.corruptions if c.name == "downsample")
    for i, img in enumerate(images[: options.max_val]):
        if crop is not None:
            h, w = img.shape[:2]
            c = min(crop, h, w) // factor * factor  # the restored size must equal the clean one
            y, x = (h - c) // 2, (w - c) // 2
            img = np.ascontiguousarray(img[y : y + c, x : x + c])
        x_, _ = chain.corrupt(img, seed=options.seed + 1, key=f"val/{i}")
        clean.append(img)
        noisy.append(x_)
    return clean, noisy


def _psnr(ref: np.ndarray, est: np.ndarray) -> float:
    if ref.shape != est.shape:
        return float("nan")
    mse = float(np.mean((ref.astype(np.float64) - np.clip(est, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def _opt_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = opt.state_dict()
    tensors = {}
    for i, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return tensors, sd["param_groups"]


def _load_opt(opt: torch.optim.Optimizer, extra: dict[str, torch.Tensor], groups: list) -> None:
    state: dict[int, dict] = {}
    for key, v in extra.items():
        if key.startswith("opt."):
            _, i, k = key.split(".", 2)
            state.setdefault(int(i), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def _sha256(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _lr_at(base: float, progress: float) -> float:
    """Constant, then a cosine ramp-down over the last 30 % of training."""
    if progress < 0.7:
        return base
    t = (progress - 0.7) / 0.3
    return base * (0.5 + 0.5 * math.cos(math.pi * min(t, 1.0))) + base * 1e-3


def train(chain: Chain, data: str | Path, output: Path | str, options: TrainOptions | None = None,
          progress: bool | Callable = False) -> dict[str, Any]:
    """Train the chain's restorer network; write ``output`` (best weights), its
    ``.last`` checkpoint (for ``resume``) and a ``.log.json``; return the log."""
    o = options or TrainOptions()
    o.validate()
    network = _network_of(chain)
    check_targets(chain, o)
    output = Path(output)
    last_path = output.with_name(output.stem + ".last.safetensors")
    log_path = output.with_name(output.stem + ".log.json")
    torch.manual_seed(o.seed)
    device = select_device(o.device)

    # -- data and network ----------------------------------------------------
    fixed = {"conv-ae": 28, "sr-mnist": 28}.get(network)
    stored = load_images(data, channels=None, max_images=o.max_images, value_range=o.value_range)
    if o.channels is not None:
        channels = o.channels
    elif network in ("conv-ae", "sr-mnist"):
        channels = 1
    else:  # the majority of the data decides
        channels = 3 if sum(im.ndim == 3 for im in stored) * 2 > len(stored) else 1
    from .data import to_channels

    images = [to_channels(im, channels) for im in stored]
    del stored
    if fixed and any(im.shape[:2] != (fixed, fixed) for im in images):
        raise ImrestoreUsageError(f"{network} trains on {fixed}x{fixed} images (MNIST digits); give --data mnist or a folder of such images")
    train_idx, val_idx = split(len(images), o.val_fraction, o.seed)
    train_imgs = [images[i] for i in train_idx]
    val_imgs = [images[i] for i in val_idx]
    net_cfg = dict(o.net)
    if network == "n2n-unet":
        net_cfg.setdefault("in_channels", channels)
        net_cfg.setdefault("out_channels", channels)
    elif network == "edsr":
        net_cfg.setdefault("channels", channels)
        factor = next((int(getattr(c, "factor")) for c in chain.corruptions if c.name == "downsample"), None)
        if factor is None:
            raise ChainError("edsr learns super-resolution: put downsample:factor=N in the chain")
        net_cfg.setdefault("scale", factor)
    restorer_weights = getattr(chain.restorer, "weights", None)
    init = None  # where a fine-tune started from: recorded in the new checkpoint
    if restorer_weights:
        init_meta = read_metadata(restorer_weights)
        init = {"file": Path(restorer_weights).name, "sha256": _sha256(restorer_weights),
                "epochs": init_meta.get("epochs"), "options": init_meta.get("options"), "init_weights": init_meta.get("init_weights")}
    if restorer_weights and not o.resume:
        model, _ = load_checkpoint(restorer_weights, expect=network)
    else:
        model = build_network(network, net_cfg)
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if o.flips is None:
        o.flips = str(data) != "mnist"
    crop = fixed or o.crop or (96 if network == "edsr" else 64)
    if network == "n2n-unet" and crop % 32:
        raise ImrestoreUsageError(f"n2n-unet crops must be a multiple of 32, got {crop}")
    spe = o.steps_per_epoch or max(1, math.ceil(max(len(train_imgs), 512) / o.batch_size))
    optimizer = torch.optim.Adam(model.parameters(), lr=o.lr, betas=(0.9, 0.99), eps=1e-8, fused=device.type == "cuda")
    loss_fn = make_loss(o.loss)
    history: list[dict[str, Any]] = []
    start_epoch, best = 0, -float("inf")

    if o.resume and last_path.exists():
        model_r, meta, extra = load_checkpoint(last_path, expect=network, device=device, with_extra=True)
        model.load_state_dict(model_r.state_dict())
        _load_opt(optimizer, extra, meta["optimizer_param_groups"])
        history = meta.get("history", [])
        start_epoch = int(meta["epoch"]) + 1
        best = max((h["val_psnr"] for h in history if h.get("val_psnr") is not None), default=-float("inf"))
        log.info(f"resuming from {last_path.name} at epoch {start_epoch + 1}")
    elif o.resume:
        log.info(f"nothing to resume ({last_path.name} does not exist); starting afresh")

    step_model = torch.compile(model) if o.compile else model
    val_clean, val_noisy = _val_set(val_imgs, chain, o, None if fixed else o.val_crop)
    input_psnr = float(np.mean([_psnr(c, n) for c, n in zip(val_clean, val_noisy)])) if val_clean else None
    if input_psnr is not None and not math.isfinite(input_psnr):
        input_psnr = None  # the corruption changes the size (super-resolution): no input PSNR
    maker = BatchMaker(train_imgs, chain, o, crop, spe)
    loader = torch.utils.data.DataLoader(
        maker, batch_size=None, sampler=range(start_epoch * spe, o.epochs * spe), num_workers=o.workers,
        pin_memory=device.type == "cuda", persistent_workers=o.workers > 0,
    )
    meta_base = {
        "corruptions": [c.spec for c in chain.corruptions],
        "restorer": chain.restorer.name,
        "targets": o.targets,
        "loss": o.loss,
        "data": str(data),
        "n_train": len(train_imgs),
        "n_val": len(val_imgs),
        "normalisation": ("float32 in [0, 1] (integer images divided by their dtype maximum)" if o.value_range == "dtype"
                          else f"float32 in [0, 1] (--range {o.value_range})"),
        "channels": channels,
        "crop": crop,
        "options": {k: v for k, v in asdict(o).items()},
        **({"init_weights": init} if init else {}),
    }

    def write_log(stopped: str | None, finished: bool = True) -> dict[str, Any]:
        """The log beside the weights: rewritten after every epoch, so a stopped run leaves its history too."""
        result = {"weights": str(output), "network": network, **meta_base, "history": history,
                  "best_val_psnr": best if history else None, "stopped": stopped, "finished": finished,
                  "device": str(device), "imrestore_version": __version__}
        atomic_write_text(log_path, json.dumps(result, indent=2, default=str) + "\n")
        return result

    total_steps = o.epochs * spe
    t_start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)  # a resumed run keeps its clock
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, initial=start_epoch * spe, unit="step", file=sys.stderr, dynamic_ncols=True)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    epoch_loss, n_loss, epochs_since_best = 0.0, 0, 0
    stopped = None
    model.train()
    budget_s = None if o.max_minutes is None else 60.0 * o.max_minutes
    for step, (xb, yb) in zip(range(start_epoch * spe, total_steps), loader):
        epoch, k = divmod(step, spe)
        prog = step / total_steps
        if budget_s is not None:  # a time budget: the ramp-down follows the clock, so it happens before the stop
            prog = min(max(prog, (time.perf_counter() - t_start) / budget_s), 1.0)
        for g in optimizer.param_groups:
            g["lr"] = _lr_at(o.lr, prog)
        xb, yb = _to_nchw(xb, device), _to_nchw(yb, device)
        if amp is not None:
            with amp:
                out = step_model(xb)
            loss = loss_fn(out.float(), yb, progress=prog)
        else:
            loss = loss_fn(step_model(xb), yb, progress=prog)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        epoch_loss = epoch_loss + loss.detach()  # stays on the device: no sync per step
        n_loss += 1
        if bar is not None:
            bar.update(1)
            if k % 25 == 0:
                if budget_s is not None:  # the clock ends the run (at the end of the epoch that passes the budget):
                    spent = time.perf_counter() - t_start  # the bar's total is where that will be at this pace
                    if spent > 0:
                        ends = -(-int(bar.n * budget_s / spent) // spe) * spe
                        bar.total = max(-(-bar.n // spe) * spe, min(total_steps, ends))
                bar.set_postfix(epoch=f"{epoch + 1}/{o.epochs}", loss=f"{float(epoch_loss) / n_loss:.4g}")
        if k == spe - 1:  # end of an epoch: validate, checkpoint
            model.eval()
            val_psnr = None
            if val_clean:
                preds = predict(model, val_noisy, device=device, batch_size=max(o.batch_size, 64) if fixed else 4,
                                tile=None if fixed else 1024, overlap=64, scale=int(net_cfg.get("scale", getattr(model, "scale", 1))))
                val_psnr = float(np.mean([_psnr(c, p) for c, p in zip(val_clean, preds)]))
            model.train()
            entry = {"epoch": epoch + 1, "loss": float(epoch_loss) / n_loss, "val_psnr": val_psnr, "val_input_psnr": input_psnr,
                     "seconds": time.perf_counter() - t_start}
            history.append(entry)
            epoch_loss, n_loss = 0.0, 0
            improved = val_psnr is None or val_psnr > best
            meta = {**meta_base, "epoch": epoch, "epochs": epoch + 1, "history": history}
            extra, groups = _opt_tensors(optimizer)
            save_checkpoint(last_path, network, model, {**meta, "optimizer_param_groups": groups}, extra_tensors=extra)
            if improved:
                best = val_psnr if val_psnr is not None else best
                epochs_since_best = 0
            else:
                epochs_since_best += 1
            if improved or o.keep == "last":
                save_checkpoint(output, network, model, {**meta, "val_psnr": val_psnr, "val_input_psnr": input_psnr})
            msg = f"epoch {epoch + 1}/{o.epochs}  loss {entry['loss']:.5f}"
            if val_psnr is not None:
                msg += f"  val PSNR {val_psnr:.2f} dB" + (f" (input {input_psnr:.2f})" if input_psnr is not None else "")
                msg += "  *best" if improved else ""
            (bar.write if bar is not None else log.info)(msg)
            write_log(None, finished=False)
            if o.patience is not None and epochs_since_best >= o.patience:
                stopped = f"early stop: no improvement for {o.patience} epochs"
                break
            if o.max_minutes is not None and (time.perf_counter() - t_start) / 60 > o.max_minutes:
                stopped = f"time limit of {o.max_minutes} min reached"
                break
    if bar is not None:
        bar.close()
    if stopped:
        log.info(stopped)
    return write_log(stopped)
