"""CPU inference paths for imrestore's own networks: PyTorch fp32 (the default), bf16 autocast, onnxruntime.

Each is a ``torch.nn.Module`` that :func:`imrestore.nn.inference.predict` tiles as it tiles the network itself.
``benchmarks/bench_bmz.py`` measures them side by side (seconds, GFLOP/s against this CPU's matmul rates, and
their accuracy against fp32).

>>> import torch
>>> net = torch.nn.Conv2d(1, 1, 3, padding=1)
>>> bf = BFloat16(net)
>>> bf(torch.zeros(1, 1, 8, 8)).dtype
torch.float32
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from ..errors import ImrestoreUsageError
from .export import ExportSource, write_onnx
from .foreign import NumpyModule, onnx_forward, onnx_session
from .inference import has_bf16

__all__ = ["has_bf16", "BFloat16", "cpu_backend"]


class BFloat16(torch.nn.Module):
    """``model`` under bfloat16 autocast on the CPU, its output back in float32."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.model(x).float()


def cpu_backend(model: torch.nn.Module, network: str, meta: dict, weights: Path, backend: str) -> tuple[torch.nn.Module, str]:
    """``model`` on the CPU path ``backend`` (bf16 or onnxruntime), and that path in words."""
    if backend == "bf16":
        if not has_bf16():
            raise ImrestoreUsageError("backend=bf16 needs a CPU with bf16 instructions (AVX512-BF16 or AMX); this one has none")
        return BFloat16(model), "cpu, bf16 autocast"
    if backend == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ImrestoreUsageError("backend=onnxruntime needs onnxruntime: pip install 'imrestore[onnx]'") from None
        with tempfile.TemporaryDirectory(prefix="imrestore-ort-") as tmp:
            path = Path(tmp) / "model.onnx"
            write_onnx(ExportSource(network, model, meta, weights, network), path)  # checked against torch within 1e-4
            session = onnx_session(path.read_bytes())
        return NumpyModule(onnx_forward(session)), "cpu, onnxruntime"
    raise ImrestoreUsageError(f"unknown backend {backend!r}; expected torch, bf16 or onnxruntime")
