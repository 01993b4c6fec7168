"""Running a chain over a volume plane by plane: bounded memory, resumable, serial, pooled or on Dask.

A volume (a TIFF stack, an HDF5 dataset, a Zarr array) is a stream of planes:
the trailing ``YX`` (or ``YXS``) axes.  Each plane is read, corrupted (seeded
by the volume's name and the plane's index, so any order gives the same
draws), restored, converted back to the input's dtype and written into an
output made up front beside the target.  A small JSON record of finished
planes is updated after each flush, so a stopped run continues where it
stopped; the output is renamed into place only when every plane is in.

Metrics follow fastMRI: the data range is the reference volume's maximum;
PSNR and NMSE of the volume come from the summed squared errors, SSIM is the
mean over planes; each plane is also reported on its own.

Example
-------
>>> from imrestore.volumes import run_volume
>>> report = run_volume(["gaussian:sigma=10", "restorer:wavelet"], "stack.tif", "out.tif")  # doctest: +SKIP
>>> report.volume["restored"]["psnr"]  # doctest: +SKIP
41.2
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .chain import Chain, metric_keys
from .dtypes import default_range, from_unit, to_unit
from .errors import ImrestoreUsageError, RunStopped
from .interfaces import Metric, VolumeFormat, VolumeInfo, VolumeSource
from .mri import center_crop
from .params import params_of
from .registry import get_registry
from .report import ItemResult, Report, atomic_write_text

log = logging.getLogger("imrestore")

PARTIAL_TAG = ".imrestore-partial"
#: Seconds between flushes of the output and the record of finished planes.
FLUSH_EVERY_S = 2.0


# --------------------------------------------------------------------------- paths and formats


def split_volume_path(text: str | Path) -> tuple[Path, str | None]:
    """Split ``file.h5:/group/data`` into the file and the inner path.

    >>> split_volume_path("scan.h5:/kspace")
    (PosixPath('scan.h5'), '/kspace')
    >>> split_volume_path("stack.tif")
    (PosixPath('stack.tif'), None)
    """
    text = str(text)
    lower = text.lower()
    for suffix in sorted(get_registry().suffixes("volume"), key=len, reverse=True):
        at = lower.find(suffix + ":")
        if at > 0:
            inner = text[at + len(suffix) + 1 :]
            return Path(text[: at + len(suffix)]), ("/" + inner.lstrip("/")) if inner else None
    return Path(text), None


def format_for(path: Path, must_accept: bool = True) -> VolumeFormat | None:
    """The volume format for ``path`` (by suffix; an existing file must also be accepted)."""
    suffix = path.suffix.lower()
    for entry in get_registry().entries["volume"].values():
        if suffix in entry.cls.suffixes:
            fmt = entry.cls()
            if not must_accept or fmt.accepts(path):
                return fmt
    return None


def is_volume(path_text: str | Path) -> bool:
    """Whether ``path_text`` names an existing volume (a stack, an HDF5 dataset, a Zarr store)."""
    path, _ = split_volume_path(path_text)
    return path.exists() and format_for(path) is not None


def open_volume(path_text: str | Path) -> VolumeSource:
    """Open a volume for reading; a malformed file gives one line that names it."""
    path, inner = split_volume_path(path_text)
    if not path.exists():
        raise ImrestoreUsageError(f"input {path} does not exist")
    fmt = format_for(path)
    if fmt is None:
        raise ImrestoreUsageError(f"{path} is not a volume imrestore can read")
    try:
        src = fmt.open(path, inner)
    except Exception as exc:
        raise ImrestoreUsageError(f"cannot read {path}: {_reason(exc)}") from exc
    src.info.metadata.setdefault("path", str(path))
    return src


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def plane_label(info: VolumeInfo, i: int) -> str:
    """A human name for plane ``i``: ``Z=3`` or ``T=0,Z=3``."""
    lead = info.axes[: len(info.axes) - info.plane_ndim]
    return ",".join(f"{a}={v}" for a, v in zip(lead, info.plane_index(i))) or "plane"


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


def ranged_metrics(metrics: Sequence[Metric], data_range: float | None) -> list[Metric]:
    """The metrics with ``data_range`` set to the volume maximum where they take one."""
    out = []
    for m in metrics:
        names = {p.name for p in params_of(m)}
        if data_range and "data_range" in names and m.data_range is None:
            m = dataclasses.replace(m, data_range=float(data_range))
        out.append(m)
    return out


def measure_plane(metrics: Sequence[Metric], ref: np.ndarray, est: np.ndarray, crop) -> tuple[dict, list[float]]:
    """Per-plane metric values and the sums that volume PSNR/NMSE are made of."""
    if crop is not None:  # fastMRI crops before measuring
        ref, est = center_crop(ref, crop, axes=(0, 1)), center_crop(est, crop, axes=(0, 1))
    values = {k: m(ref, est) for k, m in zip(metric_keys(metrics), metrics)}
    diff = ref - est
    return values, [float(np.vdot(diff, diff)), float(np.vdot(ref, ref)), float(ref.size)]


def _corrupt_plane(ctx: PlaneContext, i: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Plane ``i`` in [0, 1] units, its corrupted version and the degradation record."""
    source = _source(ctx.source)
    raw = _READ_AHEAD.pop((ctx.source, i), None)
    ref, _ = to_unit(source.read_plane(i) if raw is None else raw, ctx.value_range)
    measured = source.read_measurements(i) if any(c.consumes for c in ctx.chain.corruptions) else {}
    if measured:
        measured.setdefault("value_range", ctx.value_range)
    corrupted, degradation = ctx.chain.corrupt(ref, ctx.seed, f"{ctx.key}/{i}", measured=measured)
    return ref, corrupted, degradation


def _finish_plane(ctx: PlaneContext, i: int, ref, corrupted, restored, t0: float) -> PlaneResult:
    """Convert to the output dtype and measure, as written."""
    final = restored if restored is not None else corrupted
    if final.shape != ref.shape:
        raise ValueError(f"the chain changed the plane shape {ref.shape} to {final.shape}; volume runs keep the shape")
    out = from_unit(final, ctx.dtype, ctx.value_range)
    metrics: dict = {}
    sums: dict = {}
    if ctx.chain.metrics:
        mets = ranged_metrics(ctx.chain.metrics, ctx.data_range)
        ref64 = ref.astype(np.float64)
        stages = [("corrupted", corrupted)] + ([("restored", None)] if restored is not None else [])
        for stage, data in stages:
            written = out if data is None else from_unit(data, ctx.dtype, ctx.value_range)
            est = to_unit(written, ctx.value_range)[0].astype(np.float64)
            metrics[stage], sums[stage] = measure_plane(mets, ref64, est, ctx.center_crop)
    return PlaneResult(i, out, time.perf_counter() - t0, metrics, sums)


def process_plane(ctx: PlaneContext, i: int) -> PlaneResult:
    """Read, corrupt, restore and measure plane ``i``; return it in the output dtype."""
    t0 = time.perf_counter()
    ref, corrupted, degradation = _corrupt_plane(ctx, i)
    restored = ctx.chain.restorer.restore([corrupted], [degradation])[0] if ctx.chain.restorer else None
    return _finish_plane(ctx, i, ref, corrupted, restored, t0)


def process_slab(ctx: PlaneContext, planes: Sequence[int], halo: Sequence[int]) -> list[PlaneResult]:
    """A 3-D restorer on a block of consecutive Z planes plus ``halo`` planes on each side.

    Every plane is corrupted on its own (seeded by its index, as in the 2-D
    path); the restorer sees the stacked ZYX block; the planes of ``planes`` are
    kept.  The slab grid is fixed, so a resumed run recomputes whole slabs and
    gets the same bytes.
    """
    t0 = time.perf_counter()
    block = sorted(set(planes) | set(halo))
    parts = {i: _corrupt_plane(ctx, i) for i in block}
    stacked = np.stack([parts[i][1] for i in block])
    restored = ctx.chain.restorer.restore([stacked], [parts[block[0]][2]])[0]
    per_plane = (time.perf_counter() - t0) / len(planes)
    return [_finish_plane(ctx, i, parts[i][0], parts[i][1], restored[block.index(i)], time.perf_counter() - per_plane)
            for i in planes]


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


def process_unit(ctx: PlaneContext, unit: tuple[list[int], list[int]]) -> list[PlaneResult]:
    planes, halo = unit
    if ctx.chain.restorer is not None and ctx.chain.restorer.spatial_ndim == 3:
        return process_slab(ctx, planes, halo)
    return [process_plane(ctx, i) for i in planes]


def process_and_write(ctx: PlaneContext, unit: tuple[list[int], list[int]]) -> list[PlaneResult]:
    """A parallel worker's job: process a unit and, where the format allows, write its planes itself.

    The output is opened for each unit and closed after it (a plane takes far
    longer to compute than that), so no worker keeps a handle on a file that
    the main process renames at the end.  The main process flushes and records
    the planes after they come back, as for the planes it writes.
    """
    results = process_unit(ctx, unit)
    if ctx.output is not None:
        out = ctx.output
        with out.fmt.reopen(out.path, out.info, out.inner) as sink:
            for res in results:
                sink.write_plane(res.index, res.data)
        for res in results:
            res.data = None  # nothing to send back
    return results


# --------------------------------------------------------------------------- executors


Unit = tuple[list[int], list[int]]

#: Planes read ahead by the serial path's reader thread, by (source, index).
_READ_AHEAD: dict[tuple[str, int], np.ndarray] = {}


def _serial(ctx: PlaneContext, units: Sequence[Unit]) -> Iterator[list[PlaneResult]]:
    """One process; a reader thread fetches the next unit's planes while this one computes."""
    from concurrent.futures import ThreadPoolExecutor

    if not units:
        return
    source = _source(ctx.source)  # opened here, not raced by the reader thread

    def fetch(unit: Unit) -> dict[int, np.ndarray]:
        return {i: source.read_plane(i) for i in sorted({*unit[0], *unit[1]})}

    with ThreadPoolExecutor(1, thread_name_prefix="imrestore-reader") as reader:
        ahead = reader.submit(fetch, units[0])
        try:
            for k, unit in enumerate(units):
                planes = ahead.result()
                if k + 1 < len(units):
                    ahead = reader.submit(fetch, units[k + 1])
                _READ_AHEAD.update({(ctx.source, i): p for i, p in planes.items()})
                try:
                    yield process_unit(ctx, unit)
                finally:
                    for i in planes:
                        _READ_AHEAD.pop((ctx.source, i), None)
        finally:
            ahead.cancel()


class PlaneWriter:
    """Writes planes, flushes and records them on one background thread, in order.

    File I/O then overlaps the next plane's work.  A plane is added to the
    record only by the flush that follows its write, so the record never
    claims a plane that is not in the file.  At most a few writes wait in line
    (bounded memory); a write that fails raises in the caller.
    """

    def __init__(self, sink, record: dict, record_path: Path, max_pending: int = 3):
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.sink, self.record, self.record_path = sink, record, record_path
        self.unflushed: dict[str, dict] = {}
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="imrestore-writer")
        self.pending: deque = deque()
        self.max_pending = max_pending

    def _submit(self, fn, *args) -> None:
        self.pending.append(self.pool.submit(fn, *args))
        while len(self.pending) > self.max_pending or (self.pending and self.pending[0].done()):
            self.pending.popleft().result()

    def _write(self, index: int, data: np.ndarray | None, entry: dict) -> None:
        if data is not None:  # None: a worker wrote it already
            self.sink.write_plane(index, data)
        self.unflushed[str(index)] = entry

    def _flush(self) -> None:
        self.sink.flush()
        self.record["done"].update(self.unflushed)
        self.unflushed.clear()
        atomic_write_text(self.record_path, json.dumps(self.record))

    def write(self, index: int, data: np.ndarray, entry: dict) -> None:
        self._submit(self._write, index, data, entry)

    def flush(self) -> None:
        self._submit(self._flush)

    def close(self) -> None:
        """Wait for every write, flush and record them; raise the first error."""
        error = None
        while self.pending:
            try:
                self.pending.popleft().result()
            except Exception as exc:  # noqa: BLE001 - finish the others, then raise the first
                error = error or exc
        self.pool.shutdown(wait=True)
        self._flush()
        if error is not None:
            raise error


_CTX: PlaneContext | None = None


def _init_worker(ctx: PlaneContext) -> None:
    global _CTX
    _CTX = ctx


def _pool_job(unit: Unit) -> list[PlaneResult]:
    assert _CTX is not None
    return process_and_write(_CTX, unit)


def _pool(ctx: PlaneContext, units: Sequence[Unit], workers: int) -> Iterator[list[PlaneResult]]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(ctx,)) as pool:
        pending, queue = set(), list(units)
        try:
            while queue or pending:
                while queue and len(pending) < 2 * workers:  # bounded: at most two units per worker in flight
                    pending.add(pool.submit(_pool_job, queue.pop(0)))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _dask(ctx: PlaneContext, units: Sequence[Unit], workers: int, scheduler: str | None) -> Iterator[list[PlaneResult]]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImrestoreUsageError("--dask and --scheduler need dask.distributed: pip install 'dask[distributed]'") from None
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as exc:
                raise ImrestoreUsageError(f"cannot reach the Dask scheduler at {scheduler}: {_reason(exc)}") from exc
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        n = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})) if scheduler else workers)
        ctx_future = client.scatter(ctx, broadcast=True, hash=False)
        queue = list(units)
        first = [client.submit(process_and_write, ctx_future, queue.pop(0), pure=False) for _ in range(min(len(queue), 2 * n))]
        stream = as_completed(first)
        for fut in stream:
            result = fut.result()
            fut.release()
            if queue:
                stream.add(client.submit(process_and_write, ctx_future, queue.pop(0), pure=False))
            yield result


# --------------------------------------------------------------------------- the run


def _scan(src: VolumeSource, progress: bool) -> tuple[float, float]:
    """Minimum and maximum of a volume, one plane at a time."""
    lo, hi = np.inf, -np.inf
    bar = _bar(src.info.n_planes, 0, progress, "scanning")
    for i in range(src.info.n_planes):
        try:
            p = src.read_plane(i)
        except Exception as exc:
            raise ImrestoreUsageError(f"cannot read {src.info.metadata.get('path', 'the input')}, plane {plane_label(src.info, i)}: {_reason(exc)}") from exc
        finite = p[np.isfinite(p)] if p.dtype.kind == "f" else p
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
        bar.update(1)
    bar.close()
    return (lo if np.isfinite(lo) else 0.0), (hi if np.isfinite(hi) else 1.0)


def volume_ranges(src: VolumeSource, need_max: bool, progress: bool = False) -> tuple[tuple[float, float], float | None]:
    """The value range mapped to [0, 1] and the volume maximum in those units (fastMRI's data range)."""
    info = src.info
    rng = default_range(info.dtype)
    attrs = {**info.metadata.get("file_attrs", {}), **info.metadata.get("attrs", {})}
    if rng is not None and not need_max:
        return rng, None
    stored_max = attrs.get("max")
    if rng is None and isinstance(stored_max, (int, float)) and stored_max > 0:  # fastMRI: the volume's maximum is stored
        return (0.0, float(stored_max)), 1.0
    lo, hi = _scan(src, progress)
    if rng is None:
        rng = (min(0.0, lo), hi if hi > min(0.0, lo) else min(0.0, lo) + 1.0)
    vmax = float(attrs["max"]) if isinstance(attrs.get("max"), (int, float)) else hi
    return rng, (vmax - rng[0]) / (rng[1] - rng[0])


@dataclass
class VolumeTarget:
    path: Path  # final output
    inner: str | None
    fmt: VolumeFormat
    partial: Path
    record: Path
    report_folder: Path
    report_stem: str


def plan_volume(input_text: str, output_text: str | Path, src_path: Path) -> VolumeTarget:
    dst, inner = split_volume_path(output_text)
    if dst.is_dir() and dst.suffix.lower() != ".zarr" or (not dst.suffix and not dst.exists()):
        dst = dst / src_path.name
    fmt = format_for(dst, must_accept=False)
    if fmt is None:
        known = " ".join(sorted(get_registry().suffixes("volume")))
        raise ImrestoreUsageError(f"no volume writer for {dst.suffix or 'files without a suffix'!r} ({dst}); use one of {known}")
    if dst.resolve() == src_path.resolve():
        raise ImrestoreUsageError(f"output {dst} is the input; choose another output")
    partial = dst.with_name(f".{dst.stem}{PARTIAL_TAG}{dst.suffix}")
    record = dst.with_name(f".{dst.name}{PARTIAL_TAG}.json")
    return VolumeTarget(dst, inner, fmt, partial, record, dst.parent, f"{dst.name}.report")


def _identity(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def run_volume(
    chain: Chain | Sequence[str],
    input_path: str | Path,
    output_path: str | Path,
    *,
    metrics: Iterable[str] | None = None,
    seed: int = 0,
    workers: int = 1,
    dask: bool = False,
    scheduler: str | None = None,
    overwrite: bool = False,
    center_crop: tuple[int, int] | None = None,
    progress: bool | Callable = False,
    command: list[str] | None = None,
) -> Report:
    """Run a chain over every plane of a volume into a volume of the same shape, dtype and metadata.

    Rerunning the same command after a crash or Ctrl-C continues the partial
    output; the result equals an uninterrupted run.  ``dask`` starts a local
    cluster of ``workers`` processes; ``scheduler`` uses an existing one.
    """
    if not isinstance(chain, Chain):
        chain = Chain.from_specs(chain, metrics)
    if chain.restorer is not None and chain.restorer.scale != 1:
        raise ImrestoreUsageError(f"{chain.restorer.name} changes the image size (x{chain.restorer.scale}); volume runs keep the plane shape")
    src_path, src_inner = split_volume_path(input_path)
    source = open_volume(input_path)
    try:
        info = source.info
        if info.plane_ndim == 3 and chain.restorer is not None and chain.restorer.channels is not None \
                and info.shape[-1] not in chain.restorer.channels:
            raise ImrestoreUsageError(f"{chain.restorer.name} accepts {chain.restorer.channels} channels per pixel, the volume has {info.shape[-1]}")
        target = plan_volume(str(input_path), output_path, src_path)
        report = Report(chain=chain.specs, metrics=metric_keys(chain.metrics), seed=seed, input=str(input_path),
                        output=str(target.path), versions={"imrestore": __version__, **get_registry().versions()},
                        command=command or [])
        previous = target.report_folder / f"{target.report_stem}.json"
        if target.path.exists() and not overwrite:
            return _already_done(previous, target, chain, seed)
        identity = {"chain": chain.specs, "seed": seed, "input": str(Path(src_path).resolve()) + (f":{src_inner}" if src_inner else ""),
                    "input_file": _identity(src_path),
                    "shape": list(info.shape), "dtype": info.dtype.str, "output_format": target.fmt.name,
                    "center_crop": list(center_crop) if center_crop else None}
        record = _load_record(target, identity) if not overwrite else None
        if record is None:
            value_range, data_range = volume_ranges(source, bool(chain.metrics), progress is True)
        else:
            value_range, data_range = tuple(record["value_range"]), record["data_range"]
        out_info = VolumeInfo(info.shape, info.dtype, info.axes, info.metadata)
        sink = None
        if record is not None:
            try:
                sink = target.fmt.reopen(target.partial, out_info, target.inner)
            except Exception as exc:  # a partial file a crash left unreadable: start again
                log.warning("cannot continue %s (%s); starting again", target.partial, _reason(exc))
                record = None
        if record is None:
            _remove(target.partial)
            target.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                sink = target.fmt.create(target.partial, out_info, source=src_path, inner=target.inner)
            except Exception as exc:
                _remove(target.partial)
                raise ImrestoreUsageError(f"cannot create {target.path}: {_reason(exc)}") from exc
            record = {**identity, "value_range": list(value_range), "data_range": data_range, "done": {}}
            atomic_write_text(target.record, json.dumps(record))
        done: dict[str, dict] = record["done"]
        todo = [i for i in range(info.n_planes) if str(i) not in done]
        ctx = PlaneContext(chain, seed, str(input_path), src_path.name, info.dtype, value_range, data_range, center_crop)
        if todo:
            log.info("%s: %d planes %s, %d to do", src_path.name, info.n_planes,
                     f"{'x'.join(map(str, info.plane_shape))} {info.dtype}", len(todo))
        start = time.perf_counter()
        if workers < 1:
            raise ImrestoreUsageError(f"--workers must be at least 1, got {workers}")
        units = work_units(info, todo, chain.restorer)
        parallel = bool(dask or scheduler) or (workers > 1 and len(units) > 1)
        if parallel and target.fmt.parallel_writes:
            ctx.output = DirectOutput(target.fmt, target.partial, out_info, target.inner)
        if dask or scheduler:
            results = _dask(ctx, units, workers, scheduler)
        elif workers > 1 and len(units) > 1:
            results = _pool(ctx, units, workers)
        else:
            results = _serial(ctx, units)
        bar = _bar(info.n_planes, info.n_planes - len(todo), progress, "planes")
        writer = PlaneWriter(sink, record, target.record)
        finished_before = set(done)
        last_flush = time.monotonic()
        try:
            with _log_above(progress):
                for batch in results:
                    for res in batch:
                        if str(res.index) in finished_before:  # a slab recomputed around unfinished planes: same bytes
                            continue
                        writer.write(res.index, res.data, {"seconds": res.seconds, "metrics": res.metrics, "sums": res.sums})
                        bar.update(1)
                    if time.monotonic() - last_flush > FLUSH_EVERY_S:
                        writer.flush()
                        last_flush = time.monotonic()
            writer.close()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                writer.close()  # what was written is flushed and recorded
            if isinstance(exc, Exception) and not isinstance(exc, ImrestoreUsageError):
                n_done = len(done)
                raise RunStopped(f"{src_path}: {_reason(exc)}; {n_done} of {info.n_planes} planes are kept in {target.partial.name}, "
                                 "rerun the same command to finish") from exc
            raise
        finally:
            bar.close()
            sink.close()
            close_sources()
        if target.path.exists():
            _remove(target.path)
        os.replace(target.partial, target.path)
        report.seconds = time.perf_counter() - start
        _fill_report(report, info, done, data_range, set(map(str, todo)), center_crop)
        report.write(target.report_folder, target.report_stem)
        target.record.unlink(missing_ok=True)
        return report
    finally:
        source.close()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _load_record(target: VolumeTarget, identity: dict) -> dict | None:
    """The record of a partial run of the same job, or None (starting afresh)."""
    if not target.record.exists():
        return None
    try:
        record = json.loads(target.record.read_text())
    except (OSError, ValueError):
        return None
    if not target.partial.exists():
        return None
    if any(record.get(k) != v for k, v in identity.items()):
        differs = [k for k, v in identity.items() if record.get(k) != v]
        raise ImrestoreUsageError(
            f"{target.path} has a partial output of another run (its {', '.join(differs)} differ); "
            "use --overwrite to start again"
        )
    return record


def _already_done(previous: Path, target: VolumeTarget, chain: Chain, seed: int) -> Report:
    try:
        old = json.loads(previous.read_text())
    except (OSError, ValueError):
        raise ImrestoreUsageError(f"{target.path} exists; use --overwrite to replace it") from None
    if old.get("chain") != chain.specs or old.get("seed") != seed:
        raise ImrestoreUsageError(f"{target.path} holds the result of another run (chain {' '.join(old.get('chain', []))}); use --overwrite")
    report = Report.from_dict(old)
    for item in report.items:
        item.status = "skipped"
    return report


def _fill_report(report: Report, info: VolumeInfo, done: dict, data_range, fresh: set[str], crop) -> None:
    for i in range(info.n_planes):
        rec = done[str(i)]
        report.items.append(ItemResult(path=plane_label(info, i), status="written" if str(i) in fresh else "skipped",
                                       output=report.output, seconds=rec["seconds"], metrics=rec["metrics"]))
    report.volume = volume_summary(report, [done[str(i)]["sums"] for i in range(info.n_planes)], data_range, info, crop)


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
                     center_crop: tuple[int, int] | None = None, progress: bool = False) -> Report:
    """fastMRI-style metrics between two volumes of the same shape, plane by plane."""
    from .chain import DEFAULT_METRICS
    from .spec import build

    objs = [build(m, kind="metric") if isinstance(m, str) else m for m in (DEFAULT_METRICS if metrics is None else metrics)]
    ref_src, est_src = open_volume(reference), open_volume(estimate)
    with ref_src, est_src:
        info = ref_src.info
        if est_src.info.shape != info.shape:
            raise ImrestoreUsageError(f"shapes differ: {reference} is {info.shape}, {estimate} is {est_src.info.shape}")
        value_range, data_range = volume_ranges(ref_src, True, progress)
        est_range = default_range(est_src.info.dtype) if est_src.info.dtype == info.dtype else None
        est_range = est_range or value_range
        mets = ranged_metrics(objs, data_range)
        report = Report(chain=[], metrics=metric_keys(objs), seed=0, input=str(reference), output=str(estimate),
                        versions={"imrestore": __version__, **get_registry().versions()})
        sums = []
        bar = _bar(info.n_planes, 0, progress, "planes")
        t_start = time.perf_counter()
        for i in range(info.n_planes):
            t0 = time.perf_counter()
            ref = to_unit(ref_src.read_plane(i), value_range)[0].astype(np.float64)
            est = to_unit(est_src.read_plane(i), est_range)[0].astype(np.float64)
            values, s = measure_plane(mets, ref, est, center_crop)
            sums.append({"estimate": s})
            report.items.append(ItemResult(path=plane_label(info, i), status="measured", output=str(estimate),
                                           seconds=time.perf_counter() - t0, metrics={"estimate": values}))
            bar.update(1)
        bar.close()
        report.seconds = time.perf_counter() - t_start
        report.volume = volume_summary(report, sums, data_range, info, center_crop)
    return report


# --------------------------------------------------------------------------- progress


def _bar(total: int, initial: int, progress: bool | Callable, unit: str):
    from .pipeline import progress_bar

    if unit == "scanning":
        return progress_bar(total, progress, unit="plane", desc="scanning", leave=False)
    return progress_bar(total, progress, unit="plane", initial=initial)


@contextlib.contextmanager
def _log_above(progress):
    if progress is True:
        from tqdm.contrib.logging import logging_redirect_tqdm

        with logging_redirect_tqdm(loggers=[logging.getLogger("imrestore")]):
            yield
    else:
        yield
