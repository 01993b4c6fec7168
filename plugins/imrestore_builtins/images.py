"""Readers and writers for 2-D image files: PNG, JPEG, BMP (Pillow) and TIFF (tifffile).

They keep what a user expects to survive a round trip: dtype and bit depth,
grey/RGB/RGBA (alpha is carried aside and put back untouched), DPI and ICC
profiles, and TIFF resolution tags.

>>> import numpy as np, tempfile, pathlib
>>> from imrestore.interfaces import Image
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.png"
>>> PillowWriter().write(Image(np.zeros((4, 4, 3), np.float32), "YXC", np.dtype("uint8"), (0.0, 255.0)), p)
>>> PillowReader().read(p).dtype
dtype('uint8')
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image as PILImage

from imrestore import hookimpl
from imrestore.dtypes import from_unit, to_unit
from imrestore.interfaces import Image, Reader, Writer

_PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}


def split_alpha(array: np.ndarray, has_alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Separate a trailing alpha channel (restorers see grey or RGB only)."""
    if not has_alpha:
        return array, None
    colour = array[..., :-1]
    if colour.shape[-1] == 1:
        colour = colour[..., 0]
    return colour, array[..., -1]


def join_alpha(array: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    if alpha is None:
        return array
    if alpha.shape != array.shape[:2]:
        from skimage.transform import resize

        alpha = resize(alpha, array.shape[:2], order=0, preserve_range=True, anti_aliasing=False).astype(alpha.dtype)
    colour = array[..., None] if array.ndim == 2 else array
    return np.concatenate([colour, alpha[..., None].astype(colour.dtype)], axis=-1)


def _make_image(raw: np.ndarray, has_alpha: bool, metadata: dict) -> Image:
    colour, alpha = split_alpha(raw, has_alpha)
    data, value_range = to_unit(colour)
    if alpha is not None:
        metadata["alpha"] = alpha
    axes = "YX" if data.ndim == 2 else "YXC"
    return Image(data=data, axes=axes, dtype=raw.dtype, value_range=value_range, metadata=metadata)


def _png_bit_depth(path: Path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return 8, 0
    return head[24], head[25]


@dataclass
class PillowReader(Reader):
    """PNG, JPEG and BMP files through Pillow (8-bit, and 16-bit grey PNG)."""

    name = "pillow"
    suffixes = tuple(_PIL_FORMATS)

    def read(self, path):
        path = Path(path)
        if path.suffix.lower() == ".png":
            depth, colour_type = _png_bit_depth(path)
            if depth == 16 and colour_type in (2, 6):
                raise ValueError("16-bit colour PNG is not supported (Pillow reads it as 8-bit); save it as TIFF")
        with PILImage.open(path) as im:
            im.load()  # decode now: truncated files fail here, not later
            info = {k: im.info[k] for k in ("dpi", "icc_profile", "exif") if k in im.info}
            mode = im.mode
            if mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("L" if mode == "1" else "RGB")
            elif mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode in ("I", "I;16B", "I;16L"):
                im = im.convert("I;16") if mode != "I" else im
            elif mode == "PA":
                im = im.convert("LA")
            raw = np.asarray(im)
            if raw.dtype == np.int32:  # mode "I" from a 16-bit file
                raw = np.clip(raw, 0, 65535).astype(np.uint16)
            has_alpha = im.mode in ("RGBA", "LA")
        info["mode"] = mode
        return _make_image(raw, has_alpha, info)


@dataclass
class PillowWriter(Writer):
    """PNG, JPEG (quality 95) and BMP files through Pillow."""

    name = "pillow"
    suffixes = tuple(_PIL_FORMATS)

    def write(self, image, path):
        path = Path(path)
        fmt = _PIL_FORMATS[path.suffix.lower()]
        raw = from_unit(image.data, image.dtype, image.value_range)
        if raw.dtype == np.uint16 and raw.ndim == 3:
            raise ValueError("16-bit colour cannot be written by Pillow; write TIFF instead")
        if fmt != "PNG" and raw.dtype != np.uint8:
            raw = from_unit(image.data, np.uint8, (0.0, 255.0))
        if fmt != "PNG" and raw.ndim == 2 and raw.dtype == np.uint16:
            raw = (raw // 257).astype(np.uint8)
        if fmt == "PNG" and raw.dtype not in (np.uint8, np.uint16):
            raw = from_unit(image.data, np.uint16, (0.0, 65535.0))
        alpha = image.metadata.get("alpha")
        if fmt == "JPEG":
            alpha = None
        raw = join_alpha(raw, alpha)
        pil = PILImage.fromarray(raw)
        options = {k: image.metadata[k] for k in ("dpi", "icc_profile") if k in image.metadata}
        if fmt == "JPEG":
            options["quality"] = 95
            if "exif" in image.metadata:
                options["exif"] = image.metadata["exif"]
        pil.save(path, format=fmt, **options)


_TIFF_TAGS = ("XResolution", "YResolution", "ResolutionUnit", "ImageDescription", "Software", "DateTime")


@dataclass
class TiffReader(Reader):
    """Single-image TIFF files through tifffile (8/16-bit, float, grey/RGB/RGBA)."""

    name = "tiff"
    suffixes = (".tif", ".tiff")

    def read(self, path):
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise ValueError("no image data in the file")
            series = tif.series[0]
            page = tif.pages.first
            axes = series.axes
            if len([a for a in axes if a not in "YXS"]) and np.prod([s for a, s in zip(axes, series.shape) if a not in "YXS"]) > 1:
                raise ValueError(f"a stack with axes {axes} and shape {series.shape}: give the file itself as INPUT "
                                 "to process it plane by plane (imrestore run SPEC... stack.tif out.tif)")
            raw = series.asarray()
            kept = "".join(a for a in axes if a in "YXS")
            raw = raw.reshape([s for a, s in zip(axes, series.shape) if a in "YXS"])
            raw = np.transpose(raw, [kept.index(a) for a in "YXS" if a in kept])  # planar RGB -> YXS
            tags = {name: page.tags[name].value for name in _TIFF_TAGS if name in page.tags}
            extra = page.extrasamples if hasattr(page, "extrasamples") else ()
            photometric = int(page.photometric)
            compression = int(page.compression)
            planar = int(page.planarconfig) == 2 and raw.ndim == 3
        has_alpha = raw.ndim == 3 and (len(extra) > 0 or raw.shape[-1] in (2, 4))
        meta = {"tiff_tags": tags, "photometric": photometric, "compression": compression, "planar": planar}
        image = _make_image(raw, has_alpha, meta)
        if raw.ndim == 3 and raw.shape[-1] not in (1, 2, 3, 4):
            raise ValueError(f"{raw.shape[-1]} samples per pixel are not supported")
        return image


@dataclass
class TiffWriter(Writer):
    """TIFF files through tifffile, with resolution tags and description kept."""

    name = "tiff"
    suffixes = (".tif", ".tiff")

    def write(self, image, path):
        raw = from_unit(image.data, image.dtype, image.value_range)
        raw = join_alpha(raw, image.metadata.get("alpha"))
        tags = image.metadata.get("tiff_tags", {})
        kwargs: dict = {}
        if "XResolution" in tags and "YResolution" in tags:
            kwargs["resolution"] = (tags["XResolution"], tags["YResolution"])
            if "ResolutionUnit" in tags:
                kwargs["resolutionunit"] = int(tags["ResolutionUnit"])
        if "ImageDescription" in tags and not str(tags["ImageDescription"]).startswith("{"):
            kwargs["description"] = tags["ImageDescription"]
        if "Software" in tags:
            kwargs["software"] = tags["Software"]
        if image.metadata.get("compression") in (8, 32946):  # deflate: zlib is in the standard library
            kwargs["compression"] = "zlib"
        colour = raw.ndim == 3 and raw.shape[-1] >= 3
        if raw.ndim == 3 and raw.shape[-1] in (2, 4):
            kwargs["extrasamples"] = ("unassalpha",)
        if image.metadata.get("planar") and raw.ndim == 3:  # the input stored each sample as its own plane: so does the output
            raw = np.moveaxis(raw, -1, 0)
            kwargs["planarconfig"] = "separate"
        tifffile.imwrite(path, raw, photometric="rgb" if colour else "minisblack", metadata=None, **kwargs)


@hookimpl
def register_readers(register):
    register(PillowReader)
    register(TiffReader)


@hookimpl
def register_writers(register):
    register(PillowWriter)
    register(TiffWriter)
