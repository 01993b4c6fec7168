"""What shapes a training run besides the chain and the data: :class:`TrainOptions`, and the checks that need the chain.

``imrestore train``'s options are a :class:`TrainOptions`; ``--net KEY=VALUE`` settings are typed by the network's
config (:func:`typed_net_config`), never guessed.

>>> o = TrainOptions(loss="l1", epochs=2)
>>> o.validate()
>>> typed_net_config("edsr", {"blocks": "4"})
{'blocks': 4}
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from ..chain import Chain
from ..errors import ChainError, ImrestoreUsageError, option
from ..params import ParamInfo, coerce_value
from .losses import ESTIMATES
from .models import NETWORKS
from .selfsup import METHODS

__all__ = ["TrainOptions", "check_targets", "network_of", "typed_net_config"]


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
    self_method: str = "auto"  # targets="self": blind-spot, neighbor, sure, or auto
    init: str = "auto"  # shipped: fine-tune the restorer's shipped weights for real data (blind); none: from scratch;
    # auto: shipped for --targets self on 2-D data by sure or neighbor where the data's channels have such weights, else none
    crop_depth: int = 16  # 3-D networks (net dims=3): the Z size of the training crops
    z_scale: float | None = None  # 3-D: Z step / pixel size of the data (None: from its metadata, else 1); sets z_pools
    noise: str = "auto"  # targets="self": the noise model to fit to the data (auto, gaussian, poisson-gaussian)
    value_range: str = "dtype"  # --range: which stored values of DATA are 0 and 1 (dtype, data or LO:HI)
    scales: tuple[int, ...] = ()  # --scales: a multi-scale network (mdsr) trains these, each batch one scale
    authors: tuple[str, ...] = ()  # --author: who made the weights (an export's authors)
    license: str | None = None  # --license: the weights' licence, an SPDX id (an export's licence)
    precision: str = "auto"  # --precision: auto (bf16 autocast on a GPU, fp32 on a CPU), fp32 or bf16

    def validate(self) -> None:
        if self.targets not in ("clean", "noisy", "self"):
            raise ImrestoreUsageError(f"{option('targets')} must be clean, noisy or self, got {self.targets!r}")
        if self.targets == "self" and self.loss != "l2":
            raise ImrestoreUsageError(f"{option('loss')} does not apply to {option('targets', 'self')}: each method has its own loss")
        if self.init == "scratch":  # the earlier name of none
            self.init = "none"
        if self.init not in ("auto", "shipped", "none"):
            raise ImrestoreUsageError(f"{option('init')} must be auto, shipped or none, got {self.init!r}")
        if self.self_method not in ("auto", *METHODS):
            raise ImrestoreUsageError(f"{option('self_method')} must be auto or one of {', '.join(METHODS)}, got {self.self_method!r}")
        if self.loss not in ESTIMATES:
            raise ImrestoreUsageError(f"{option('loss')} must be one of {', '.join(ESTIMATES)}, got {self.loss!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ImrestoreUsageError(f"--{name.replace('_', '-')} must be at least 1")
        if not 0 <= self.val_fraction < 1:
            raise ImrestoreUsageError(f"{option('val_fraction')} must be in [0, 1)")
        if self.keep not in ("best", "last"):
            raise ImrestoreUsageError(f"{option('keep')} must be best or last, got {self.keep!r}")


def check_targets(chain: Chain, options: TrainOptions, paired: bool = False) -> None:
    """Noise2Noise needs noise that keeps what the loss estimates (mean for L2...), from the chain or from two
    acquisitions (``paired``: the data come with a second acquisition of each image, and no corruption is drawn)."""
    if options.targets != "noisy":
        if paired:
            raise ImrestoreUsageError(f"a second acquisition ({option('pairs')}) is for {option('targets', 'noisy')} (Noise2Noise)")
        return
    if paired:
        if chain.corruptions:
            raise ChainError(f"with two acquisitions ({option('pairs')}) the noise is in the data: leave the corruptions out of the chain")
        return
    if not chain.corruptions:
        raise ChainError(f"{option('targets', 'noisy')} needs at least one corruption to draw two noisy copies from, "
                         f"or a second acquisition of the data ({option('pairs')})")
    want = ESTIMATES[options.loss]
    for c in chain.corruptions:
        kept = c.preserved()
        if want not in kept:
            keeps = ", ".join(sorted(kept)) or "nothing"
            better = [loss for loss, stat in ESTIMATES.items() if stat in kept]
            hint = f"; use {option('loss', better[0])}" if better else f"; use {option('targets', 'clean')}"
            raise ChainError(f"{option('targets', 'noisy')} with {option('loss', options.loss)} needs noise whose {want} is the clean image, "
                             f"but {c.name} keeps only its {keeps}{hint}")


def network_of(chain: Chain) -> str:
    restorer = chain.restorer
    network = getattr(restorer, "network", None)
    if not network:
        name = restorer.name if restorer else "none"
        trainable = ", ".join(n for n, (_, facts) in NETWORKS.items() if facts.trains_on_images)
        raise ChainError(f"the chain's restorer ({name}) is not trainable; name one of {trainable}")
    return network


def typed_net_config(network: str, values: dict[str, Any]) -> dict[str, Any]:
    """``--net KEY=VALUE,...`` for ``network``: each value converted to the type its config declares (never guessed),
    unknown keys and presets refused in one line (``preset=`` names one of the config's presets).

    >>> typed_net_config("edsr", {"blocks": "8", "upsample_skip": "true", "res_scale": "1"})
    {'blocks': 8, 'upsample_skip': True, 'res_scale': 1.0}
    """
    cfg_cls = NETWORKS[network][1]
    hints = typing.get_type_hints(cfg_cls)
    known = sorted(f.name for f in dataclasses.fields(cfg_cls))
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "preset":
            if str(value) not in cfg_cls.presets:
                raise ImrestoreUsageError(f"--net preset={value}: {network} has the presets {', '.join(sorted(cfg_cls.presets)) or 'none'}")
            out[key] = str(value)
        elif key not in known:
            raise ImrestoreUsageError(f"--net {key}={value}: {network} has no setting {key!r}; it has {', '.join(known)}")
        elif hints[key] in (int, float, bool, str):
            out[key] = coerce_value(ParamInfo(name=key, type=hints[key], optional=False, default=None, help=""), value, owner=f"--net {network}")
        else:
            out[key] = value
    return out
