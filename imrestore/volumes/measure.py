"""fastMRI-style metrics of volumes: value and data ranges, per-plane values and sums, volume summaries, `eval`."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._version import __version__
from ..chain import DEFAULT_METRICS, compares_input, metric_keys
from ..dtypes import (
    RangeSpec,
    check_finite,
    default_range,
    parse_range,
    range_text,
    resolve_range,
    to_unit,
)
from ..errors import ImrestoreUsageError, error_reason
from ..interfaces import Metric, VolumeInfo, VolumeSource
from ..mri import center_crop
from ..params import params_of
from ..progress import progress_bar
from ..registry import build, get_registry
from ..report import ItemResult, Report
from ..similarity import squared_error_sum, squares_sum
from .formats import open_volume, plane_label

log = logging.getLogger("imrestore")


def ranged_metrics(metrics: Sequence[Metric], data_range: float | None) -> list[Metric]:
    """The metrics with ``data_range`` set to the volume maximum where they take one."""
    out = []
    for m in metrics:
        names = {p.name for p in params_of(m)}
        if data_range and "data_range" in names and m.data_range is None:
            m = dataclasses.replace(m, data_range=float(data_range))
        out.append(m)
    return out


def measure_plane(metrics: Sequence[Metric], ref: np.ndarray, est: np.ndarray, crop, keys: Sequence[str],
                  inverted: bool = False) -> tuple[dict, list[float]]:
    """Per-plane metric values (by ``keys``: the columns of the metrics as given, before :func:`ranged_metrics`) and the
    sums that volume PSNR/NMSE are made of; ``inverted``: the restorer inverted an operator, so the metrics that read
    the input minus the output as removed noise are left out (see :func:`imrestore.chain.measure`)."""
    if crop is not None:  # fastMRI crops before measuring
        ref, est = center_crop(ref, crop, axes=(0, 1)), center_crop(est, crop, axes=(0, 1))
    sums = [squared_error_sum(ref, est), squares_sum(ref), float(ref.size)]
    values = {}
    for key, m in zip(keys, metrics):
        if inverted and compares_input(m):
            values[key] = None
        elif m.spatial_ndim == 2:
            value = m.from_sums(*sums)
            values[key] = m(ref, est) if value is None else value
    return values, sums


#: ``pair(i)``: plane ``i`` of the reference and of the estimate, in [0, 1] units.
PlanePair = Callable[[int], "tuple[np.ndarray, np.ndarray]"]


class _StackBlocks:
    """``read(lo, hi)`` over one Z stack whose planes come one at a time from ``pair``: the planes of the current block
    are kept, so blocks taken in Z order read each plane once."""

    def __init__(self, pair: PlanePair, planes: Sequence[int], channel: int | None, crop) -> None:
        self.pair, self.planes, self.channel, self.crop = pair, list(planes), channel, crop
        self.kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def plane(self, z: int) -> tuple[np.ndarray, np.ndarray]:
        if z not in self.kept:
            ref, est = self.pair(self.planes[z])
            if self.crop is not None:
                ref, est = center_crop(ref, self.crop, axes=(0, 1)), center_crop(est, self.crop, axes=(0, 1))
            if self.channel is not None:
                ref, est = ref[..., self.channel], est[..., self.channel]
            self.kept[z] = (np.asarray(ref, np.float32), np.asarray(est, np.float32))
        return self.kept[z]

    def __call__(self, lo: Sequence[int], hi: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        (z0, y0), (z1, y1) = lo, hi
        for z in [z for z in self.kept if not z0 <= z < z1]:
            del self.kept[z]
        pairs = [self.plane(z) for z in range(z0, z1)]
        return np.stack([r[y0:y1] for r, _ in pairs]), np.stack([e[y0:y1] for _, e in pairs])


def measure_stacks(metrics: Sequence[Metric], keys: Sequence[str], info: VolumeInfo, pair: PlanePair,
                   crop=None) -> dict[str, float | None]:
    """The 3-D metrics (``spatial_ndim == 3``, e.g. ``ssim:3d=true``) of a volume: each on every Z stack as a whole (the
    mean over the stacks of other leading axes, and over channels), its planes read once, a block of them at a time."""
    chosen = [(k, m) for k, m in zip(keys, metrics) if m.spatial_ndim == 3]
    if not chosen:
        return {}
    lead = info.shape[: len(info.shape) - info.plane_ndim]
    nz = lead[-1] if lead else 1
    first_ref, _ = pair(0)
    if crop is not None:
        first_ref = center_crop(first_ref, crop, axes=(0, 1))
    channels = [None] if first_ref.ndim == 2 else list(range(first_ref.shape[-1]))
    shape = (nz, *first_ref.shape[:2])
    out: dict[str, float | None] = {}
    for key, metric in chosen:
        values = []
        try:
            for base in range(0, info.n_planes, nz):
                for c in channels:
                    values.append(metric.measure_blocks(shape, _StackBlocks(pair, range(base, base + nz), c, crop)))
            out[key] = float(np.mean(values))
        except ValueError as exc:  # a stack thinner than the window
            log.warning("%s: not measured (%s)", key, exc)
            out[key] = None
    return out


def _scan(src: VolumeSource, progress: bool) -> tuple[float, float]:
    """Minimum and maximum of a volume, one plane at a time; a plane that cannot be read, or holds NaN or infinite
    values, stops it before any work."""
    lo, hi = np.inf, -np.inf
    where = src.info.metadata.get("path", "the input")
    with contextlib.closing(_bar(src.info.n_planes, 0, progress, "scanning")) as bar:
        for i in range(src.info.n_planes):
            try:
                p = src.read_plane(i)
            except Exception as exc:
                raise ImrestoreUsageError(f"cannot read {where}, plane {plane_label(src.info, i)}: {error_reason(exc)}") from exc
            try:
                check_finite(p)
            except ValueError as exc:
                raise ImrestoreUsageError(f"{where}, plane {plane_label(src.info, i)}: {exc}") from None
            if p.size:
                lo, hi = min(lo, float(p.min())), max(hi, float(p.max()))
            bar.update(1)
    return (lo if np.isfinite(lo) else 0.0), (hi if np.isfinite(hi) else 1.0)


def volume_ranges(src: VolumeSource, need_max: bool, progress: bool = False,
                  spec: RangeSpec = "dtype") -> tuple[tuple[float, float], float | None]:
    """The value range mapped to [0, 1] and the volume maximum in those units (fastMRI's data range).

    ``spec`` is ``--range``: ``"dtype"`` (integers: the dtype's range; floats:
    0 or the minimum up to the maximum, or a stored ``max`` attribute),
    ``"data"`` (the volume's min..max) or a fixed ``(lo, hi)``.
    """
    info = src.info
    spec = parse_range(spec)
    rng = spec if isinstance(spec, tuple) else default_range(info.dtype) if spec == "dtype" else None
    attrs = {**info.metadata.get("file_attrs", {}), **info.metadata.get("attrs", {})}
    if rng is not None and not need_max:
        return rng, None
    stored_max = attrs.get("max")
    if rng is None and spec == "dtype" and isinstance(stored_max, (int, float)) and stored_max > 0:  # fastMRI: the volume's maximum is stored
        return (0.0, float(stored_max)), 1.0
    lo, hi = _scan(src, progress)
    if rng is None and spec == "data":
        rng = resolve_range("data", (0.0, 1.0), (lo, hi))
    elif rng is None:
        rng = (min(0.0, lo), hi if hi > min(0.0, lo) else min(0.0, lo) + 1.0)
    vmax = float(attrs["max"]) if isinstance(attrs.get("max"), (int, float)) else hi
    return rng, (vmax - rng[0]) / (rng[1] - rng[0])


def volume_summary(report: Report, sums: list[dict], data_range: float | None, info: VolumeInfo, crop) -> dict:
    """fastMRI's volume metrics: PSNR and NMSE from summed errors, other metrics as the mean over planes."""
    out: dict = {"shape": list(info.shape), "axes": info.axes, "dtype": str(info.dtype), "planes": info.n_planes,
                 "data_range": data_range, "center_crop": list(crop) if crop else None}
    for stage in report.stages():
        totals = np.sum([s[stage] for s in sums if stage in s], axis=0) if sums else None
        values: dict[str, float | None] = dict(report.mean().get(stage, {}))
        if totals is not None and np.ndim(totals) == 1:
            sse, ref_sq, n = totals
            for key in report.metrics:
                if key == "nmse":
                    values[key] = float(sse / ref_sq) if ref_sq else None
                elif key == "mse":
                    values[key] = float(sse / n)
                elif key == "psnr":
                    values[key] = float(10 * np.log10((data_range or 1.0) ** 2 / (sse / n))) if sse else float("inf")
        out[stage] = values
    return out


# --------------------------------------------------------------------------- eval


def evaluate_volumes(reference: str | Path, estimate: str | Path, metrics: Sequence[str | Metric] | None = None,
                     center_crop: tuple[int, int] | None = None, progress: bool = False,
                     value_range: RangeSpec = "dtype") -> Report:
    """fastMRI-style metrics between two volumes of the same shape, plane by plane.

    ``value_range`` (``--range``) sets the reference's units; with anything but
    ``"dtype"`` the estimate is read in the same units.
    """
    objs = [build(m, kind="metric") if isinstance(m, str) else m for m in (DEFAULT_METRICS if metrics is None else metrics)]
    ref_src, est_src = open_volume(reference), open_volume(estimate)
    with ref_src, est_src:
        info = ref_src.info
        if est_src.info.shape != info.shape:
            raise ImrestoreUsageError(f"shapes differ: {reference} is {info.shape}, {estimate} is {est_src.info.shape}")
        spec = parse_range(value_range)
        value_range, data_range = volume_ranges(ref_src, True, progress, spec)
        est_range = default_range(est_src.info.dtype) if est_src.info.dtype == info.dtype and spec == "dtype" else None
        est_range = est_range or value_range
        mets = ranged_metrics(objs, data_range)
        report = Report(chain=[], metrics=metric_keys(objs), seed=0, input=str(reference), output=str(estimate),
                        versions={"imrestore": __version__, **get_registry().versions()}, value_range=range_text(spec))
        sums = []
        bar = _bar(info.n_planes, 0, progress, "planes")
        t_start = time.perf_counter()
        for i in range(info.n_planes):
            t0 = time.perf_counter()
            ref = to_unit(ref_src.read_plane(i), value_range)[0]
            est = to_unit(est_src.read_plane(i), est_range)[0]
            values, s = measure_plane(mets, ref, est, center_crop, report.metrics)
            sums.append({"estimate": s})
            report.items.append(ItemResult(path=plane_label(info, i), status="measured", output=str(estimate),
                                           seconds=time.perf_counter() - t0, metrics={"estimate": values}))
            bar.update(1)
        bar.close()
        report.volume = volume_summary(report, sums, data_range, info, center_crop)
        report.volume["estimate"].update(measure_stacks(mets, report.metrics, info, lambda i: (to_unit(ref_src.read_plane(i), value_range)[0],
                                                                              to_unit(est_src.read_plane(i), est_range)[0]), center_crop))
        report.seconds = time.perf_counter() - t_start
    return report


# --------------------------------------------------------------------------- progress


def _bar(total: int, initial: int, progress: bool | Callable, unit: str):
    if unit == "scanning":
        return progress_bar(total, progress, unit="plane", desc="scanning", leave=False)
    return progress_bar(total, progress, unit="plane", initial=initial)

