"""The CPU allocator tuning: large freed blocks stay in the process, opt-out works."""
from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import os, sys
import numpy as np
from imrestore.nn.inference import select_device
select_device("cpu")
from imrestore.nn.allocator import tune_cpu_allocator
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before = rss()
a = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
del a
print(tune_cpu_allocator(), round(rss() - before))
"""


def _probe(env_value: str | None) -> tuple[str, int]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "IMRESTORE_MALLOC"}
    if env_value is not None:
        env["IMRESTORE_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_select_device_cpu_keeps_large_blocks_on_the_heap():
    tuned, kept = _probe(None)
    assert tuned == "True"
    assert kept > 150  # the freed 200 MiB block is kept for the next layer


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_imrestore_malloc_default_leaves_glibc_alone():
    tuned, kept = _probe("default")
    assert tuned == "False"
    assert kept < 50  # glibc unmapped the block as usual
