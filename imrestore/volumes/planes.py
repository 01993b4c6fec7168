"""The work of one plane (or one slab of planes for 3-D restorers): read, corrupt, restore, measure, write.

:class:`PlaneContext` is the work object a volume run hands its executor (see
:mod:`imrestore.executors`); a unit is ``(planes, halo)``: the planes to keep
and, for 3-D restorers, the planes around them that the restorer also sees.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..chain import INVERTED, Chain
from ..dtypes import NonFinitePixels, from_unit, to_unit
from ..errors import ImrestoreUsageError
from ..executors import settle
from ..interfaces import VolumeFormat, VolumeInfo, VolumeSource
from ..noise import estimate_mri_sigma, texture_veto
from .formats import open_volume, plane_label
from .measure import measure_plane, ranged_metrics

Unit = tuple[list[int], list[int]]

# --------------------------------------------------------------------------- the work of one plane


@dataclass
class PlaneContext:
    """Everything a worker needs to process any plane (sent once to each worker)."""

    chain: Chain
    seed: int
    source: str  # the input as given (file[:inner])
    key: str  # seeds the corruptions: volume name
    dtype: np.dtype
    value_range: tuple[float, float]
    data_range: float | None  # fastMRI: the reference volume's maximum, in [0, 1] units
    center_crop: tuple[int, int] | None = None
    output: DirectOutput | None = None  # set when workers write their planes themselves

    def fetch(self, unit: Unit) -> dict[int, np.ndarray]:
        """Read the unit's planes (in a serial run, on the reader thread while the previous unit computes)."""
        source = _source(self.source)
        return {i: source.read_plane(i) for i in sorted({*unit[0], *unit[1]})}

    def process(self, unit: Unit, raw: dict[int, np.ndarray]) -> list[PlaneResult]:
        """Process a unit and, when workers write (``output``), write its planes into the output.

        The output is opened for each unit and closed after it (a plane takes far
        longer to compute than that), so no worker keeps a handle on a file that
        the main process renames at the end.  The main process flushes and records
        the planes after they come back, as for the planes it writes.
        """
        results = process_unit(self, unit, raw, later=True)
        if self.output is not None:
            out = self.output
            with out.fmt.reopen(out.path, out.info, out.inner) as sink:
                for res in results:
                    sink.write_plane(res.index, res.data)
            for res in results:
                res.data = None  # nothing to send back
        return results

    def release(self) -> None:
        """Close the inputs this process opened."""
        close_sources()


@dataclass
class DirectOutput:
    """The partial output that parallel workers write into (formats with ``parallel_writes``)."""

    fmt: VolumeFormat
    path: Path
    info: VolumeInfo
    inner: str | None


@dataclass
class PlaneResult:
    index: int
    data: np.ndarray | None  # None once a worker wrote it into the output
    seconds: float
    metrics: dict[str, dict[str, float | None]]
    sums: dict[str, list[float]]  # stage -> [squared error, squared reference, pixels]
    estimated: dict = field(default_factory=dict)  # what the restorer estimated from the plane
    later: Callable[[], None] | None = None  # the measuring, left to :func:`imrestore.executors.settle`


_OPEN: dict[str, VolumeSource] = {}


def _source(text: str) -> VolumeSource:
    """One open source per worker process and input."""
    src = _OPEN.get(text)
    if src is None:
        src = _OPEN[text] = open_volume(text)
    return src


def close_sources() -> None:
    for src in _OPEN.values():
        src.close()
    _OPEN.clear()


def corrupt_plane(source: VolumeSource, chain: Chain, i: int, value_range: tuple[float, float], seed: int, key: str,
                  raw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Plane ``i`` of ``source`` (``raw``, else read now) in [0, 1] units, its corrupted version and the degradation
    record: the one definition of what a volume run hands its restorer (the HTML report redraws its examples with it).
    ``key`` is the volume's name; with ``seed`` it seeds the plane's corruption, so a rerun draws the same."""
    ref, _ = to_unit(source.read_plane(i) if raw is None else raw, value_range)
    takers = [*chain.corruptions, *([chain.restorer] if chain.restorer is not None else [])]
    measured = source.read_measurements(i) if any(t.consumes for t in takers) else {}
    if measured:
        measured.setdefault("value_range", value_range)
    try:
        corrupted, degradation = chain.corrupt(ref, seed, f"{key}/{i}", measured=measured, value_range=value_range)
    except NonFinitePixels as exc:  # the whole volume's run stops here: nothing to resume that a rerun would not meet again
        raise ImrestoreUsageError(f"plane {plane_label(source.info, i)}: {exc}") from None
    if source.info.metadata.get("layout") == "fastmri":  # the file says it is MRI: its noise is that of a magnitude image
        degradation["modality"] = "mri"
    return ref, corrupted, degradation


def _corrupt_plane(ctx: PlaneContext, i: int, raw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """:func:`corrupt_plane` in a run, the record completed with what the whole volume says of its noise."""
    source = _source(ctx.source)
    ref, corrupted, degradation = corrupt_plane(source, ctx.chain, i, ctx.value_range, ctx.seed, ctx.key, raw)
    degradation.update(_volume_noise(ctx, source, degradation))
    return ref, corrupted, degradation


#: Where a restorer estimates the noise of a real-data volume, one look at the whole acquisition first, from up to this
#: many planes spread over it: MRI magnitude noise has one sigma for the acquisition (one receiver chain), which one
#: small plane's few flat blocks overestimate; and noise=auto learns whether a signal dependence is texture.
VOLUME_PLANES = 16
_VOLUME_NOISE: dict[tuple, dict] = {}


def _volume_noise(ctx: PlaneContext, source: VolumeSource, degradation: dict) -> dict:
    """What the whole volume says of its noise, for each plane's record (computed once per volume and process):
    ``mri_sigma`` (``noise=mri``, or ``auto`` on a file that says it is MRI) or a ``texture_veto`` (``auto``)."""
    restorer = ctx.chain.restorer
    if ctx.chain.corruptions or restorer is None or any(getattr(restorer, k, None) is not None for k in ("sigma", "noise_a", "noise_b")):
        return {}
    noise = getattr(restorer, "noise", None)
    mri = noise == "mri" or (noise == "auto" and degradation.get("modality") == "mri")
    if not mri and (noise != "auto" or source.info.plane_ndim != 2):
        return {}
    key = (ctx.source, tuple(ctx.value_range), mri)
    if key not in _VOLUME_NOISE:
        n = source.info.n_planes
        picks = np.unique(np.linspace(0, n - 1, min(VOLUME_PLANES, n)).round().astype(int))
        planes = [to_unit(source.read_plane(int(j)), ctx.value_range)[0] for j in picks]
        if mri:
            _VOLUME_NOISE[key] = {"mri_sigma": estimate_mri_sigma(planes), "mri_sigma_planes": len(planes)}
        else:
            veto = texture_veto(planes)
            _VOLUME_NOISE[key] = {"texture_veto": dataclasses.asdict(veto)} if veto is not None else {}
    return _VOLUME_NOISE[key]


def _finish_plane(ctx: PlaneContext, i: int, ref, corrupted, restored, t0: float, later: bool = False,
                  estimated: dict | None = None) -> PlaneResult:
    """Convert to the output dtype and measure, as written (``estimated``: what the restorer recorded)."""
    final = restored if restored is not None else corrupted
    if final.shape != ref.shape:
        raise ImrestoreUsageError(f"the chain changed the plane shape {ref.shape} to {final.shape}; volume runs keep the shape")
    out = from_unit(final, ctx.dtype, ctx.value_range)
    result = PlaneResult(i, out, time.perf_counter() - t0, {}, {}, estimated if estimated is not None else {})
    if ctx.chain.metrics:  # ``later``: left to the executor (a serial run measures on a thread while the next plane computes)
        result.later = functools.partial(_measure, ctx, result, ref, corrupted, restored is not None, out)
        if not later:
            settle([result])
    return result


def _measure(ctx: PlaneContext, result: PlaneResult, ref: np.ndarray, corrupted: np.ndarray, restored: bool,
             out: np.ndarray) -> None:
    """Fill a plane's metrics and sums: each stage as written (``out``: the output plane, in the output dtype)."""
    t0 = time.perf_counter()
    mets = ranged_metrics(ctx.chain.metrics, ctx.data_range)
    stages = [("corrupted", corrupted)] + ([("restored", None)] if restored else [])
    for stage, data in stages:  # float32 planes: no float64 copies (see Metric.float32)
        written = out if data is None else from_unit(data, ctx.dtype, ctx.value_range)
        est = to_unit(written, ctx.value_range)[0]
        inverted = stage == "restored" and INVERTED in result.estimated
        result.metrics[stage], result.sums[stage] = measure_plane(mets, ref, est, ctx.center_crop, ctx.chain.metric_keys,
                                                                  inverted)
    result.seconds += time.perf_counter() - t0


def process_plane(ctx: PlaneContext, i: int, raw: np.ndarray | None = None, *, later: bool = False) -> PlaneResult:
    """Read (unless ``raw`` is given), corrupt, restore and measure plane ``i`` (``later``: leave the measuring to
    :func:`imrestore.executors.settle`); return it in the output dtype."""
    t0 = time.perf_counter()
    ref, corrupted, degradation = _corrupt_plane(ctx, i, raw)
    restored = ctx.chain.restore(corrupted, degradation)
    return _finish_plane(ctx, i, ref, corrupted, restored, t0, later, degradation.get("estimated", {}))


def process_slab(ctx: PlaneContext, planes: Sequence[int], halo: Sequence[int],
                 raw: dict[int, np.ndarray] | None = None, *, later: bool = False) -> list[PlaneResult]:
    """A 3-D restorer on a block of consecutive Z planes plus ``halo`` planes on each side.

    Every plane is corrupted on its own (seeded by its index, as in the 2-D
    path); the restorer sees the stacked ZYX block; the planes of ``planes`` are
    kept.  The slab grid is fixed, so a resumed run recomputes whole slabs and
    gets the same bytes.
    """
    t0 = time.perf_counter()
    block = sorted(set(planes) | set(halo))
    raw = raw or {}
    parts = {i: _corrupt_plane(ctx, i, raw.get(i)) for i in block}
    stacked = np.stack([parts[i][1] for i in block])
    degradation = parts[block[0]][2]
    restored = ctx.chain.restorer.restore([stacked], [degradation])[0]
    per_plane = (time.perf_counter() - t0) / len(planes)
    return [_finish_plane(ctx, i, parts[i][0], parts[i][1], restored[block.index(i)], time.perf_counter() - per_plane, later,
                          degradation.get("estimated", {})) for i in planes]


def work_units(info: VolumeInfo, todo: Sequence[int], restorer) -> list[tuple[list[int], list[int]]]:
    """What each job does: one plane for 2-D restorers; fixed slabs of Z planes (and their halo) for 3-D ones."""
    if restorer is None or restorer.spatial_ndim != 3:
        return [([i], []) for i in todo]
    lead = info.shape[: len(info.shape) - info.plane_ndim]
    nz = lead[-1] if lead else 1
    depth, halo = max(1, restorer.slab_depth), max(0, restorer.slab_halo)
    wanted = set(todo)
    units = []
    for base in range(0, info.n_planes, nz):  # each outer index (T, C...) on its own
        for start in range(0, nz, depth):
            planes = [base + z for z in range(start, min(start + depth, nz))]
            if wanted.intersection(planes):
                around = [base + z for z in range(max(0, start - halo), min(nz, start + depth + halo))]
                units.append((planes, [i for i in around if i not in planes]))
    return units


def process_unit(ctx: PlaneContext, unit: Unit, raw: dict[int, np.ndarray] | None = None, *, later: bool = False) -> list[PlaneResult]:
    """The planes of one unit (``raw``: planes already read, by index)."""
    planes, halo = unit
    raw = raw or {}
    if ctx.chain.restorer is not None and ctx.chain.restorer.spatial_ndim == 3:
        return process_slab(ctx, planes, halo, raw, later=later)
    return [process_plane(ctx, i, raw.get(i), later=later) for i in planes]
