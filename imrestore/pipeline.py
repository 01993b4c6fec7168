"""Running a chain over files: discovery, workers, atomic writes, resuming.

Example
-------
>>> from imrestore.pipeline import run
>>> report = run(["gaussian:sigma=25", "restorer:nlmeans"], "in/", "out/")  # doctest: +SKIP
>>> report.mean()["restored"]["psnr"]  # doctest: +SKIP
28.35
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from . import __version__
from .chain import Chain, measure, metric_keys
from .dtypes import RangeSpec, parse_range, quantize, range_text, remap, resolve_range
from .errors import ImrestoreUsageError
from .interfaces import Image
from .registry import get_registry
from .report import ItemResult, Report

TMP_TAG = ".imrestore-tmp"
CORRUPTED_DIR = "corrupted"


@dataclass(frozen=True)
class Task:
    """One item to process: where it comes from and where it goes."""

    index: int
    source: Path
    key: str  # relative path, also the seed key
    target: Path
    corrupted_target: Path | None


def read_image(path: Path | str) -> Image:
    """Read a file with the reader registered for its suffix."""
    reader = get_registry().for_path("reader", path).cls()
    try:
        return reader.read(Path(path))
    except Exception as exc:
        raise OSError(f"cannot read {path}: {error_reason(exc)}") from exc


log = logging.getLogger("imrestore")
#: dtypes whose low fill this process has already pointed out (once per run, not per image)
_HINTED: set[str] = set()


def range_hint(image: Image, spec: RangeSpec) -> str | None:
    """A hint when 16/32-bit integer data use a small corner of their dtype's range under ``--range dtype``.

    A 12-bit camera's 0..4095 in uint16 is a dim image to the networks, and
    ``gaussian:sigma=25`` would be 25/255 of 65,535 counts.

    >>> import numpy as np
    >>> img = Image(np.array([[0.0, 4000 / 65535]], np.float32), dtype=np.dtype("uint16"), value_range=(0.0, 65535.0))
    >>> print(range_hint(img, "dtype"))
    values reach only 4000 of uint16's 0..65535: --range 0:4095 (12-bit data) or --range data puts the chain and the metrics on their scale
    """
    if spec != "dtype" or image.dtype.kind not in "ui" or image.dtype.itemsize < 2 or not image.data.size:
        return None
    lo, hi = image.value_range
    peak = round(lo + float(np.nanmax(image.data)) * (hi - lo))  # an integer dtype's stored values
    if peak <= 0 or peak >= hi / 16:
        return None
    bits = max(int(np.ceil(np.log2(peak + 1))), 1)
    return (f"values reach only {peak:.0f} of {image.dtype}'s {lo:.0f}..{hi:.0f}: --range 0:{2**bits - 1} ({bits}-bit data) "
            "or --range data puts the chain and the metrics on their scale")


def apply_range(image: Image, spec: RangeSpec) -> Image:
    """``image`` in the [0, 1] units of another value range (``--range``); the stored values are unchanged.

    ``spec`` is ``"dtype"`` (keep the reader's range), ``"data"`` (the image's
    own min..max) or a ``(lo, hi)`` pair.

    >>> import numpy as np
    >>> img = Image(np.array([[0.0, 4095 / 65535]], np.float32), dtype=np.dtype("uint16"), value_range=(0.0, 65535.0))
    >>> apply_range(img, (0.0, 4095.0)).data.round(6).tolist()
    [[0.0, 1.0]]
    """
    spec = parse_range(spec)
    if spec == "dtype":
        return image
    old = image.value_range
    stored = old  # the image's own (finite) extremes are only needed, a copy and a pass over it, for "data"
    if spec == "data":
        finite = image.data[np.isfinite(image.data)]
        if finite.size:
            span = old[1] - old[0]
            stored = (old[0] + float(finite.min()) * span, old[0] + float(finite.max()) * span)
    new = resolve_range(spec, old, stored)
    if new == old:
        return image
    return dataclasses.replace(image, data=remap(image.data, old, new), value_range=new)


def read_like(path: Path | str, reference: Image, spec: RangeSpec) -> Image:
    """Read a file to compare with ``reference``: in the reference's units under a ``--range``, in its own dtype's otherwise.

    Under ``dtype`` an estimate keeps its own scale (a float TIFF in [0, 1]
    against a uint8 PNG); under ``data`` or ``LO:HI`` its stored values are
    read as the reference's are.
    """
    image = read_image(path)
    return image if parse_range(spec) == "dtype" else apply_range(image, reference.value_range)


def write_image(image: Image, path: Path | str) -> None:
    """Write atomically: into a temporary file beside ``path``, then rename."""
    path = Path(path)
    writer = get_registry().for_path("writer", path).cls()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{TMP_TAG}{path.suffix}")
    try:
        writer.write(image, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def error_reason(exc: BaseException) -> str:
    """The first line of an exception message: what reports and the CLI show."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def discover(input_path: Path, exclude: Path | None = None) -> list[Path]:
    """Every readable image under ``input_path`` (or the file itself), sorted."""
    suffixes = get_registry().suffixes("reader")
    if input_path.is_file():
        return [input_path]
    found = []
    for p in sorted(input_path.rglob("*")):
        rel = p.relative_to(input_path)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        if exclude is not None and _inside(p, exclude):
            continue
        if p.suffix.lower() in suffixes:
            found.append(p)
    return found


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def plan(input_path: Path | str, output_path: Path | str, save_corrupted: bool = False) -> tuple[list[Task], Path, str]:
    """Map inputs to outputs; return the tasks, the report folder and stem.

    Raises :class:`ImrestoreUsageError` for missing inputs and for outputs that
    would land in the input tree.
    """
    src, dst = Path(input_path), Path(output_path)
    if not src.exists():
        raise ImrestoreUsageError(f"input {src} does not exist")
    writer_suffixes = get_registry().suffixes("writer")
    if src.is_file():
        if src.suffix.lower() not in get_registry().suffixes("reader"):
            raise ImrestoreUsageError(f"no reader for {src.suffix or 'files without a suffix'!r} files ({src})")
        if dst.suffix.lower() in writer_suffixes and not dst.is_dir():
            target, folder, stem = dst, dst.parent, f"{dst.stem}.report"
        else:
            target, folder, stem = dst / src.name, dst, "report"
        if target.resolve() == src.resolve():
            raise ImrestoreUsageError(f"output {target} is the input file; choose another output")
        corrupted = folder / CORRUPTED_DIR / src.name if save_corrupted else None
        return [Task(0, src, src.name, target, corrupted)], folder, stem
    if dst.exists() and not dst.is_dir():
        raise ImrestoreUsageError(f"output {dst} is a file; a folder input needs an output folder")
    if _inside(dst, src):
        raise ImrestoreUsageError(f"output {dst} is inside the input folder {src}; imrestore never writes into its input")
    files = discover(src)
    if not files:
        known = " ".join(sorted(get_registry().suffixes("reader")))
        raise ImrestoreUsageError(f"no images found in {src} (looked for {known})")
    tasks = []
    for i, f in enumerate(files):
        rel = f.relative_to(src)
        if save_corrupted and rel.parts[0] == CORRUPTED_DIR:
            raise ImrestoreUsageError(f"the input has a top-level '{CORRUPTED_DIR}' folder, which --save-corrupted would mix with its outputs")
        corrupted = dst / CORRUPTED_DIR / rel if save_corrupted else None
        tasks.append(Task(i, f, rel.as_posix(), dst / rel, corrupted))
    return tasks, dst, "report"


def _as_written(image: Image, data: np.ndarray, path: Path, lossy: bool) -> np.ndarray:
    """The values a file holds once ``data`` is written to it (float64, in ``image``'s [0, 1] units)."""
    if lossy:
        written = apply_range(read_image(path), image.value_range)
        return quantize(written.data, written.dtype, written.value_range)
    return quantize(data, image.dtype, image.value_range)


def process(task: Task, chain: Chain, seed: int, overwrite: bool, value_range: RangeSpec = "dtype") -> ItemResult:
    """Read, corrupt, restore, write and measure one item; never raises."""
    start = time.perf_counter()
    result = ItemResult(path=task.key, status="written", output=str(task.target))
    try:
        reference = apply_range(read_image(task.source), value_range)
        hint = range_hint(reference, value_range) if str(reference.dtype) not in _HINTED else None
        if hint:
            _HINTED.add(str(reference.dtype))
            log.warning("%s: %s", task.key, hint)
        if reference.data.ndim == 3 and chain.restorer is not None and chain.restorer.channels is not None:
            if reference.data.shape[-1] not in chain.restorer.channels:
                raise ValueError(f"{chain.restorer.name} accepts {chain.restorer.channels} channels, got {reference.data.shape[-1]}")
        reg = get_registry()
        lossy = reg.for_path("writer", task.target).cls.lossy
        done = task.target.exists() and not overwrite and (task.corrupted_target is None or task.corrupted_target.exists())
        if done:
            result.status = "skipped"
            if not chain.metrics:
                return result
            existing = read_like(task.target, reference, value_range)
            output_values = quantize(existing.data, existing.dtype, existing.value_range)
            corrupted, _ = chain.corrupt(reference.data, seed, task.key)
        else:
            corrupted, degradation = chain.corrupt(reference.data, seed, task.key)
            restored = chain.restorer.restore([corrupted], [degradation])[0] if chain.restorer else None
            final = restored if restored is not None else corrupted
            write_image(reference.with_data(final), task.target)
            if task.corrupted_target is not None:
                write_image(reference.with_data(corrupted), task.corrupted_target)
            output_values = _as_written(reference, final, task.target, lossy) if chain.metrics else None
        if chain.metrics:
            ref = quantize(reference.data, reference.dtype, reference.value_range)
            if task.corrupted_target is not None and lossy:
                corrupted_values = _as_written(reference, corrupted, task.corrupted_target, True)
            else:
                corrupted_values = quantize(corrupted, reference.dtype, reference.value_range)
            notes: list[str] = []
            result.metrics["corrupted"] = measure(chain.metrics, ref, corrupted_values, notes)
            if chain.restorer is not None:
                result.metrics["restored"] = measure(chain.metrics, ref, output_values, notes)
            result.note = "; ".join(notes)
    except Exception as exc:
        result.status = "failed"
        result.error = error_reason(exc)
        result.output = ""
    result.seconds = time.perf_counter() - start
    return result


def _worker(args: tuple) -> ItemResult:
    return process(*args)


def _check_previous(folder: Path, stem: str, chain: Chain, seed: int, overwrite: bool, value_range: str = "dtype") -> None:
    previous = folder / f"{stem}.json"
    if overwrite or not previous.exists():
        return
    try:
        old = json.loads(previous.read_text())
    except (OSError, ValueError):
        return
    if old.get("chain") != chain.specs or old.get("seed") != seed or old.get("value_range", "dtype") != value_range:
        raise ImrestoreUsageError(
            f"{folder} holds the results of another run (chain {' '.join(old.get('chain', []))}, seed {old.get('seed')}, "
            f"--range {old.get('value_range', 'dtype')}); use --overwrite or another output folder"
        )


def _clean_tmp(folder: Path) -> None:
    if folder.is_dir():
        for p in folder.rglob(f"*{TMP_TAG}*"):
            p.unlink(missing_ok=True)


def run(
    chain: Chain | Sequence[str],
    input_path: Path | str,
    output_path: Path | str,
    *,
    metrics: Iterable[str] | None = None,
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    save_corrupted: bool = False,
    progress: bool | Callable = False,
    command: list[str] | None = None,
    value_range: RangeSpec | str = "dtype",
) -> Report:
    """Run a chain over a file or a folder and write outputs and the report.

    Outputs mirror the input tree (names, formats, dtypes).  Existing outputs
    are kept and measured unless ``overwrite``, so a rerun resumes.  Items that
    fail are recorded in the report with their reason; the others are written.
    ``value_range`` says which stored values are 0 and 1 for the chain and the
    metrics: ``"dtype"`` (uint16: 0..65535), ``"data"`` (each image's min..max)
    or ``(lo, hi)``, e.g. ``(0, 4095)`` for a 12-bit camera (see ``apply_range``).
    """
    if not isinstance(chain, Chain):
        chain = Chain.from_specs(chain, metrics)
    if workers < 1:
        raise ImrestoreUsageError(f"--workers must be at least 1, got {workers}")
    value_range = parse_range(value_range)
    tasks, folder, stem = plan(input_path, output_path, save_corrupted)
    _check_previous(folder, stem, chain, seed, overwrite, range_text(value_range))
    _clean_tmp(folder)
    report = Report(
        chain=chain.specs,
        metrics=metric_keys(chain.metrics),
        seed=seed,
        input=str(input_path),
        output=str(output_path),
        versions={"imrestore": __version__, **get_registry().versions()},
        command=command or [],
        value_range=range_text(value_range),
    )
    start = time.perf_counter()
    bar = progress_bar(len(tasks), progress)
    results: list[ItemResult | None] = [None] * len(tasks)
    with contextlib.ExitStack() as stack:
        if progress is True:  # log lines (which weights were picked...) above the bar, not through it
            from tqdm.contrib.logging import logging_redirect_tqdm

            stack.enter_context(logging_redirect_tqdm(loggers=[logging.getLogger("imrestore")]))
            if workers == 1 or len(tasks) == 1:  # one item at a time: a large image shows its tiles
                from .nn.progress import tile_progress

                stack.enter_context(tile_progress())
        try:
            if workers == 1 or len(tasks) == 1:
                for t in tasks:
                    results[t.index] = process(t, chain, seed, overwrite, value_range)
                    bar.update(1)
            else:
                with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
                    futures = {pool.submit(_worker, (t, chain, seed, overwrite, value_range)): t for t in tasks}
                    try:
                        for fut in as_completed(futures):
                            results[futures[fut].index] = fut.result()
                            bar.update(1)
                    except BaseException:
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
        finally:
            bar.close()
            report.items = [r for r in results if r is not None]
            report.seconds = time.perf_counter() - start
            report.write(folder, stem)
    return report


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, progress: bool | Callable, unit: str = "img", initial: int = 0, desc: str | None = None, leave: bool = True):
    """A tqdm bar on stderr, a caller's own bar (``progress`` callable), or nothing."""
    if callable(progress):
        return progress(total)
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=leave)
