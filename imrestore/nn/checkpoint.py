"""Checkpoints: safetensors weights plus JSON metadata; no pickle, ever.

The metadata (network, config, corruption chain, normalisation, loss, data,
epochs, project version...) is stored as one JSON string in the safetensors
header under the key ``imrestore``.

>>> import tempfile, pathlib
>>> from imrestore.nn.models import build_network
>>> p = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
>>> _ = save_checkpoint(p, "conv-ae", build_network("conv-ae"), {"corruptions": ["erase:p=0.9"]})
>>> net, meta = load_checkpoint(p, expect="conv-ae")
>>> meta["corruptions"]
['erase:p=0.9']
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._version import __version__
from ..errors import ImrestoreUsageError
from ..files import check_writable
from .models import NETWORKS, build_network, config_dict

META_KEY = "imrestore"
FORMAT = 1


class CheckpointError(ImrestoreUsageError):
    """A checkpoint cannot be read or does not fit the network asked for."""


def check_weights_output(path: Path | str) -> None:
    """Refuse, before any training, an output that would not be a checkpoint or would destroy another file: weights are
    ``NAME.safetensors``; an existing file is replaced only if it holds imrestore weights (a retraining).

    >>> check_weights_output("photo.png")
    Traceback (most recent call last):
    ...
    imrestore.errors.ImrestoreUsageError: photo.png: weights are written as safetensors; name the file NAME.safetensors
    """
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise ImrestoreUsageError(f"{path}: weights are written as safetensors; name the file NAME.safetensors")
    if path.exists():
        try:
            read_metadata(path)
        except CheckpointError:
            raise ImrestoreUsageError(f"{path} exists and does not hold imrestore weights; choose another name "
                                      "(training replaces only weights it wrote)") from None
    check_writable(path.parent)


def save_checkpoint(path: Path | str, network: str, model: torch.nn.Module, metadata: dict[str, Any] | None = None,
                    extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write weights and metadata atomically (temporary file, then rename)."""
    path = Path(path)
    meta = {"format": FORMAT, "network": network, "config": config_dict(model), "imrestore_version": __version__, **(metadata or {})}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    for k, v in (extra_tensors or {}).items():
        tensors[f"_extra.{k}"] = v.detach().to("cpu").contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.imrestore-tmp")
    save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta, default=str)})
    os.replace(tmp, path)
    return path


def read_metadata(path: Path | str) -> dict[str, Any]:
    """The JSON metadata of a checkpoint, without loading the weights."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a safetensors file ({str(exc).splitlines()[0]})") from None
    if raw is None:
        raise CheckpointError(f"{path} has no imrestore metadata; it was not written by imrestore train")
    try:
        return json.loads(raw)
    except ValueError:
        raise CheckpointError(f"{path}: the imrestore metadata is not valid JSON") from None


def load_checkpoint(path: Path | str, expect: str | None = None, device: str | torch.device = "cpu",
                    with_extra: bool = False) -> tuple[torch.nn.Module, dict[str, Any]] | tuple[torch.nn.Module, dict[str, Any], dict]:
    """Rebuild the network of a checkpoint and load its weights.

    Raises :class:`CheckpointError` naming what does not match: another network,
    an unknown config key, missing or unexpected tensors, wrong shapes.
    """
    path = Path(path)
    meta = read_metadata(path)
    network = meta.get("network")
    if network not in NETWORKS:
        raise CheckpointError(f"{path}: unknown network {network!r}")
    if expect is not None and network != expect:
        raise CheckpointError(f"{path} holds {network} weights, not {expect}")
    try:
        model = build_network(network, meta.get("config") or {})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    tensors = load_file(str(path), device="cpu")
    extra = {k[len("_extra."):]: v for k, v in tensors.items() if k.startswith("_extra.")}
    state = {k: v for k, v in tensors.items() if not k.startswith("_extra.")}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
        if wrong:
            k = wrong[0]
            parts.append(f"shape of {k} is {tuple(state[k].shape)}, the config needs {tuple(expected[k].shape)}")
        raise CheckpointError(f"{path} does not fit {network} {meta.get('config')}: " + "; ".join(parts))
    model.load_state_dict(state)
    model.to(device).eval()
    if with_extra:
        return model, meta, extra
    return model, meta
