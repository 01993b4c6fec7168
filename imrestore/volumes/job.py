"""The job of a run over a volume: its planes (or halo'd slabs) are the work units, a partial output file the sink.

The output is made up front beside the target as ``.NAME.imrestore-partial.*``
with a JSON record of finished planes, updated after each flush (every
``FLUSH_EVERY_S`` seconds); a rerun of the same command continues it, and it
is renamed into place only when every plane is in.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dtypes import from_unit, range_hint, to_unit
from ..errors import ImrestoreUsageError, RunStopped, error_reason, option
from ..files import check_writable
from ..interfaces import Image, VolumeFormat, VolumeInfo, VolumeSink, VolumeSource
from ..job import Job
from ..registry import get_registry
from ..report import ItemResult, Report, atomic_write_text
from .formats import format_for, open_volume, plane_label, split_volume_path
from .measure import measure_stacks, ranged_metrics, volume_ranges, volume_summary
from .planes import (
    DirectOutput,
    PlaneContext,
    PlaneResult,
    Unit,
    _corrupt_plane,
    _source,
    close_sources,
    work_units,
)

log = logging.getLogger("imrestore")

PARTIAL_TAG = ".imrestore-partial"
#: Seconds between flushes of the output and the record of finished planes.
FLUSH_EVERY_S = 2.0


@dataclass
class VolumeTarget:
    """Where a volume run writes: the output, its partial file and record, and the report."""

    path: Path  # final output
    inner: str | None
    fmt: VolumeFormat
    partial: Path
    record: Path
    report_folder: Path
    report_stem: str


def plan_volume(output_text: str | Path, src_path: Path) -> VolumeTarget:
    """The output of a run over the volume at ``src_path`` (a folder output gets the input's name)."""
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


class PlaneWriter:
    """Writes planes, flushes and records them on one background thread, in order.

    File I/O then overlaps the next plane's work.  A plane is added to the
    record only by the flush that follows its write, so the record never
    claims a plane that is not in the file.  At most a few writes wait in line
    (bounded memory); a write that fails raises in the caller.
    """

    def __init__(self, sink: VolumeSink, record: dict, record_path: Path, max_pending: int = 3):
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

    def write(self, index: int, data: np.ndarray | None, entry: dict) -> None:
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


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _identity(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


class VolumeJob(Job):
    """A run over every plane of a volume into a volume of the same shape, dtype and metadata (see :mod:`imrestore.job`)."""

    unit_name = "plane"

    def start(self, progress: bool | Callable) -> Report | None:
        chain, opts = self.chain, self.options
        if opts.save_corrupted:
            raise ImrestoreUsageError(f"{option('save_corrupted')} is for images; for a volume, run the corruptions alone into another file")
        if chain.restorer is not None and chain.restorer.scale != 1:
            raise ImrestoreUsageError(f"{chain.restorer.name} changes the image size (x{chain.restorer.scale}); volume runs keep the plane shape")
        self.src_path, src_inner = split_volume_path(self.input_path)
        self.source = open_volume(self.input_path)
        info = self.info = self.source.info
        if info.dtype.kind == "c":
            raise ImrestoreUsageError(f"{self.src_path.name}: complex values ({info.dtype}); imrestore restores real-valued "
                                      "volumes: give their magnitude (or a fastMRI file's k-space to restorer:pnp)")
        if info.plane_ndim == 3 and chain.restorer is not None and chain.restorer.channels is not None \
                and info.shape[-1] not in chain.restorer.channels:
            raise ImrestoreUsageError(f"{chain.restorer.name} accepts {chain.restorer.channels} channels per pixel, the volume has {info.shape[-1]}")
        if chain.restorer is not None and chain.restorer.extra_outputs:
            raise ImrestoreUsageError(f"{chain.restorer.name} writes {', '.join(chain.restorer.extra_outputs)} beside its "
                                      "output, which volume runs do not store yet; run it on the planes as images "
                                      "(a folder of TIFF files), or without samples=")
        if chain.restorer is not None and not chain.corruptions:  # real data: parameters that cannot fit its planes stop here
            slab = (info.shape[-info.plane_ndim - 1],) if chain.restorer.spatial_ndim == 3 and len(info.shape) > info.plane_ndim else ()
            chain.restorer.check_shape(slab + tuple(info.plane_shape))  # a 3-D restorer's input: ZYX slabs
            if chain.restorer.consumes and info.n_planes:
                chain.restorer.check_measured(self.source.read_measurements(0))
        self.target = plan_volume(self.output_path, self.src_path)
        check_writable(self.target.path.parent)
        self.report.output = str(self.target.path)
        if self.target.path.exists() and not opts.overwrite:
            return self._already_done()
        identity = {"chain": chain.specs, "seed": opts.seed,
                    "input": str(Path(self.src_path).resolve()) + (f":{src_inner}" if src_inner else ""),
                    "input_file": _identity(self.src_path), "shape": list(info.shape), "dtype": info.dtype.str,
                    "output_format": self.target.fmt.name, "center_crop": list(opts.center_crop) if opts.center_crop else None,
                    "range": self.report.value_range}
        self.sink = self._open_output(identity, progress)
        self.done: dict[str, dict] = self.record["done"]
        self.todo = [i for i in range(info.n_planes) if str(i) not in self.done]
        self.total, self.finished = info.n_planes, info.n_planes - len(self.todo)
        if self.todo:
            log.info("%s: %d planes %s, %d to do", self.src_path.name, info.n_planes,
                     f"{'x'.join(map(str, info.plane_shape))} {info.dtype}", len(self.todo))
        return None

    def _open_output(self, identity: dict, progress: bool | Callable) -> VolumeSink:
        """Continue the partial output of the same job, or create a new one; set ``record`` and the value ranges."""
        target, info = self.target, self.info
        record = self._load_record(identity) if not self.options.overwrite else None
        out_info = self.out_info = VolumeInfo(info.shape, info.dtype, info.axes, info.metadata)
        if record is not None:
            try:
                sink = target.fmt.reopen(target.partial, out_info, target.inner)
                self.value_range, self.data_range = tuple(record["value_range"]), record["data_range"]
                self.record = record
                return sink
            except Exception as exc:  # a partial file a crash left unreadable: start again
                log.warning("cannot continue %s (%s); starting again", target.partial, error_reason(exc))
        self.value_range, self.data_range = volume_ranges(self.source, bool(self.chain.metrics), progress is True,
                                                          self.options.value_range)
        self._hint_range()
        _remove(target.partial)
        target.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            sink = target.fmt.create(target.partial, out_info, source=self.src_path, inner=target.inner)
        except Exception as exc:
            _remove(target.partial)
            raise ImrestoreUsageError(f"cannot create {target.path}: {error_reason(exc)}") from exc
        self.record = {**identity, "value_range": list(self.value_range), "data_range": self.data_range, "done": {}}
        atomic_write_text(target.record, json.dumps(self.record))
        return sink

    def _load_record(self, identity: dict) -> dict | None:
        """The record of a partial run of the same job, or None (starting afresh)."""
        target = self.target
        if not target.record.exists() or not target.partial.exists():
            return None
        try:
            record = json.loads(target.record.read_text())
        except (OSError, ValueError):
            return None
        differs = [k for k, v in identity.items() if record.get(k) != v]
        if differs:
            raise ImrestoreUsageError(
                f"{target.path} has a partial output of another run (its {', '.join(differs)} differ); "
                f"use {option('overwrite', True)} to start again"
            )
        return record

    def _hint_range(self) -> None:
        """Say once when a 16/32-bit volume's middle plane uses a small corner of its dtype (see ``dtypes.range_hint``)."""
        info, spec = self.info, self.options.value_range
        if spec != "dtype" or info.dtype.kind not in "ui" or info.dtype.itemsize < 2:
            return
        try:
            plane = self.source.read_plane(info.n_planes // 2)
        except Exception:  # the run itself reports an unreadable plane, with its place
            return
        hint = range_hint(Image(to_unit(plane, self.value_range)[0], dtype=info.dtype, value_range=self.value_range), spec)
        if hint:
            log.warning("%s (middle plane): %s", self.src_path.name, hint)

    def _already_done(self) -> Report:
        previous = self.target.report_folder / f"{self.target.report_stem}.json"
        try:
            old = json.loads(previous.read_text())
        except (OSError, ValueError):
            raise ImrestoreUsageError(f"{self.target.path} exists; use {option('overwrite', True)} to replace it") from None
        r = self.report
        if old.get("chain") != r.chain or old.get("seed") != r.seed or old.get("value_range", "dtype") != r.value_range:
            raise ImrestoreUsageError(f"{self.target.path} holds the result of another run (chain {' '.join(old.get('chain', []))}); use {option('overwrite', True)}")
        report = Report.from_dict(old)
        for item in report.items:
            item.status = "skipped"
        return report

    def units(self) -> list[Unit]:
        self._units = work_units(self.info, self.todo, self.chain.restorer)
        return self._units

    def work(self, parallel: bool) -> PlaneContext:
        opts = self.options
        ctx = PlaneContext(self.chain, opts.seed, str(self.input_path), self.src_path.name, self.info.dtype, self.value_range,
                           self.data_range, opts.center_crop)
        if parallel and self.target.fmt.parallel_writes:
            ctx.output = DirectOutput(self.target.fmt, self.target.partial, self.out_info, self.target.inner)
        if not parallel:
            _source(ctx.source)  # opened here, not raced by the serial executor's reader thread
        self.writer = PlaneWriter(self.sink, self.record, self.target.record)
        self.finished_before = set(self.done)
        self.last_flush = time.monotonic()
        return ctx

    def accept(self, results: list[PlaneResult]) -> int:
        n = 0
        for res in results:
            if str(res.index) in self.finished_before:  # a slab recomputed around unfinished planes: same bytes
                continue
            entry = {"seconds": res.seconds, "metrics": res.metrics, "sums": res.sums, "estimated": res.estimated}
            self.writer.write(res.index, res.data, entry)
            n += 1
        if time.monotonic() - self.last_flush > FLUSH_EVERY_S:
            self.writer.flush()
            self.last_flush = time.monotonic()
        return n

    def finish(self) -> None:
        self.writer.close()
        self.sink.close()
        close_sources()
        target = self.target
        if target.path.exists():
            _remove(target.path)
        os.replace(target.partial, target.path)
        self._fill_report()
        self.report.write(target.report_folder, target.report_stem)
        target.record.unlink(missing_ok=True)

    def abort(self, exc: BaseException) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()  # what was written is flushed and recorded
        self.sink.close()
        close_sources()
        if not self.done and isinstance(exc, ImrestoreUsageError):  # nothing to resume: leave nothing behind
            for path in (self.target.partial, self.target.record):
                with contextlib.suppress(OSError):
                    _remove(path)
        if isinstance(exc, Exception) and not isinstance(exc, ImrestoreUsageError):
            raise RunStopped(f"{self.src_path}: {error_reason(exc)}; {len(self.done)} of {self.info.n_planes} planes are kept in "
                             f"{self.target.partial.name}, rerun the same command to finish") from exc

    def _fill_report(self) -> None:
        info, done, fresh = self.info, self.done, set(map(str, self.todo))
        for i in range(info.n_planes):
            rec = done[str(i)]
            self.report.items.append(ItemResult(path=plane_label(info, i), status="written" if str(i) in fresh else "skipped",
                                                output=self.report.output, seconds=rec["seconds"], metrics=rec["metrics"],
                                                estimated=rec.get("estimated", {})))
        sums = [done[str(i)]["sums"] for i in range(info.n_planes)]
        self.report.volume = volume_summary(self.report, sums, self.data_range, info, self.options.center_crop)
        self._stack_metrics()

    def _stack_metrics(self) -> None:
        """The 3-D metrics (``ssim:3d=true``): each stage's planes against the input's, a block of planes at a time,
        from the output as written (the corrupted planes of a chain with a restorer are made again, with their seeds)."""
        mets = ranged_metrics(self.chain.metrics, self.data_range)
        if not any(m.spatial_ndim == 3 for m in mets):
            return
        target, rng, crop = self.target, self.value_range, self.options.center_crop
        ctx = PlaneContext(self.chain, self.options.seed, str(self.input_path), self.src_path.name, self.info.dtype, rng,
                           self.data_range, crop)
        stages = list(self.report.volume.keys() & {"corrupted", "restored"})
        with open_volume(str(target.path) + (f":{target.inner}" if target.inner else "")) as written:
            def reference(i: int) -> np.ndarray:
                return to_unit(_source(ctx.source).read_plane(i), rng)[0]

            def pair(stage: str):
                if stage == "restored" or self.chain.restorer is None:  # the output file holds this stage
                    return lambda i: (reference(i), to_unit(written.read_plane(i), rng)[0])
                return lambda i: (reference(i), to_unit(from_unit(_corrupt_plane(ctx, i)[1], ctx.dtype, rng), rng)[0])

            try:
                for stage in stages:
                    self.report.volume[stage].update(measure_stacks(mets, self.chain.metric_keys, self.info, pair(stage), crop))
            finally:
                close_sources()

    def close(self) -> None:
        source: VolumeSource | None = getattr(self, "source", None)
        if source is not None:
            source.close()
