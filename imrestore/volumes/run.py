"""run_volume: plan the output, resume a partial one, drive an executor, write the report."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..chain import Chain, metric_keys
from ..dtypes import RangeSpec, parse_range, range_text
from ..errors import ImrestoreUsageError, RunStopped
from ..interfaces import VolumeFormat, VolumeInfo
from ..registry import get_registry
from ..report import ItemResult, Report, atomic_write_text
from .executors import PlaneWriter, _dask, _pool, _serial
from .formats import _reason, format_for, open_volume, plane_label, split_volume_path
from .measure import _bar, volume_ranges, volume_summary
from .planes import DirectOutput, PlaneContext, close_sources, work_units

log = logging.getLogger("imrestore")

PARTIAL_TAG = ".imrestore-partial"
#: Seconds between flushes of the output and the record of finished planes.
FLUSH_EVERY_S = 2.0



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
    value_range: RangeSpec | str = "dtype",
) -> Report:
    """Run a chain over every plane of a volume into a volume of the same shape, dtype and metadata.

    Rerunning the same command after a crash or Ctrl-C continues the partial
    output; the result equals an uninterrupted run.  ``dask`` starts a local
    cluster of ``workers`` processes; ``scheduler`` uses an existing one.
    """
    if not isinstance(chain, Chain):
        chain = Chain.from_specs(chain, metrics)
    value_range = parse_range(value_range)
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
                        command=command or [], value_range=range_text(value_range))
        previous = target.report_folder / f"{target.report_stem}.json"
        if target.path.exists() and not overwrite:
            return _already_done(previous, target, chain, seed, range_text(value_range))
        identity = {"chain": chain.specs, "seed": seed, "input": str(Path(src_path).resolve()) + (f":{src_inner}" if src_inner else ""),
                    "input_file": _identity(src_path),
                    "shape": list(info.shape), "dtype": info.dtype.str, "output_format": target.fmt.name,
                    "center_crop": list(center_crop) if center_crop else None, "range": range_text(value_range)}
        record = _load_record(target, identity) if not overwrite else None
        if record is None:
            units, data_range = volume_ranges(source, bool(chain.metrics), progress is True, value_range)
            _hint_range(source, units, value_range, src_path.name)
        else:
            units, data_range = tuple(record["value_range"]), record["data_range"]
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
            record = {**identity, "value_range": list(units), "data_range": data_range, "done": {}}
            atomic_write_text(target.record, json.dumps(record))
        done: dict[str, dict] = record["done"]
        todo = [i for i in range(info.n_planes) if str(i) not in done]
        ctx = PlaneContext(chain, seed, str(input_path), src_path.name, info.dtype, units, data_range, center_crop)
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


def _hint_range(source, units: tuple[float, float], spec, name: str) -> None:
    """Say once when a 16/32-bit volume's middle plane uses a small corner of its dtype (see ``pipeline.range_hint``)."""
    from ..dtypes import to_unit
    from ..interfaces import Image
    from ..pipeline import range_hint

    info = source.info
    if spec != "dtype" or info.dtype.kind not in "ui" or info.dtype.itemsize < 2:
        return
    try:
        plane = source.read_plane(info.n_planes // 2)
    except Exception:  # the run itself reports an unreadable plane, with its place
        return
    hint = range_hint(Image(to_unit(plane, units)[0], dtype=info.dtype, value_range=units), spec)
    if hint:
        log.warning("%s (middle plane): %s", name, hint)


def _already_done(previous: Path, target: VolumeTarget, chain: Chain, seed: int, value_range: str) -> Report:
    try:
        old = json.loads(previous.read_text())
    except (OSError, ValueError):
        raise ImrestoreUsageError(f"{target.path} exists; use --overwrite to replace it") from None
    if old.get("chain") != chain.specs or old.get("seed") != seed or old.get("value_range", "dtype") != value_range:
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



@contextlib.contextmanager
def _log_above(progress):
    if progress is True:
        from tqdm.contrib.logging import logging_redirect_tqdm

        with logging_redirect_tqdm(loggers=[logging.getLogger("imrestore")]):
            yield
    else:
        yield
