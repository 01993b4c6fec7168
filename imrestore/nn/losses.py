"""Training losses: L2, L1, annealed L0 and the relative HDR loss of Noise2Noise.

Each loss states which statistic of the target distribution its minimiser
returns, which is what a noisy-target (Noise2Noise) corruption must preserve.

>>> import torch
>>> make_loss("l2")(torch.zeros(2), torch.ones(2), progress=0.0).item()
1.0
"""
from __future__ import annotations

from typing import Callable

import torch

#: loss -> the statistic of the target that its minimiser estimates
ESTIMATES = {"l2": "mean", "l1": "median", "l0": "mode", "hdr": "mean"}


def make_loss(name: str) -> Callable[..., torch.Tensor]:
    """``loss(output, target, progress)``; ``progress`` in [0, 1] anneals L0."""
    if name == "l2":
        return lambda out, tgt, progress=0.0: torch.mean((out - tgt) ** 2)
    if name == "l1":
        return lambda out, tgt, progress=0.0: torch.mean(torch.abs(out - tgt))
    if name == "l0":
        def l0(out, tgt, progress=0.0):
            gamma = max(2.0 * (1.0 - progress), 1e-3)  # annealed from 2 to 0 (Lehtinen et al.)
            return torch.mean((torch.abs(out - tgt) + 1e-8) ** gamma)
        return l0
    if name == "hdr":
        return lambda out, tgt, progress=0.0: torch.mean((out - tgt) ** 2 / (out.detach() + 0.01) ** 2)
    raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(ESTIMATES)}")
