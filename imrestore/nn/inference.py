"""Batched, tiled inference on the chosen device.

Images larger than a tile are cut into overlapping tiles, run in batches, and
blended back with weights that ramp down inside the overlap (never at the image
border), so no seam shows.  The tile size is chosen from the memory available.

>>> import numpy as np, torch
>>> net = torch.nn.Identity()
>>> out = predict(net, [np.ones((300, 200), np.float32)], tile=128, overlap=16)
>>> out[0].shape, float(abs(out[0] - 1).max()) < 1e-6
((300, 200), True)
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import ImrestoreUsageError, option
from ..progress import item_bar
from .allocator import tune_cpu_allocator


def has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


PRECISIONS = ("auto", "fp32", "bf16")


def autocast_for(device: torch.device, precision: str = "auto") -> torch.autocast | None:
    """The bfloat16 autocast context for ``device`` that ``precision`` asks for, or None for fp32.

    ``auto`` is bf16 on a GPU and fp32 on a CPU; ``bf16`` on a CPU needs native bf16 instructions (about twice the
    speed of fp32 there; emulated bf16 would be slower than fp32, so it is refused).

    >>> autocast_for(torch.device("cpu")) is None
    True
    """
    if precision not in PRECISIONS:
        raise ImrestoreUsageError(f"{option('precision')} must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if device.type == "cpu" and not has_bf16():
        raise ImrestoreUsageError(f"{option('precision', 'bf16')} on the CPU needs bf16 instructions (AVX512-BF16 or AMX); "
                                  f"this one has none: use {option('precision', 'fp32')}")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def select_device(spec: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; ``cuda:N`` that is absent is an error.

    On CUDA it also turns on cuDNN's autotuner: batches, tiles and training
    crops have fixed shapes, so the fastest convolution algorithm is picked once.
    On the CPU it keeps large activations on the heap (see ``allocator``).
    """
    spec = (spec or "auto").lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ImrestoreUsageError(f"device {spec!r} asked for, but no CUDA GPU is available; use {option('device', 'cpu')} or {option('device', 'auto')}")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ImrestoreUsageError(f"device {spec!r}: only {torch.cuda.device_count()} GPU(s)")
        torch.backends.cudnn.benchmark = True
        return dev
    if spec == "cpu":
        tune_cpu_allocator()
        return torch.device("cpu")
    raise ImrestoreUsageError(f"unknown device {spec!r}; expected auto, cpu, cuda or cuda:N")


def available_memory(device: torch.device) -> int:
    """Bytes free for activations on ``device``."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def auto_tile(device: torch.device, bytes_per_pixel: int, multiple: int = 32, batch: int = 1, cap: int = 2048) -> int:
    """The largest tile (a multiple of ``multiple``) whose activations fit a quarter of free memory.

    On a CPU the tile is also kept to ``CPU_TILE`` pixels a side: memory-sized
    tiles only cost memory there (benchmarks/bench_tiles_cpu.py, n2n-unet on a
    1600x2400 image: balanced 1024-pixel tiles 8.9 s and 1.6 GiB peak,
    1664-pixel ones 9.2 s and 4.1 GiB; smaller tiles are slower, 512: 10.0 s).
    """
    if device.type == "cpu":
        cap = min(cap, CPU_TILE)
    budget = available_memory(device) // 4
    side = int((budget / max(bytes_per_pixel * batch, 1)) ** 0.5)
    return max(multiple * 4, min(cap, side // multiple * multiple))


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


#: Largest batch, in pixels, that the CPU path forms (see run_batches).
CPU_BATCH_PIXELS = 1 << 18
#: Largest automatic tile side on a CPU (see auto_tile).
CPU_TILE = 1024


def run_batches(model: torch.nn.Module, images: Sequence[np.ndarray], device: torch.device, batch_size: int,
                amp: bool = True, channels_last: bool = True, on_batch: Callable[[int], object] | None = None) -> np.ndarray:
    """Forward same-shaped ``YX``/``YXC`` float32 images through ``model`` in batches.

    Returns one ``(N, Y', X', C')`` float32 array.  Images travel as stored
    (``NHWC``): on the GPU the permuted view *is* the channels_last layout, so
    no layout copy is made on the host.  On CUDA, batch ``k+1`` is staged in
    pinned memory and uploaded on a copy stream while batch ``k`` computes,
    and results come back on the same stream into one pinned array.
    ``on_batch(n)`` is called after each batch of ``n`` images is computed.
    """
    if device.type == "cuda":
        return _run_batches_cuda(model, images, device, batch_size, amp, channels_last, on_batch)
    out: np.ndarray | None = None
    # On a CPU, batching large images only makes the activations fall out of the caches:
    # keep a batch under ~256k pixels (one 512x512 image, hundreds of MNIST digits).
    h, w = images[0].shape[:2] if len(images) else (1, 1)
    batch_size = max(1, min(batch_size, CPU_BATCH_PIXELS // max(h * w, 1)))
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            chunk = np.stack(images[i : i + batch_size]).astype(np.float32, copy=False)
            x = torch.from_numpy(chunk)
            x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
            y = model(x).float().permute(0, 2, 3, 1)
            if out is None:
                out = np.empty((len(images), *y.shape[1:]), np.float32)
            out[i : i + len(chunk)] = y.numpy()
            if on_batch is not None:
                on_batch(len(chunk))
    assert out is not None
    return out


def _run_batches_cuda(model, images, device, batch_size, amp, channels_last, on_batch=None) -> np.ndarray:
    main = torch.cuda.current_stream(device)
    copy = torch.cuda.Stream(device)
    starts = list(range(0, len(images), batch_size))

    def upload(i: int):
        chunk = images[i : i + batch_size]
        host = torch.empty((len(chunk), *chunk[0].shape), dtype=torch.float32, pin_memory=True)
        np.stack(chunk, out=host.numpy())
        with torch.cuda.stream(copy):
            dev = host.to(device, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record(copy)
        return dev, ready, host

    out: torch.Tensor | None = None
    with torch.inference_mode(), _autocast(device, amp):
        nxt = upload(starts[0])
        for j, i in enumerate(starts):
            dev, ready, _host = nxt
            main.wait_event(ready)
            dev.record_stream(main)
            if j + 1 < len(starts):
                nxt = upload(starts[j + 1])  # overlaps with this batch's compute
            x = dev.unsqueeze(1) if dev.ndim == 3 else dev.permute(0, 3, 1, 2)
            if not channels_last:
                x = x.contiguous()
            y = model(x).permute(0, 2, 3, 1).float()
            if out is None:
                out = torch.empty((len(images), *y.shape[1:]), dtype=torch.float32, pin_memory=True)
            done = torch.cuda.Event()
            done.record(main)
            with torch.cuda.stream(copy):
                copy.wait_event(done)
                out[i : i + y.shape[0]].copy_(y, non_blocking=True)
            y.record_stream(copy)
            if on_batch is not None:
                on_batch(int(y.shape[0]))  # queued, not finished: the bar leads the GPU by at most a batch or two
    copy.synchronize()
    assert out is not None
    return out.numpy()


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = max(tile - overlap, 1)
    starts = list(range(0, size - tile + 1, step))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """A tile's blending weights along one axis: at an edge inside the image, the first quarter of the overlap is left
    out (a network's output is wrong there: it saw zero padding, or a bicubic skip the tile's own border) and the
    rest ramps up; at the image's border, full weight."""
    w = np.ones(length, np.float64)
    if overlap > 0:
        margin = overlap // 4
        ramp = np.concatenate([np.zeros(margin), (np.arange(overlap - margin) + 0.5) / (overlap - margin)])
        if not at_start:
            w[:overlap] = np.minimum(w[:overlap], ramp)
        if not at_end:
            w[-overlap:] = np.minimum(w[-overlap:], ramp[::-1])
    return w


def predict(model: torch.nn.Module, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu", batch_size: int = 8,
            tile: int | None = None, overlap: int = 32, scale: int = 1, amp: bool = True, multiple: int = 32,
            minimum: int = 0) -> list[np.ndarray]:
    """Run ``model`` over float32 images (``YX`` or ``YXC``); tile those larger than ``tile``.

    Images of the same shape are batched together.  ``scale`` is the network's
    output/input size ratio (2 for x2 super-resolution).  Tiles are multiples
    of ``multiple`` and at least ``minimum`` pixels a side (a foreign model's sizes).
    """
    device = torch.device(device) if isinstance(device, str) else device
    results: list[np.ndarray | None] = [None] * len(images)
    groups: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(im.shape, []).append(i)
    for shape, idx in groups.items():
        grey = len(shape) == 2
        h, w = shape[:2]
        if tile is None or (h <= tile and w <= tile):
            out = run_batches(model, [images[i] for i in idx], device, batch_size, amp)
            for i, o in zip(idx, out):
                results[i] = o[..., 0] if grey else o
            continue
        for i in idx:
            results[i] = _predict_tiled(model, images[i], device, batch_size, tile, overlap, scale, amp, multiple, minimum)
    return results  # type: ignore[return-value]


class _ZAsChannels(torch.nn.Module):
    """A 3-D network seen as a 2-D one whose channels are the planes: ``N x Z x Y x X`` in and out.

    So a ZYX stack, stored as a ``YXZ`` "image", goes through :func:`predict`'s
    Y/X tiling and blending unchanged.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.unsqueeze(1)).squeeze(1)


def predict_volume(model: torch.nn.Module, volume: np.ndarray, *, device: torch.device | str = "cpu", tile: int | None = None,
                   overlap: int = 32, amp: bool = True) -> np.ndarray:
    """Run a 3-D network (``N1ZYX``) over a ``ZYX`` float32 stack, tiled in Y and X like :func:`predict`.

    >>> net = torch.nn.Identity()
    >>> predict_volume(net, np.ones((3, 40, 50), np.float32), tile=32, overlap=8).shape
    (3, 40, 50)
    """
    planes_last = np.ascontiguousarray(np.moveaxis(np.asarray(volume, np.float32), 0, -1))
    out = predict(_ZAsChannels(model), [planes_last], device=device, batch_size=1, tile=tile, overlap=overlap, amp=amp)[0]
    out = out[..., None] if out.ndim == 2 else out  # one plane: predict dropped the channel axis
    return np.ascontiguousarray(np.moveaxis(out, -1, 0))


def balanced_tile(size: int, tile: int, overlap: int, multiple: int = 32) -> int:
    """The smallest tile side (a multiple of ``multiple``, at most ``tile``) that covers ``size`` in as few tiles as ``tile`` does.

    A 600-pixel side in 512-pixel tiles would compute two 512-pixel tiles
    (1,024 pixels for 600); two 320-pixel tiles cover it as well.

    >>> balanced_tile(600, 512, 32), balanced_tile(2400, 512, 32), balanced_tile(300, 512, 32)
    (320, 512, 300)
    """
    if size <= tile:
        return size
    n = -(-(size - overlap) // max(tile - overlap, 1))
    side = -(-(size - overlap) // n) + overlap
    return min(tile, -(-side // multiple) * multiple)


def _predict_tiled(model, image, device, batch_size, tile, overlap, scale, amp, multiple=32, minimum=0) -> np.ndarray:
    grey = image.ndim == 2
    h, w = image.shape[:2]
    overlap = min(overlap, tile // 2)
    th = min(max(balanced_tile(h, tile, overlap, multiple), minimum), h)
    tw = min(max(balanced_tile(w, tile, overlap, multiple), minimum), w)
    ys, xs = _starts(h, th, overlap), _starts(w, tw, overlap)
    boxes = [(y, x) for y in ys for x in xs]
    channels = 1 if grey else image.shape[2]
    acc = np.zeros((h * scale, w * scale, channels), np.float64)
    norm = np.zeros((h * scale, w * scale, 1), np.float64)
    bar = item_bar(len(boxes), f"{h}x{w} in {len(boxes)} tiles", "tile")
    try:
        tiles = run_batches(model, [image[y : y + th, x0 : x0 + tw] for y, x0 in boxes], device, batch_size, amp,
                            on_batch=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    for (y, x0), o in zip(boxes, tiles):
        wy = _ramp(th * scale, overlap * scale, y == 0, y + th >= h)
        wx = _ramp(tw * scale, overlap * scale, x0 == 0, x0 + tw >= w)
        weight = np.outer(wy, wx)[..., None]
        sy, sx = y * scale, x0 * scale
        acc[sy : sy + th * scale, sx : sx + tw * scale] += o * weight
        norm[sy : sy + th * scale, sx : sx + tw * scale] += weight
    out = (acc / norm).astype(np.float32)
    return out[..., 0] if grey else out
