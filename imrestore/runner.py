"""One runner for images and volumes: planning, resume, workers, progress, logging and the report.

A run is a :class:`Job`: a source of work units (the image files of a folder;
the planes or halo'd slabs of a volume) and a sink for their results (atomic
image files; a pre-allocated volume with its record of finished planes).
:func:`run` drives any job the same way: it asks the job what is left to do,
hands the units to an executor (this process, a process pool or Dask, see
:mod:`imrestore.executors`), passes each unit's results back to the job as
they come, shows one progress bar, and lets the job finish or keep what it
has when the run stops.

Example
-------
>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from skimage import data, io
>>> folder = Path(tempfile.mkdtemp())
>>> io.imsave(folder / "camera.png", data.camera()[:64, :64], check_contrast=False)
>>> report = run(["gaussian:sigma=25", "restorer:tv"], folder / "camera.png", folder / "out")
>>> report.mean()["restored"]["psnr"] > report.mean()["corrupted"]["psnr"]
True
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .chain import Chain
from .dtypes import RangeSpec
from .executors import execute, is_parallel
from .folders import ImageFolderJob
from .job import Job, RunOptions
from .progress import log_above, progress_bar, tile_progress
from .report import Report, new_report
from .volumes.formats import is_volume
from .volumes.job import VolumeJob


def job_for(input_path: str | Path) -> type[Job]:
    """The kind of job that reads ``input_path``: a volume, else image files."""
    return VolumeJob if is_volume(input_path) else ImageFolderJob


def run(
    chain: Chain | Sequence[str],
    input_path: Path | str,
    output_path: Path | str,
    *,
    metrics: Iterable[str] | None = None,
    seed: int = 0,
    workers: int = 1,
    dask: bool = False,
    scheduler: str | None = None,
    overwrite: bool = False,
    save_corrupted: bool = False,
    center_crop: tuple[int, int] | None = None,
    progress: bool | Callable = False,
    command: list[str] | None = None,
    value_range: RangeSpec | str = "dtype",
) -> Report:
    """Run a chain over an image file, a folder of images or a volume; write the outputs and the report.

    Image outputs mirror the input tree (names, formats, dtypes); a volume
    gives a volume of the same shape, dtype and metadata.  A rerun resumes:
    finished images and planes are kept unless ``overwrite``.  Images that
    fail are recorded in the report with their reason; the others are
    written.  ``workers > 1`` runs a process pool, ``dask`` a local Dask
    cluster of ``workers`` processes, ``scheduler`` an existing one; all give
    the same bytes as one process.  ``value_range`` says which stored values
    are 0 and 1 for the chain and the metrics: ``"dtype"`` (uint16:
    0..65535), ``"data"`` (each image's, or the volume's, min..max) or
    ``(lo, hi)``, e.g. ``(0, 4095)`` for a 12-bit camera.
    """
    if not isinstance(chain, Chain):
        chain = Chain.from_specs(chain, metrics)
    options = RunOptions(seed, workers, dask, scheduler, overwrite, save_corrupted, center_crop, value_range)
    report = new_report(chain, input_path, output_path, seed=seed, command=command, value_range=options.value_range)
    with job_for(input_path)(chain, input_path, output_path, options, report) as job:
        complete = job.start(progress)
        if complete is not None:
            return complete
        _drive(job, progress)
    return job.report


def _drive(job: Job, progress: bool | Callable) -> None:
    """Hand the job's units to an executor and its results back to the job, with one progress bar."""
    opts = job.options
    units = job.units()
    parallel = is_parallel(units, opts.workers, opts.dask, opts.scheduler)
    work = job.work(parallel)
    start = time.perf_counter()
    bar = progress_bar(job.total, progress, unit=job.unit_name, initial=job.finished)
    # in a serial run, one large image through a network shows its tiles (the bar of items would sit still)
    with log_above(progress), tile_progress(progress is True and not parallel):
        try:
            for results in execute(work, units, opts.workers, opts.dask, opts.scheduler):
                bar.update(job.accept(results))
            job.report.seconds = time.perf_counter() - start
            job.finish()
        except BaseException as exc:
            job.report.seconds = time.perf_counter() - start
            job.abort(exc)
            raise
        finally:
            bar.close()
