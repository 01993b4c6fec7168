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

Modules: ``formats`` (paths and the format plugins), ``planes`` (the work of
one plane or slab), ``job`` (the volume's job for :func:`imrestore.runner.run`:
the partial output, its record and the writer thread), ``measure`` (ranges and
metrics, ``eval``).  The executors (serial, pool, Dask) are the runner's,
shared with image folders.

Example
-------
>>> from imrestore.runner import run
>>> report = run(["gaussian:sigma=10", "restorer:wavelet"], "stack.tif", "out.tif")  # doctest: +SKIP
>>> report.volume["restored"]["psnr"]  # doctest: +SKIP
41.2
"""
from __future__ import annotations

from .formats import format_for, is_volume, open_volume, plane_label, split_volume_path
from .job import FLUSH_EVERY_S, PARTIAL_TAG, PlaneWriter, VolumeJob
from .measure import evaluate_volumes, volume_ranges, volume_summary
from .planes import (
    PlaneContext,
    PlaneResult,
    process_plane,
    process_slab,
    process_unit,
    work_units,
)

__all__ = [
    "FLUSH_EVERY_S", "PARTIAL_TAG", "PlaneContext", "PlaneResult", "PlaneWriter", "VolumeJob", "evaluate_volumes", "format_for",
    "is_volume", "open_volume", "plane_label", "process_plane", "process_slab", "process_unit", "split_volume_path",
    "volume_ranges", "volume_summary", "work_units",
]
