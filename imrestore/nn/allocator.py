"""Keep glibc from handing PyTorch's CPU activations back to the kernel after every layer.

A convolution's output on a 512x512 image with 48 channels takes 48 MiB.  glibc
serves blocks that large with ``mmap`` and unmaps them when they are freed, so
each layer of each forward pass maps fresh pages and the kernel zeroes them on
first touch: on a 2-core machine that is about a third of a U-Net forward pass.
Raising the mmap and trim thresholds makes such blocks come from the heap and
stay there for the next layer, which is what jemalloc/tcmalloc (PyTorch's CPU
tuning guide recommends them) achieve by other means.  The process then keeps
its peak memory until it exits — the peak it needed anyway.

Set ``IMRESTORE_MALLOC=default`` to leave the allocator alone.

>>> tune_cpu_allocator() in (True, False)
True
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: glibc's mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks below this come from the heap; freed heap memory above it goes back to the kernel.
THRESHOLD = 1 << 30

_done: bool | None = None


def tune_cpu_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True if they were set.

    A no-op (False) off Linux, on another C library, or with ``IMRESTORE_MALLOC=default``.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("IMRESTORE_MALLOC", "").lower() == "default" or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl has no mallopt
        return _done
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, THRESHOLD))
    return _done
