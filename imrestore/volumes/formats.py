"""Volume paths (``file.h5:/group/data``), the format that reads or writes them, plane labels."""
from __future__ import annotations

from pathlib import Path

from ..errors import ImrestoreUsageError, error_reason
from ..interfaces import VolumeFormat, VolumeInfo, VolumeSource
from ..registry import get_registry

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
        raise ImrestoreUsageError(f"cannot read {path}: {error_reason(exc)}") from exc
    src.info.metadata.setdefault("path", str(path))
    return src


def plane_label(info: VolumeInfo, i: int) -> str:
    """A human name for plane ``i``: ``Z=3`` or ``T=0,Z=3``."""
    lead = info.axes[: len(info.axes) - info.plane_ndim]
    return ",".join(f"{a}={v}" for a, v in zip(lead, info.plane_index(i))) or "plane"

