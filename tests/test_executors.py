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


class Box:
    """A result whose value is filled later (as a run's measuring is)."""

    def __init__(self, unit):
        self.unit, self.value, self.thread = unit, None, None
        self.later = self.fill

    def fill(self):
        self.value, self.thread = self.unit * 10, threading.current_thread().name


@dataclass
class Deferred:
    fail_at: int | None = None

    def fetch(self, unit):
        return unit

    def process(self, unit, fetched):
        if unit == self.fail_at:
            raise KeyboardInterrupt
        return [Box(fetched)]

    def release(self):
        pass


def test_serial_settles_each_unit_on_a_measuring_thread_in_order():
    boxes = [b for bs in serial(Deferred(), [1, 2, 3]) for b in bs]
    assert [b.value for b in boxes] == [10, 20, 30] and all(b.later is None for b in boxes)
    assert all(b.thread.startswith("imrestore-measure") for b in boxes)


def test_serial_hands_over_the_settled_unit_before_a_failure_stops_it():
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for bs in serial(Deferred(fail_at=3), [1, 2, 3, 4]):
            seen += [b.value for b in bs]
    assert seen == [10, 20]


def test_pool_workers_settle_before_they_send_back():
    assert sorted(b.value for bs in pool(Deferred(), [1, 2, 3], 2) for b in bs) == [10, 20, 30]
