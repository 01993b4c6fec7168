"""The checks of self-supervised training (``--targets self``) that need no clean image: the held-out data, the
J-invariant loss that picks the best epoch, the harm check of the weights kept, and the score of the weights a
fine-tune starts from.  A mixin of :class:`imrestore.nn.training._TrainingRun` (it reads the run's state: ``o``,
``chain``, ``model``, ``selfsup``, ``history``...), kept apart so that the training loop stays readable.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch

from ..helpers import psnr
from ..noise import Gaussian
from .checkpoint import save_checkpoint
from .data import center_crops, stack_nhwc, stack_volumes, to_nchw
from .harm import HarmCheck, jinv_loss, lowest_noise_variance
from .selfsup import Sure, choose, data_noise, psnr_estimate

log = logging.getLogger("imrestore")

__all__ = ["SelfSupervisedChecks", "epoch_score", "jinv_loss", "step_generator", "val_psnr"]


def epoch_score(entry: dict[str, Any]) -> float | None:
    """What chooses the best epoch (higher is better): for self-supervised training, the J-invariant held-out loss
    (negated; it needs no noise model, see :mod:`imrestore.nn.harm`); else the validation PSNR against clean images,
    else SURE's estimate of it, else the self-supervised loss on held-out noisy images (negated)."""
    if entry.get("val_jinv_loss") is not None and math.isfinite(entry["val_jinv_loss"]):
        return -entry["val_jinv_loss"]
    for key in ("val_psnr", "val_sure_psnr"):
        if entry.get(key) is not None and math.isfinite(entry[key]):
            return entry[key]
    return -entry["val_loss"] if entry.get("val_loss") is not None else None


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random numbers of a self-supervised step (masks, sub-samples, probes): a function of the seed and the step."""
    return torch.Generator().manual_seed(int(np.random.default_rng([seed, step, 7]).integers(2**62)))


def val_psnr(ref: np.ndarray, est: np.ndarray) -> float:
    """PSNR of a validation prediction, clipped to [0, 1] (NaN where the sizes differ)."""
    return psnr(ref, np.clip(est, 0, 1)) if ref.shape == est.shape else float("nan")


class SelfSupervisedChecks:
    """The self-supervised side of a training run (see the module's docstring)."""

    def _self_supervision(self, train_imgs: list[np.ndarray], val_imgs: list[np.ndarray], crop: int | None) -> list[np.ndarray]:
        """``targets="self"``: the noisy data, the method and its domain; the validation set. Returns the images to train on.

        With a corruption in the chain (an experiment), each image is corrupted
        once, with a fixed seed: that draw is the data, as a real acquisition
        is; the clean image only scores the validation.
        """
        o, chain = self.o, self.chain

        def noisy(images: list[np.ndarray], part: str) -> list[np.ndarray]:
            if not chain.corruptions:
                return images
            return [chain.corrupt(im, seed=o.seed, key=f"self/{part}/{i}")[0].astype(np.float32) for i, im in enumerate(images)]

        train_noisy = noisy(train_imgs, "train")
        val_imgs = val_imgs[: o.max_val]
        val_whole = noisy(val_imgs, "val")
        # the noise is a property of the acquisition: fitted to all of it, held-out planes too (an MRI series' planes
        # differ in texture, and the flattest blocks of more planes are flatter)
        planes = [p for im in [*train_noisy, *val_whole] for p in (im if self.dims == 3 else [im])]
        self.selfsup = sup = choose(o.self_method, data_noise(planes, o.noise))
        log.info(f"self-supervised training by {sup.method.name} ({sup.reason}); noise: {sup.noise.model.describe()}")
        val_clean, val_noisy = center_crops(val_imgs, crop, self.dims), center_crops(val_whole, crop, self.dims)
        self.val_clean = val_clean if chain.corruptions else []
        self.val_data = val_noisy  # the held-out noisy images in the data's units: what the harm check scores
        self.val_noisy = [sup.to_domain(im) for im in val_noisy]
        self.noise_var = lowest_noise_variance(val_noisy, sup.noise.model) if val_noisy else None
        self.input_psnr = float(np.mean([val_psnr(c, n) for c, n in zip(self.val_clean, val_noisy)])) if self.val_clean else None
        return [sup.to_domain(im) for im in train_noisy]


    def _restore_data(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Self-supervised weights on images of the data's own units, as ``imrestore run`` applies them."""
        sup = self.selfsup
        preds = self._predict([sup.to_domain(im) for im in images])
        return [sup.domain.back(p) for p in preds] if sup.domain is not None else preds


    def harm_check(self, entry: dict[str, Any]) -> HarmCheck | None:
        """The verdict on the weights of a validation ``entry``: do they beat the held-out data as they are?"""
        if self.selfsup is None or entry.get("val_jinv_loss") is None or not self.noise_var:
            return None
        return HarmCheck(float(entry["val_jinv_loss"]), float(self.noise_var))


    def kept_check(self) -> HarmCheck | None:
        """The harm check of the weights the output holds (the best epoch, or the last with ``keep="last"``)."""
        scored = [h for h in self.history if epoch_score(h) is not None]
        if not scored:
            return None
        return self.harm_check(self.history[-1] if self.o.keep == "last" else max(scored, key=epoch_score))

    def _say_harm(self) -> None:
        """After self-supervised training: whether the weights beat the data as they are, and what to try if not."""
        check = self.kept_check()
        if check is None:
            if self.selfsup is not None:
                log.warning("no held-out data to check the weights against the data as they are (--val-fraction 0); "
                            "imrestore run will apply them unchecked")
            return
        if check.helps:
            log.info(f"harm check on the held-out data: the network {check.describe()}")
            return
        log.warning(f"harm check on the held-out data: the network {check.describe()}, so `imrestore run` with these weights "
                    "keeps the data as they are (force=true applies them anyway). Try: --self blind-spot (it needs no noise "
                    "model), --noise gaussian (or mri for MRI magnitude data) if the noise model is wrong, --init shipped or "
                    "--init none, or more --max-minutes; data with little noise may have nothing to remove")


    def _score_the_start(self) -> None:
        """Self-supervised fine-tuning (from shipped or given weights): the weights it starts from are scored first, as
        epoch 0, by the same held-out criterion, so that training keeps them unless an epoch does better."""
        if self.selfsup is None or self.init is None or self.history or not self.val_noisy:
            return
        figures = self._validate()
        entry = {"epoch": 0, "loss": None, **figures, "val_input_psnr": self.input_psnr, "seconds": 0.0}
        check = self.harm_check(entry)
        if check is not None:
            entry["beats_data"] = check.helps
        self.history.append(entry)
        score = epoch_score(entry)
        if score is None:
            return
        self.best = score
        verdict = {"harm_check": check.as_dict()} if check is not None else {}
        meta = {**self.meta_base, "epoch": -1, "epochs": 0, "history": self.history}
        save_checkpoint(self.output, self.network, self.model, {**meta, **figures, "val_input_psnr": self.input_psnr, **verdict})
        gain = f", held-out {check.gain_db:+.2f} dB vs the data" if check is not None and math.isfinite(check.gain_db) else ""
        log.info(f"the starting weights ({self.init['file']}): val loss {figures.get('val_loss', float('nan')):.5f}{gain}")


    @torch.no_grad()
    def _self_validation(self) -> dict[str, float]:
        """The method's own loss on the held-out noisy images (fixed random numbers, so epochs compare), and SURE's
        estimate of the PSNR where the network works on white Gaussian noise of known level."""
        sup, losses, sures = self.selfsup, [], []
        noise = sup.noise.model
        sure_sigma = noise.sigma if sup.domain is None and isinstance(noise, Gaussian) else None
        same = isinstance(sup.method, Sure) and sup.method.sigma == sure_sigma  # the method's loss is that SURE already
        for i, img in enumerate(self.val_noisy):
            y = to_nchw(stack_volumes([img]) if self.dims == 3 else stack_nhwc([img]), self.device)
            losses.append(float(sup.method.loss(self.model, y, step_generator(self.o.seed + 1, i), 0.0)))
            if sure_sigma is not None:
                sures.append(losses[-1] if same else float(Sure(sure_sigma).loss(self.model, y, step_generator(self.o.seed + 2, i), 0.0)))
        out = {"val_loss": float(np.mean(losses))}
        if sures:
            out["val_sure_psnr"] = psnr_estimate(float(np.mean(sures)))
        return out

