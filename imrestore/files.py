"""Image files: reading and writing them with the registered plugins, atomically, and finding them in a folder.

Example
-------
>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from imrestore.interfaces import Image
>>> folder = Path(tempfile.mkdtemp())
>>> write_image(Image(np.full((4, 4), 0.5, np.float32), dtype=np.dtype("uint8"), value_range=(0.0, 255.0)), folder / "grey.png")
>>> read_image(folder / "grey.png").dtype, [p.name for p in discover(folder)]
(dtype('uint8'), ['grey.png'])
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .dtypes import RangeSpec, apply_range, parse_range
from .errors import ImrestoreUsageError, error_reason
from .interfaces import Image
from .registry import get_registry

#: Written files are first written under a name with this tag, then renamed.
TMP_TAG = ".imrestore-tmp"


def read_image(path: Path | str) -> Image:
    """Read a file with the reader registered for its suffix."""
    reader = get_registry().for_path("reader", path).cls()
    try:
        return reader.read(Path(path))
    except Exception as exc:
        raise OSError(f"cannot read {path}: {error_reason(exc)}") from exc


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


def sibling(path: Path | str, name: str) -> Path:
    """Where an extra output ``name`` of the output ``path`` goes: ``out.tif`` -> ``out.std.tif``.

    >>> sibling("run/a.png", "std").as_posix()
    'run/a.std.png'
    """
    path = Path(path)
    return path.with_name(f"{path.stem}.{name}{path.suffix}")


def check_writable(folder: Path) -> None:
    """Stop a run before any work where ``folder`` cannot be made or written into (a file in its way, a read-only or
    foreign folder), not at its first output, hours in.  Nothing is created.

    >>> check_writable(Path("/dev/null/out"))
    Traceback (most recent call last):
    ...
    imrestore.errors.ImrestoreUsageError: cannot write to /dev/null/out: /dev/null is a file, not a folder
    """
    existing = Path(os.path.abspath(folder))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ImrestoreUsageError(f"cannot write to {folder}: {existing} is a file, not a folder")
    try:  # a file made and gone at once: what the run's first write would meet (permissions, a read-only disk)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ImrestoreUsageError(f"cannot write to {folder}: {(exc.strerror or error_reason(exc)).lower()} (under {existing})") from None


def clean_tmp(folder: Path) -> None:
    """Remove the temporary files a stopped run left under ``folder``."""
    if folder.is_dir():
        for p in folder.rglob(f"*{TMP_TAG}*"):
            p.unlink(missing_ok=True)


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (after resolving links)."""
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def discover(input_path: Path, exclude: Path | None = None) -> list[Path]:
    """Every readable image under ``input_path`` (or the file itself), sorted; hidden files are skipped."""
    suffixes = get_registry().suffixes("reader")
    if input_path.is_file():
        return [input_path]
    found = []
    for p in sorted(input_path.rglob("*")):
        rel = p.relative_to(input_path)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        if exclude is not None and inside(p, exclude):
            continue
        if p.suffix.lower() in suffixes:
            found.append(p)
    return found
