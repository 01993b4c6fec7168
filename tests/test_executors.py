"""The executors (imrestore/executors.py): serial with read-ahead, a process pool, Dask; all give every unit once."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from imrestore.executors import execute, is_parallel, pool, serial


@dataclass
class Squares:
    """A picklable work object: fetch records its thread, process squares."""

    fetch_threads: list = field(default_factory=list)

    def fetch(self, unit):
        self.fetch_threads.append(threading.current_thread().name)
        return unit

    def process(self, unit, fetched):
        return [fetched * fetched]

    def release(self):
        pass


def test_serial_reads_ahead_on_a_reader_thread_and_keeps_order():
    work = Squares()
    assert [r for rs in serial(work, [1, 2, 3]) for r in rs] == [1, 4, 9]
    assert all(name.startswith("imrestore-reader") for name in work.fetch_threads)
    assert list(serial(work, [])) == []


def test_pool_gives_every_unit_once():
    assert sorted(r for rs in pool(Squares(), list(range(10)), 2) for r in rs) == [i * i for i in range(10)]


def test_execute_picks_the_executor_and_says_whether_it_is_parallel():
    assert not is_parallel([1], 4, False, None) and is_parallel([1, 2], 2, False, None) and is_parallel([1], 1, True, None)
    assert sorted(r for rs in execute(Squares(), [1, 2, 3], workers=2) for r in rs) == [1, 4, 9]


@pytest.mark.slow
def test_dask_gives_every_unit_once():
    pytest.importorskip("dask.distributed")
    assert sorted(r for rs in execute(Squares(), [1, 2, 3], workers=1, use_dask=True) for r in rs) == [1, 4, 9]
