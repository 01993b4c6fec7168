"""Volume formats: TIFF stacks (tifffile), HDF5 (h5py) and Zarr v3, plane by plane.

Each format reads one plane at a time and writes its output into a file made
up front with the input's shape, dtype, axes and metadata, so planes can land
in any order (worker pools, Dask) and a stopped run can be continued.

>>> import numpy as np, tempfile, pathlib, tifffile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "stack.tif"
>>> tifffile.imwrite(p, np.zeros((3, 8, 8), np.uint16), photometric="minisblack", metadata={"axes": "ZYX"})
>>> with TiffVolume().open(p) as src:
...     src.info.axes, src.info.n_planes, src.read_plane(2).dtype
('ZYX', 3, dtype('uint16'))
"""
from __future__ import annotations

from imrestore import hookimpl

from .hdf5_format import FastMRISource, H5Sink, H5Source, H5Volume, pick_dataset
from .tiff_format import TiffSink, TiffSource, TiffVolume
from .zarr_format import ZarrSink, ZarrSource, ZarrVolume

__all__ = ["FastMRISource", "H5Sink", "H5Source", "H5Volume", "TiffSink", "TiffSource", "TiffVolume", "ZarrSink", "ZarrSource",
           "ZarrVolume", "pick_dataset", "register_volume_formats"]


@hookimpl
def register_volume_formats(register):
    register(TiffVolume)
    register(H5Volume)
    register(ZarrVolume)
