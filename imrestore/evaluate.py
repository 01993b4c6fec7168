"""Metrics between two images, two files or two folders (``imrestore eval``).

>>> import numpy as np
>>> evaluate_arrays(np.zeros((8, 8)), np.full((8, 8), 0.1), ["psnr"])
{'psnr': 20.0}
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ._version import __version__
from .chain import DEFAULT_METRICS, NO_REFERENCE_METRICS, measure, metric_keys
from .dtypes import RangeSpec, apply_range, check_finite, parse_range, quantize, range_text
from .errors import ImrestoreUsageError, error_reason
from .files import discover, read_image, read_like
from .interfaces import Metric
from .registry import build, get_registry
from .report import ItemResult, Report


def _metrics(metrics: Iterable[str | Metric] | None) -> list[Metric]:
    names = DEFAULT_METRICS if metrics is None else metrics
    return [build(m, kind="metric") if isinstance(m, str) else m for m in names]


def evaluate_arrays(reference: np.ndarray, estimate: np.ndarray, metrics: Sequence[str | Metric] | None = None) -> dict:
    """Every metric between two float arrays in [0, 1] (rounded to 10 digits)."""
    objs = _metrics(metrics)
    return {k: (None if v is None else round(v, 10)) for k, v in measure(objs, np.asarray(reference, np.float64), np.asarray(estimate, np.float64)).items()}


def evaluate_files(reference: Path | str, estimate: Path | str, metrics: Sequence[str | Metric] | None = None,
                   value_range: RangeSpec = "dtype", no_reference: bool = False) -> Report:
    """Metrics between two files, or two folders matched by relative path.

    Files of the reference folder with no counterpart are reported as failed.
    ``value_range`` (``--range``) sets the reference's [0, 1] units; the
    estimate is measured in the same units.  With ``no_reference``, the first
    argument is the noisy input the estimate was restored from (real data,
    no clean image): the metrics default to the no-reference ones, and the
    input is measured too (stage ``corrupted``), as ``imrestore run`` does.
    """
    if no_reference and metrics is None:
        metrics = NO_REFERENCE_METRICS
    ref, est = Path(reference), Path(estimate)
    for p in (ref, est):
        if not p.exists():
            raise ImrestoreUsageError(f"{p} does not exist")
    if ref.is_dir() != est.is_dir():
        raise ImrestoreUsageError("compare two files or two folders, not a file with a folder")
    objs = _metrics(metrics)
    value_range = parse_range(value_range)
    if ref.is_dir():
        pairs = [(p, est / p.relative_to(ref), p.relative_to(ref).as_posix()) for p in discover(ref)]
        if not pairs:
            raise ImrestoreUsageError(f"no images found in {ref}")
    else:
        pairs = [(ref, est, est.name)]
    report = Report(chain=[], metrics=metric_keys(objs), seed=0, input=str(ref), output=str(est),
                    versions={"imrestore": __version__, **get_registry().versions()}, value_range=range_text(value_range),
                    reference="none" if no_reference else "input")
    start = time.perf_counter()
    for r, e, key in pairs:
        t0 = time.perf_counter()
        item = ItemResult(path=key, status="measured", output=str(e))
        try:
            if not e.exists():
                raise FileNotFoundError(f"no counterpart {e}")
            a = apply_range(read_image(r), value_range)
            b = read_like(e, a, value_range)
            va = quantize(a.data, a.dtype, a.value_range)
            vb = quantize(b.data, b.dtype, b.value_range)
            if va.shape != vb.shape:
                raise ValueError(f"shapes differ: {va.shape} vs {vb.shape}")
            for name, values in (("the reference", va), ("the estimate", vb)):  # a metric of NaNs is NaN: printed as '-', said nowhere
                try:
                    check_finite(values)
                except ValueError as exc:
                    raise ValueError(f"{name}: {str(exc).split(';')[0]}") from None
            notes: list[str] = []
            if no_reference:
                item.metrics["corrupted"] = measure(objs, va, va, notes)
            item.metrics["estimate"] = measure(objs, va, vb, notes)
            item.note = "; ".join(notes)
        except Exception as exc:
            item.status, item.error = "failed", error_reason(exc)
        item.seconds = time.perf_counter() - t0
        report.items.append(item)
    report.seconds = time.perf_counter() - start
    return report
