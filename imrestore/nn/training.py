"""Training a learned restorer on a corruption chain (``imrestore train``).

Inputs are corrupted on the fly by the chain; targets are the clean images
(``targets="clean"``) or a second, independent corruption of the same image
(``targets="noisy"``, Noise2Noise).  With ``targets="self"`` the data are the
noisy images themselves and a self-supervised method learns from them alone
(:mod:`imrestore.nn.selfsup`; a chain's corruption, for experiments, is drawn
once per image and the clean image only scores the validation).  Batches are a pure function of (seed,
epoch, step), so a run is reproducible on the CPU whatever the number of data
workers, and a resumed run continues exactly where the last checkpoint was.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .._version import __version__
from ..chain import Chain
from ..errors import ChainError, ImrestoreUsageError, option
from ..progress import progress_bar
from ..report import atomic_write_text
from .batches import BatchMaker, val_set
from .checkpoint import check_weights_output, load_checkpoint, read_metadata, save_checkpoint
from .data import split, to_channels, to_nchw
from .inference import autocast_for, predict, predict_volume, select_device
from .losses import make_loss
from .models import NETWORKS, build_network, network_facts
from .selfsup import SelfSupervision, Sure
from .selfsup_checks import SelfSupervisedChecks, epoch_score, jinv_loss, step_generator, val_psnr
from .train_options import TrainOptions, check_targets, network_of, typed_net_config

log = logging.getLogger("imrestore")


def z_pools_for(z_scale: float) -> int:
    """How many of the U-Net's poolings should halve Z for planes ``z_scale`` times farther apart than pixels:
    pool Z only while it is not coarser than Y/X.

    >>> z_pools_for(1.0), z_pools_for(2.0), z_pools_for(5.0)
    (2, 1, 0)
    """
    return max(0, 2 - max(0, round(math.log2(max(z_scale, 1.0)))))


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
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _round_up(n: int, step: int) -> int:
    """``n`` rounded up to a multiple of ``step`` (a whole epoch of steps).

    >>> _round_up(101, 50), _round_up(100, 50)
    (150, 100)
    """
    return (n + step - 1) // step * step


def _lr_at(base: float, progress: float) -> float:
    """Constant, then a cosine ramp-down over the last 30 % of training."""
    if progress < 0.7:
        return base
    t = (progress - 0.7) / 0.3
    return base * (0.5 + 0.5 * math.cos(math.pi * min(t, 1.0))) + base * 1e-3


@dataclass
class TrainingData:
    """The images to train on (float32 in [0, 1], ``YX`` or ``YXC``) and the name the checkpoint records.

    :func:`imrestore.datasets.training_data` reads one from a folder, a volume
    or a built-in data set; a list of arrays works too.
    """

    images: list[np.ndarray]
    name: str = "<arrays>"
    #: The data as ``ZYX`` stacks, where it is a volume with a Z axis (what a 3-D network trains on).
    volumes: list[np.ndarray] | None = None
    #: Z step / pixel size, where the volume's metadata say (ImageJ or OME); 3-D networks pool Z accordingly.
    z_scale: float | None = None
    #: A second, independent acquisition of each image (same shapes): Noise2Noise from two acquisitions
    #: (``targets="noisy"`` with no corruption in the chain; the second one is the validation's reference).
    partners: list[np.ndarray] | None = None
    partners_name: str = "<arrays>"


def train(chain: Chain, data: TrainingData | Sequence[np.ndarray], output: Path | str, options: TrainOptions | None = None,
          progress: bool | Callable = False) -> dict[str, Any]:
    """Train the chain's restorer network; write ``output`` (best weights), its
    ``.last`` checkpoint (for ``resume``) and a ``.log.json``; return the log.

    ``data`` is a :class:`TrainingData` or a list of arrays (``ZYX`` stacks for a 3-D network); ``progress`` a
    bar (True: tqdm on stderr; or a callable taking the total, as in
    :func:`imrestore.progress.progress_bar`).
    """
    if not isinstance(data, TrainingData):  # arrays: the 3-D ones are ZYX stacks, should a 3-D network train
        arrays = list(data)
        data = TrainingData(arrays, volumes=[np.asarray(a, np.float32) for a in arrays if np.ndim(a) == 3] or None)
    options = options or TrainOptions()
    options = dataclasses.replace(options, net=typed_net_config(network_of(chain), options.net))
    run = _TrainingRun(chain, data, Path(output), options)
    return run.loop(progress)


class _TrainingRun(SelfSupervisedChecks):
    """One training run: set up in ``__init__``, then ``loop`` runs the steps and ``_end_epoch`` validates and checkpoints."""

    def __init__(self, chain: Chain, data: TrainingData, output: Path, options: TrainOptions):
        o = self.o = options
        o.validate()
        check_weights_output(output)
        self.chain, self.output = chain, output
        self.network = network_of(chain)
        self.facts = network_facts(self.network)
        check_targets(chain, o, paired=data.partners is not None)
        self.last_path = output.with_name(output.stem + ".last.safetensors")
        self.log_path = output.with_name(output.stem + ".log.json")
        torch.manual_seed(o.seed)
        self.device = select_device(o.device)
        self.amp = autocast_for(self.device, o.precision)  # refused here, before any work, where the CPU lacks bf16
        self.dims = self._dims()
        self.partners: tuple[list[np.ndarray], list[np.ndarray]] | None = None  # second acquisitions: train, validation
        train_imgs, val_imgs = self._stacks(data) if self.dims == 3 else self._data(data)
        self.selfsup: SelfSupervision | None = None
        if o.targets == "self":
            train_imgs = self._self_supervision(train_imgs, val_imgs, None if self.facts.fixed_size else o.val_crop)
        self._network()
        if o.flips is None:
            o.flips = data.name != "mnist"
        fixed = self.facts.fixed_size
        self.crop = crop = fixed or o.crop or self.facts.default_crop
        if crop % self.facts.crop_multiple:
            raise ImrestoreUsageError(f"{self.network} crops must be a multiple of {self.facts.crop_multiple}, got {crop}")
        z_multiple = 2 ** int(self.net_cfg.get("z_pools", 2))
        if self.dims == 3 and o.crop_depth % z_multiple:
            raise ImrestoreUsageError(f"{option('crop_depth')} must be a multiple of {z_multiple} (the network halves Z that often), got {o.crop_depth}")
        self.spe = o.steps_per_epoch or max(1, math.ceil(max(len(train_imgs), 512) / o.batch_size))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=o.lr, betas=(0.9, 0.99), eps=1e-8,
                                          fused=self.device.type == "cuda")
        self.loss_fn = make_loss(o.loss)
        self.history: list[dict[str, Any]] = []
        self.start_epoch, self.best = 0, -float("inf")
        self._resume()
        if self.selfsup is None:
            self.val_clean, self.val_noisy = val_set(val_imgs, chain, o, None if fixed else o.val_crop,
                                                      self.partners[1] if self.partners else None)
            pairs = zip(self.val_clean, self.val_noisy)
            input_psnr = float(np.mean([val_psnr(c, n) for c, n in pairs])) if self.val_clean else None
            # the corruption changes the size (super-resolution): no input PSNR
            self.input_psnr = input_psnr if input_psnr is not None and math.isfinite(input_psnr) else None
        self.loader = torch.utils.data.DataLoader(
            BatchMaker(train_imgs, chain, o, crop, self.spe, o.crop_depth if self.dims == 3 else None,
                       self.partners[0] if self.partners else None), batch_size=None,
            sampler=range(self.start_epoch * self.spe, o.epochs * self.spe), num_workers=o.workers,
            pin_memory=self.device.type == "cuda", persistent_workers=o.workers > 0,
        )
        self.meta_base = self._meta_base(data.name, len(train_imgs), len(val_imgs))
        if self.partners is not None:  # Noise2Noise from two acquisitions: the validation PSNR is against the second
            self.meta_base["pairs"] = data.partners_name
            self.meta_base["val_reference"] = "the second acquisition (noisy): lower than against a clean image, same ranking"

    def _dims(self) -> int:
        """2, or 3 for a 3-D network: from ``--net dims=``, else from the weights a fine-tune starts from."""
        if "dims" in self.o.net:
            return int(self.o.net["dims"])
        weights = getattr(self.chain.restorer, "weights", None)
        return int(read_metadata(weights).get("config", {}).get("dims", 2)) if weights else 2

    def _stacks(self, data: TrainingData) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """A 3-D network's data: the ZYX stacks, each split along Z: its last planes (``val_fraction``, at least a
        crop deep) validate, where the stack is deep enough to leave a crop for training."""
        o = self.o
        stacks = data.volumes
        if data.partners is not None:
            raise ImrestoreUsageError(f"two acquisitions ({option('pairs')}) train 2-D networks; leave out {option('net', 'dims=3')}")
        if not stacks:
            raise ImrestoreUsageError(f"a 3-D network ({option('net', 'dims=3')}) trains on stacks: give DATA as a TIFF stack, "
                                      "an HDF5 dataset or a Zarr array with a Z axis")
        self.channels = 1
        if "z_pools" not in o.net and not getattr(self.chain.restorer, "weights", None):
            z_scale = o.z_scale or data.z_scale or 1.0
            o.net = {**o.net, "z_pools": z_pools_for(z_scale)}
            log.info(f"3-D network: Z sampled {z_scale:g}x coarser than Y/X, so Z is pooled {o.net['z_pools']} times")
        train, val = [], []
        for vol in stacks:
            n_val = max(o.crop_depth, int(round(vol.shape[0] * o.val_fraction))) if o.val_fraction > 0 else 0
            if n_val and vol.shape[0] - n_val >= o.crop_depth:
                train.append(vol[:-n_val])
                val.append(vol[-n_val:])
            else:
                train.append(vol)
        return train, val

    def _data(self, data: TrainingData) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Convert the images to the network's channels and split them (seeded)."""
        o, facts, stored = self.o, self.facts, data.images
        if o.channels is not None:
            channels = o.channels
        elif facts.image_channels is not None:
            channels = facts.image_channels
        else:  # the majority of the data decides
            channels = 3 if sum(im.ndim == 3 for im in stored) * 2 > len(stored) else 1
        self.channels = channels
        images = [to_channels(im, channels) for im in stored]
        fixed = facts.fixed_size
        if fixed and any(im.shape[:2] != (fixed, fixed) for im in images):
            raise ImrestoreUsageError(f"{self.network} trains on {fixed}x{fixed} images (MNIST digits); give the data mnist or a folder of such images")
        train_idx, val_idx = split(len(images), o.val_fraction, o.seed)
        if data.partners is not None:
            if len(data.partners) != len(stored) or any(np.shape(a) != np.shape(b) for a, b in zip(stored, data.partners)):
                raise ImrestoreUsageError(f"the second acquisition ({option('pairs')}) must hold an image of the same shape for each "
                                          f"image of the data ({len(data.partners)} images for {len(stored)})")
            partners = [to_channels(im, channels) for im in data.partners]
            self.partners = [partners[i] for i in train_idx], [partners[i] for i in val_idx]
        return [images[i] for i in train_idx], [images[i] for i in val_idx]

    def _scales(self, factor: int | None) -> None:
        """A multi-scale network (mdsr) trains every scale it has (``--scales``, else its config's), each batch one;
        the chain's down-sampling factor must be one of them (the validation pairs' scale)."""
        o = self.o
        has = "scales" in {f.name for f in fields(NETWORKS[self.network][1])}
        if not has:
            if o.scales:
                raise ImrestoreUsageError(f"{option('scales')} is for multi-scale networks (mdsr), not {self.network}")
            return
        weights = getattr(self.chain.restorer, "weights", None)
        scales = o.scales or (read_metadata(weights).get("config", {}).get("scales") if weights else None) \
            or self.net_cfg.get("scales") or NETWORKS[self.network][1].scales
        o.scales = tuple(sorted({int(s) for s in scales}))
        self.net_cfg["scales"] = list(o.scales)
        if factor is None or factor not in o.scales:
            raise ImrestoreUsageError(f"{self.network} learns super-resolution at x{', x'.join(map(str, o.scales))}: put "
                                      f"downsample:factor=N with N one of them in the chain (it sets the validation scale)")

    def _network(self) -> None:
        """The network to train: a fresh one shaped for the data, or the restorer's weights to fine-tune."""
        o, chain = self.o, self.chain
        factor = next((int(getattr(c, "factor")) for c in chain.corruptions if c.name == "downsample"), None)
        prefers = self.selfsup.method.net_defaults if self.selfsup is not None else {}
        try:
            self.net_cfg = self.facts.fit_data({**prefers, **o.net}, self.channels, factor)
        except ValueError as exc:
            raise ChainError(str(exc)) from None
        self._scales(factor)
        weights = getattr(chain.restorer, "weights", None)
        if weights is None and (o.init == "shipped" or (o.init == "auto" and self._starts_shipped())):
            weights = self._shipped_weights()
        self.init = None  # where a fine-tune started from: recorded in the new checkpoint
        if weights:
            init_meta = read_metadata(weights)
            self.init = {"file": Path(weights).name, "sha256": _sha256(weights), "epochs": init_meta.get("epochs"),
                         "options": init_meta.get("options"), "init_weights": init_meta.get("init_weights")}
        if weights and not o.resume:
            model, _ = load_checkpoint(weights, expect=self.network)
        else:
            model = build_network(self.network, self.net_cfg)
        model.to(self.device)
        if self.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.step_model = torch.compile(model) if o.compile else model

    def _starts_shipped(self) -> bool:
        """``init="auto"``: whether to start from the shipped blind weights. Yes for self-supervised 2-D training by a
        method that trains the shipped architecture (sure, neighbor; blind-spot prefers N2V2's), with no network config
        given, where shipped weights take the data's channels."""
        if self.o.targets != "self" or self.dims == 3 or self.o.net or self.selfsup is None or self.selfsup.method.net_defaults:
            return False
        pick = getattr(self.chain.restorer, "blind_weights", None)
        try:
            return pick is not None and bool(pick(self.channels))
        except (ValueError, ChainError):  # no shipped weights of the data's channels
            return False

    def _shipped_weights(self) -> str:
        """``init="shipped"``: the restorer's shipped weights for real data of the data's channels (a 2-D network)."""
        pick = getattr(self.chain.restorer, "blind_weights", None)
        if pick is None or self.dims == 3:
            what = "3-D" if self.dims == 3 else "blind"
            raise ImrestoreUsageError(f"{option('init', 'shipped')}: {self.network} ships no {what} weights to start from; "
                                      f"train from scratch or give restorer:{self.network}:weights=FILE")
        path = str(pick(self.channels))
        how = "--init shipped" if self.o.init == "shipped" else "the default for --targets self; --init none trains from scratch"
        log.info(f"starting from the shipped weights {Path(path).name} ({how})")
        return path

    def _resume(self) -> None:
        if self.o.resume and self.last_path.exists():
            model_r, meta, extra = load_checkpoint(self.last_path, expect=self.network, device=self.device, with_extra=True)
            self.model.load_state_dict(model_r.state_dict())
            _load_opt(self.optimizer, extra, meta["optimizer_param_groups"])
            self.history = meta.get("history", [])
            self.start_epoch = int(meta["epoch"]) + 1
            self.best = max((epoch_score(h) for h in self.history if epoch_score(h) is not None), default=-float("inf"))
            log.info(f"resuming from {self.last_path.name} at epoch {self.start_epoch + 1}")
        elif self.o.resume:
            log.info(f"nothing to resume ({self.last_path.name} does not exist); starting afresh")

    def _meta_base(self, data_name: str, n_train: int, n_val: int) -> dict[str, Any]:
        o = self.o
        return {
            "corruptions": [c.spec for c in self.chain.corruptions],
            "restorer": self.chain.restorer.name,
            "targets": o.targets,
            "loss": o.loss,
            **({"self_supervised": self.selfsup.record()} if self.selfsup is not None else {}),
            "data": data_name,
            "n_train": n_train,
            "n_val": n_val,
            "normalisation": ("float32 in [0, 1] (integer images divided by their dtype maximum)" if o.value_range == "dtype"
                              else f"float32 in [0, 1] (--range {o.value_range})"),
            # what an export declares, as data: the tensor's axes and how stored values became the network's input
            "input": {"axes": "bczyx" if self._dims() == 3 else "bcyx", "dtype": "float32", "range": [0.0, 1.0],
                      "stored_values": o.value_range if isinstance(o.value_range, str) else list(o.value_range)},
            "citation": [dict(c) for c in self.facts.cite],
            **({"authors": [{"name": a} for a in o.authors]} if o.authors else {}),
            **({"license": o.license} if o.license else {}),
            "channels": self.channels,
            "crop": self.crop,
            "options": {k: v for k, v in asdict(o).items()},
            **({"init_weights": self.init} if self.init else {}),
        }

    def write_log(self, stopped: str | None, finished: bool = True) -> dict[str, Any]:
        """The log beside the weights: rewritten after every epoch, so a stopped run leaves its history too."""
        psnrs = [h["val_psnr"] for h in self.history if h.get("val_psnr") is not None]
        check = self.kept_check()
        result = {"weights": str(self.output), "network": self.network, **self.meta_base, "history": self.history,
                  **({"harm_check": check.as_dict()} if check is not None else {}),
                  "best_val_psnr": max(psnrs) if psnrs else None, "best_score": self.best if self.history else None, "stopped": stopped, "finished": finished,
                  "device": str(self.device), "imrestore_version": __version__}
        atomic_write_text(self.log_path, json.dumps(result, indent=2, default=str) + "\n")
        return result

    def loop(self, progress: bool | Callable) -> dict[str, Any]:
        """Run the steps; validate and checkpoint at the end of each epoch; stop early on patience or the time budget."""
        o, spe = self.o, self.spe
        total_steps = o.epochs * spe
        self.t_start = time.perf_counter() - (self.history[-1]["seconds"] if self.history else 0.0)  # a resumed run keeps its clock
        self.bar = progress_bar(total_steps, progress, unit="step", initial=self.start_epoch * spe) if progress else None
        self.epoch_loss, self.n_loss, self.epochs_since_best = 0.0, 0, 0
        stopped = None
        self._score_the_start()
        self.model.train()
        budget_s = None if o.max_minutes is None else 60.0 * o.max_minutes
        for step, (xb, yb) in zip(range(self.start_epoch * spe, total_steps), self.loader):
            epoch, k = divmod(step, spe)
            prog = step / total_steps
            if budget_s is not None:  # a time budget: the ramp-down follows the clock, so it happens before the stop
                prog = min(max(prog, (time.perf_counter() - self.t_start) / budget_s), 1.0)
            self._step(xb, yb, prog, step)
            if self.bar is not None and k % 25 == 0:
                self._show(epoch, total_steps, budget_s)
            if k == spe - 1:  # end of an epoch: validate, checkpoint
                stopped = self._end_epoch(epoch)
                if stopped:
                    break
        if self.bar is not None:
            self.bar.close()
        if stopped:
            log.info(stopped)
        self._say_harm()
        return self.write_log(stopped)

    def _step(self, xb: torch.Tensor, yb: torch.Tensor, prog: float, step: int) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = _lr_at(self.o.lr, prog)
        if hasattr(self.model, "scales"):  # a multi-scale network computes the batch's scale (target / input size)
            self.model.scale = int(yb.shape[1 if self.dims == 2 else 2] // xb.shape[1 if self.dims == 2 else 2])
        xb = to_nchw(xb, self.device)
        method = self.selfsup.method if self.selfsup is not None else None
        amp = None if isinstance(method, Sure) else self.amp  # SURE's divergence needs fp32
        with amp or contextlib.nullcontext():  # the forward pass in bf16 where asked
            if method is not None:
                loss = method.loss(self.step_model, xb, step_generator(self.o.seed, step), prog).float()
            else:
                out = self.step_model(xb)
        if method is None:  # a supervised loss in fp32
            loss = self.loss_fn(out.float(), to_nchw(yb, self.device), progress=prog)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.epoch_loss = self.epoch_loss + loss.detach()  # stays on the device: no sync per step
        self.n_loss += 1
        if self.bar is not None:
            self.bar.update(1)

    def _show(self, epoch: int, total_steps: int, budget_s: float | None) -> None:
        bar, spe = self.bar, self.spe
        if budget_s is not None and hasattr(bar, "n"):  # the clock ends the run (at the end of the epoch that passes the budget):
            spent = time.perf_counter() - self.t_start  # the bar's total is where that will be at this pace
            if spent > 0:
                ends = _round_up(int(bar.n * budget_s / spent), spe)
                bar.total = max(_round_up(bar.n, spe), min(total_steps, ends))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(epoch=f"{epoch + 1}/{self.o.epochs}", loss=f"{float(self.epoch_loss) / self.n_loss:.4g}")

    def _predict(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The network (in eval mode) on validation images as it sees them (in its domain); a multi-scale network at
        the chain's own scale (the validation pairs')."""
        if hasattr(self.model, "scales"):
            self.model.scale = next((int(c.factor) for c in self.chain.corruptions if c.name == "downsample"), self.model.scales[0])
        if self.dims == 3:
            return [predict_volume(self.model, v, device=self.device, tile=512, overlap=64) for v in images]
        fixed = self.facts.fixed_size
        return predict(self.model, images, device=self.device, batch_size=max(self.o.batch_size, 64) if fixed else 4,
                       tile=None if fixed else 1024, overlap=64, scale=int(self.net_cfg.get("scale", getattr(self.model, "scale", 1))))

    def _validate(self) -> dict[str, float | None]:
        """The validation figures of this epoch: ``val_psnr`` against clean images where there are some; with
        ``targets="self"`` also the J-invariant held-out loss (the harm check's), the method's loss on the held-out
        noisy images and SURE's PSNR estimate where the noise allows."""
        if not self.val_noisy or (self.selfsup is None and not self.val_clean):
            return {"val_psnr": None}
        self.model.eval()
        preds = self._predict(self.val_noisy)
        figures: dict[str, float | None] = {"val_psnr": None}
        if self.selfsup is not None:
            domain = self.selfsup.domain
            preds = [domain.back(p) for p in preds] if domain is not None else preds
            figures.update(self._self_validation())
            figures["val_jinv_loss"] = jinv_loss(self._restore_data, self.val_data, seed=self.o.seed + 3)
        if self.val_clean:
            figures["val_psnr"] = float(np.mean([val_psnr(c, p) for c, p in zip(self.val_clean, preds)]))
        self.model.train()
        return figures

    def _end_epoch(self, epoch: int) -> str | None:
        """Validate, write the checkpoints and the log; return why training stops now, if it does."""
        o = self.o
        figures = self._validate()
        entry = {"epoch": epoch + 1, "loss": float(self.epoch_loss) / self.n_loss, **figures,
                 "val_input_psnr": self.input_psnr, "seconds": time.perf_counter() - self.t_start}
        self.history.append(entry)
        self.epoch_loss, self.n_loss = 0.0, 0
        score = epoch_score(entry)
        improved = score is None or score > self.best
        meta = {**self.meta_base, "epoch": epoch, "epochs": epoch + 1, "history": self.history}
        extra, groups = _opt_tensors(self.optimizer)
        save_checkpoint(self.last_path, self.network, self.model, {**meta, "optimizer_param_groups": groups}, extra_tensors=extra)
        if improved:
            self.best = score if score is not None else self.best
            self.epochs_since_best = 0
        else:
            self.epochs_since_best += 1
        check = self.harm_check(entry)
        if check is not None:
            entry["beats_data"] = check.helps
        if improved or o.keep == "last":
            verdict = {"harm_check": check.as_dict()} if check is not None else {}
            save_checkpoint(self.output, self.network, self.model, {**meta, **figures, "val_input_psnr": self.input_psnr, **verdict})
        msg = f"epoch {epoch + 1}/{o.epochs}  loss {entry['loss']:.5f}"
        if entry.get("val_loss") is not None:
            msg += f"  val loss {entry['val_loss']:.5f}"
        if check is not None:
            msg += f"  held-out {check.gain_db:+.2f} dB vs the data" if math.isfinite(check.gain_db) else ""
        if entry.get("val_sure_psnr") is not None:
            msg += f"  SURE PSNR {entry['val_sure_psnr']:.2f} dB"
        if entry["val_psnr"] is not None:
            msg += f"  val PSNR {entry['val_psnr']:.2f} dB" + (f" (input {self.input_psnr:.2f})" if self.input_psnr is not None else "")
        msg += "  *best" if improved and score is not None else ""
        (self.bar.write if hasattr(self.bar, "write") else log.info)(msg)
        self.write_log(None, finished=False)
        if o.patience is not None and self.epochs_since_best >= o.patience:
            return f"early stop: no improvement for {o.patience} epochs"
        if o.max_minutes is not None and (time.perf_counter() - self.t_start) / 60 > o.max_minutes:
            return f"time limit of {o.max_minutes} min reached"
        return None
