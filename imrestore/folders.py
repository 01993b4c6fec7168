"""The job of a run over image files: one image file, or every image of a folder tree, each a work unit.

Outputs mirror the input tree (names, formats, dtypes) and are written
atomically by whoever processes the image; an output that exists is kept and
measured again, so a rerun resumes.  An image that fails is recorded in the
report with its reason, and the others go on.
"""
from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chain import INVERTED, Chain, measure
from .dtypes import RangeSpec, apply_range, quantize, range_hint
from .errors import ImrestoreUsageError, error_reason, option
from .files import check_writable, clean_tmp, discover, inside, read_image, read_like, sibling, write_image
from .interfaces import EXTRA_OUTPUTS, Image, Restorer
from .job import Job
from .registry import get_registry
from .report import ItemResult, Report

log = logging.getLogger("imrestore")

CORRUPTED_DIR = "corrupted"


@dataclass(frozen=True)
class Task:
    """One image to process: where it comes from and where it goes."""

    index: int
    source: Path
    key: str  # relative path, also the seed key
    target: Path
    corrupted_target: Path | None


def plan(input_path: Path | str, output_path: Path | str, save_corrupted: bool = False) -> tuple[list[Task], Path, str]:
    """Map inputs to outputs; return the tasks, the report folder and stem.

    Raises :class:`ImrestoreUsageError` for missing inputs and for outputs that
    would land in the input tree.
    """
    src, dst = Path(input_path), Path(output_path)
    if not src.exists():
        raise ImrestoreUsageError(f"input {src} does not exist")
    if src.is_file():
        return _plan_file(src, dst, save_corrupted)
    if dst.exists() and not dst.is_dir():
        raise ImrestoreUsageError(f"output {dst} is a file; a folder input needs an output folder")
    if inside(dst, src):
        raise ImrestoreUsageError(f"output {dst} is inside the input folder {src}; imrestore never writes into its input")
    files = discover(src)
    if not files:
        known = " ".join(sorted(get_registry().suffixes("reader")))
        raise ImrestoreUsageError(f"no images found in {src} (looked for {known})")
    tasks = []
    for i, f in enumerate(files):
        rel = f.relative_to(src)
        if save_corrupted and rel.parts[0] == CORRUPTED_DIR:
            raise ImrestoreUsageError(f"the input has a top-level '{CORRUPTED_DIR}' folder, which {option('save_corrupted')} would mix with its outputs")
        corrupted = dst / CORRUPTED_DIR / rel if save_corrupted else None
        tasks.append(Task(i, f, rel.as_posix(), dst / rel, corrupted))
    return tasks, dst, "report"


def _plan_file(src: Path, dst: Path, save_corrupted: bool) -> tuple[list[Task], Path, str]:
    if src.suffix.lower() not in get_registry().suffixes("reader"):
        raise ImrestoreUsageError(f"no reader for {src.suffix or 'files without a suffix'!r} files ({src})")
    if dst.suffix.lower() in get_registry().suffixes("writer") and not dst.is_dir():
        target, folder, stem = dst, dst.parent, f"{dst.stem}.report"
    else:
        target, folder, stem = dst / src.name, dst, "report"
    if target.resolve() == src.resolve():
        raise ImrestoreUsageError(f"output {target} is the input file; choose another output")
    corrupted = folder / CORRUPTED_DIR / src.name if save_corrupted else None
    return [Task(0, src, src.name, target, corrupted)], folder, stem


def _as_written(image: Image, data: np.ndarray, path: Path, lossy: bool) -> np.ndarray:
    """The values a file holds once ``data`` is written to it (float64, in ``image``'s [0, 1] units)."""
    if lossy:
        written = apply_range(read_image(path), image.value_range)
        return quantize(written.data, written.dtype, written.value_range)
    return quantize(data, image.dtype, image.value_range)


@dataclass
class ImageWork:
    """Read, corrupt, restore, write and measure one image (what a worker runs; see :mod:`imrestore.executors`)."""

    chain: Chain
    seed: int
    overwrite: bool
    value_range: RangeSpec = "dtype"
    #: dtypes whose low fill this worker has pointed out (once per run, not per image)
    hinted: set[str] = field(default_factory=set)
    #: The corrupted images' metrics of a previous run of the same chain, by item: a resumed item is not corrupted again.
    known: dict[str, dict] = field(default_factory=dict)
    #: ... and what the restorer recorded of them (``estimated``), which a resumed item keeps.
    known_estimated: dict[str, dict] = field(default_factory=dict)

    def fetch(self, task: Task) -> Image | Exception:
        """The image in the run's units, or the error that reading it raised (reported with the item)."""
        try:
            return apply_range(read_image(task.source), self.value_range)
        except Exception as exc:  # noqa: BLE001 - one unreadable file fails its item, not the run
            return exc

    def release(self) -> None:
        """Nothing stays open between images."""

    def process(self, task: Task, reference: Image | Exception) -> list[ItemResult]:
        """The item's result; never raises."""
        start = time.perf_counter()
        result = ItemResult(path=task.key, status="written", output=str(task.target))
        try:
            if isinstance(reference, Exception):
                raise reference
            self._hint(task, reference)
            self._check_channels(reference)
            self._restore_or_resume(task, reference, result)
        except Exception as exc:
            result.status, result.error, result.output = "failed", error_reason(exc), ""
        result.seconds = time.perf_counter() - start
        return [result]

    def _hint(self, task: Task, reference: Image) -> None:
        hint = range_hint(reference, self.value_range) if str(reference.dtype) not in self.hinted else None
        if hint:
            self.hinted.add(str(reference.dtype))
            log.warning("%s: %s", task.key, hint)

    def _check_channels(self, reference: Image) -> None:
        restorer = self.chain.restorer
        if reference.data.ndim == 3 and restorer is not None and restorer.channels is not None:
            if reference.data.shape[-1] not in restorer.channels:
                raise ValueError(f"{restorer.name} accepts {restorer.channels} channels, got {reference.data.shape[-1]}")

    def _restore_or_resume(self, task: Task, reference: Image, result: ItemResult) -> None:
        chain = self.chain
        lossy = get_registry().for_path("writer", task.target).cls.lossy
        done = task.target.exists() and not self.overwrite and (task.corrupted_target is None or task.corrupted_target.exists())
        if done:
            result.status = "skipped"
            if not chain.metrics:
                return
            existing = read_like(task.target, reference, self.value_range)
            output_values = quantize(existing.data, existing.dtype, existing.value_range)
            if self._reuse(task, reference, output_values, result):
                return
            corrupted, _ = chain.corrupt(reference.data, self.seed, task.key)
        else:
            corrupted, degradation = chain.corrupt(reference.data, self.seed, task.key, value_range=reference.value_range)
            restored = chain.restore(corrupted, degradation)
            result.estimated = degradation.get("estimated", {})
            final = restored if restored is not None else corrupted
            for name, extra in degradation.pop(EXTRA_OUTPUTS, {}).items():  # before the output, whose presence means done
                write_image(reference.with_data(extra), sibling(task.target, name))
                result.estimated.setdefault("outputs", {})[name] = sibling(task.target, name).name
            write_image(reference.with_data(final), task.target)
            if task.corrupted_target is not None:
                write_image(reference.with_data(corrupted), task.corrupted_target)
            output_values = _as_written(reference, final, task.target, lossy) if chain.metrics else None
        if chain.metrics:  # measured later (a serial run: on its own thread, while the next image computes)
            result.later = functools.partial(self._measure_later, task, reference, corrupted, output_values, lossy, result)

    def _measure_later(self, task: Task, reference: Image, corrupted: np.ndarray, output_values, lossy: bool,
                       result: ItemResult) -> None:
        """:meth:`_measure`, as :meth:`process` would have: a failure fails the item."""
        start = time.perf_counter()
        try:
            self._measure(task, reference, corrupted, output_values, lossy, result)
        except Exception as exc:  # noqa: BLE001 - one item's failure is reported with it
            result.status, result.error, result.output = "failed", error_reason(exc), ""
        result.seconds += time.perf_counter() - start

    def _reuse(self, task: Task, reference: Image, output_values: np.ndarray, result: ItemResult) -> bool:
        """Measure a finished item's output alone, reusing its corrupted image's metrics from the previous run's report."""
        known = self.known.get(task.key)
        if known is None or set(known) != set(self.chain.metric_keys) or self.chain.restorer is None:
            return False
        notes: list[str] = []
        ref = quantize(reference.data, reference.dtype, reference.value_range)
        result.estimated = dict(self.known_estimated.get(task.key, {}))
        result.metrics["corrupted"] = dict(known)
        result.metrics["restored"] = measure(self.chain.metrics, ref, output_values, notes,
                                             inverted=result.estimated.get(INVERTED))
        result.note = "; ".join(notes)
        return True

    def _measure(self, task: Task, reference: Image, corrupted: np.ndarray, output_values, lossy: bool,
                 result: ItemResult) -> None:
        ref = quantize(reference.data, reference.dtype, reference.value_range)
        if task.corrupted_target is not None and lossy:
            corrupted_values = _as_written(reference, corrupted, task.corrupted_target, True)
        else:
            corrupted_values = quantize(corrupted, reference.dtype, reference.value_range)
        notes: list[str] = []
        result.metrics["corrupted"] = measure(self.chain.metrics, ref, corrupted_values, notes)
        if self.chain.restorer is not None:
            result.metrics["restored"] = measure(self.chain.metrics, ref, output_values, notes,
                                                 inverted=result.estimated.get(INVERTED))
        result.note = "; ".join(notes)


class ImageFolderJob(Job):
    """A run over one image file or a folder of them (see :mod:`imrestore.job`)."""

    unit_name = "img"

    def start(self, progress: bool | Callable) -> Report | None:
        opts = self.options
        if opts.center_crop:
            raise ImrestoreUsageError(f"{option('center_crop')} is for volumes; {self.input_path} is not one")
        self.tasks, self.folder, self.stem = plan(self.input_path, self.output_path, opts.save_corrupted)
        check_writable(self.folder)
        self._check_first_shape()
        self.known: dict[str, dict] = {}
        self.known_estimated: dict[str, dict] = {}
        self._check_previous()
        clean_tmp(self.folder)
        self.total = len(self.tasks)
        self.results: list[ItemResult | None] = [None] * len(self.tasks)
        self.by_key = {t.key: t for t in self.tasks}
        return None

    def _check_first_shape(self) -> None:
        """The restorer's check of the first image's shape, before anything is written: a parameter that cannot fit
        the data (a mask of another size) stops the run; an image that the first fits and it does not fails alone."""
        restorer = self.chain.restorer
        if restorer is None or type(restorer).check_shape is Restorer.check_shape or not self.tasks or self.chain.corruptions:
            return
        try:
            shape = read_image(self.tasks[0].source).data.shape
        except Exception:  # noqa: BLE001 - an unreadable first image fails as its item, with its reason
            return
        restorer.check_shape(tuple(shape))  # real data (no corruption): the parameters describe the input as it is

    def _check_previous(self) -> None:
        previous = self.folder / f"{self.stem}.json"
        if self.options.overwrite or not previous.exists():
            return
        try:
            old = json.loads(previous.read_text())
        except (OSError, ValueError):
            return
        r = self.report
        if old.get("chain") != r.chain or old.get("seed") != r.seed or old.get("value_range", "dtype") != r.value_range:
            what = (f"{self.folder} holds the results of another run" if self.stem == "report" else
                    f"{self.tasks[0].target} is the output of another run, says {previous}")
            raise ImrestoreUsageError(
                f"{what} (chain {' '.join(old.get('chain', []))}, seed {old.get('seed')}, "
                f"{option('value_range', old.get('value_range', 'dtype'))}); use {option('overwrite', True)} or another output "
                f"{'folder' if self.stem == 'report' else 'file'}"
            )
        done = [i for i in old.get("items", []) if i.get("status") in ("written", "skipped") and "corrupted" in i.get("metrics", {})]
        self.known = {i["path"]: i["metrics"]["corrupted"] for i in done}
        self.known_estimated = {i["path"]: i["estimated"] for i in done if i.get("estimated")}

    def units(self) -> list[Task]:
        return self.tasks

    def work(self, parallel: bool) -> ImageWork:
        return ImageWork(self.chain, self.options.seed, self.options.overwrite, self.options.value_range, known=self.known,
                         known_estimated=self.known_estimated)

    def accept(self, results: list) -> int:
        for result in results:
            self.results[self.by_key[result.path].index] = result
        return len(results)

    def finish(self) -> None:
        self._write_report()

    def abort(self, exc: BaseException) -> None:
        self._write_report()  # what was written is in the report; a rerun resumes

    def _write_report(self) -> None:
        self.report.items = [r for r in self.results if r is not None]
        self.report.write(self.folder, self.stem)

