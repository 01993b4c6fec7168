"""Who does a run's work units: this process (with a reader thread), a process pool, or a Dask cluster.

A run hands an executor a *work* object and a list of units.  The work object
is sent once to each worker and must be picklable; it has three methods:

- ``fetch(unit)``: read what the unit needs (in a serial run, on a reader
  thread while the previous unit computes);
- ``process(unit, fetched)``: the unit's list of results; a result may leave
  work for later (its measuring) as a callable in its ``later`` attribute,
  which :func:`settle` runs;
- ``release()``: let go of the files this process opened for the work.

Every executor yields one list of settled results per unit, in the order
units finish; at most two units per worker are in flight, so memory stays
bounded.  A serial run measures a unit on a thread of its own while the next
one computes (reader, computing and measuring overlap, one unit each).

Example
-------
>>> class Squares:
...     def fetch(self, unit): return unit
...     def process(self, unit, fetched): return [fetched * fetched]
...     def release(self): pass
>>> sorted(r for rs in serial(Squares(), [1, 2, 3]) for r in rs)
[1, 4, 9]
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Any, Protocol

from . import similarity
from .errors import ImrestoreUsageError, error_reason, option

log = logging.getLogger("imrestore")


class Work(Protocol):
    """What an executor runs: see the module's docstring."""

    def fetch(self, unit: Any) -> Any: ...

    def process(self, unit: Any, fetched: Any) -> list: ...

    def release(self) -> None: ...


def settle(results: list) -> list:
    """Run the work the results left for later (``result.later``: their measuring), in place; return them."""
    for res in results:
        later = getattr(res, "later", None)
        if later is not None:
            res.later = None
            later()
    return results


def run_unit(work: Work, unit: Any) -> list:
    """A worker's job: fetch, process and settle one unit."""
    return settle(work.process(unit, work.fetch(unit)))


def serial(work: Work, units: Sequence[Any]) -> Iterator[list]:
    """One process: a reader thread fetches the next unit and a measuring thread settles the previous one while this
    one computes."""
    if not units:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="imrestore-reader") as reader, \
            ThreadPoolExecutor(1, thread_name_prefix="imrestore-measure") as measurer:
        ahead = reader.submit(work.fetch, units[0])
        settling = None
        try:
            for k, unit in enumerate(units):
                fetched = ahead.result()
                if k + 1 < len(units):
                    ahead = reader.submit(work.fetch, units[k + 1])
                try:
                    results = work.process(unit, fetched)
                except BaseException:  # the unit before this one is done: hand it over before stopping
                    if settling is not None:
                        done, settling = settling.result(), None
                        yield done
                    raise
                if settling is not None:
                    yield settling.result()
                settling = measurer.submit(settle, results)
            if settling is not None:
                yield settling.result()
                settling = None
        finally:
            ahead.cancel()
            if settling is not None:
                settling.cancel()


_WORK: Work | None = None


def _init_worker(work: Work, workers: int = 1) -> None:
    global _WORK
    _WORK = work  # and each worker measures with its share of the processors
    similarity.THREADS = max(1, (os.cpu_count() or 1) // max(1, workers))


def _pool_job(unit: Any) -> list:
    assert _WORK is not None
    return run_unit(_WORK, unit)


def pool(work: Work, units: Sequence[Any], workers: int) -> Iterator[list]:
    """``workers`` processes of this machine (each gets ``work`` once)."""
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(work, workers)) as executor:
        pending, queue = set(), list(units)
        try:
            while queue or pending:
                while queue and len(pending) < 2 * workers:
                    pending.add(executor.submit(_pool_job, queue.pop(0)))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise


def dask(work: Work, units: Sequence[Any], workers: int, scheduler: str | None) -> Iterator[list]:
    """A local Dask cluster of ``workers`` processes, or the existing cluster at ``scheduler``."""
    try:  # lazy: dask.distributed takes a second to import, and most runs never use it
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImrestoreUsageError(f"{option('dask')} and {option('scheduler')} need dask.distributed: pip install 'dask[distributed]'") from None
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as exc:
                raise ImrestoreUsageError(f"cannot reach the Dask scheduler at {scheduler}: {error_reason(exc)}") from exc
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        n = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})) if scheduler else workers)
        work_future = client.scatter(work, broadcast=True, hash=False)
        queue = list(units)
        first = [client.submit(run_unit, work_future, queue.pop(0), pure=False) for _ in range(min(len(queue), 2 * n))]
        stream = as_completed(first)
        try:
            for fut in stream:
                result = fut.result()
                fut.release()
                if queue:
                    stream.add(client.submit(run_unit, work_future, queue.pop(0), pure=False))
                yield result
        finally:
            if scheduler:  # workers outlive the run: let go of the files they opened (a local cluster just stops)
                try:
                    client.run(work.release)
                except Exception as exc:  # a worker gone away holds nothing
                    log.warning("could not close the input on every Dask worker: %s", error_reason(exc))


def execute(work: Work, units: Sequence[Any], workers: int = 1, use_dask: bool = False,
            scheduler: str | None = None) -> Iterator[list]:
    """The executor a run asked for: Dask, a pool (``workers > 1`` and more than one unit), or this process."""
    if use_dask or scheduler:
        return dask(work, units, workers, scheduler)
    if workers > 1 and len(units) > 1:
        return pool(work, units, min(workers, len(units)))
    return serial(work, units)


def is_parallel(units: Sequence[Any], workers: int, use_dask: bool, scheduler: str | None) -> bool:
    """Whether ``execute`` will run the units in other processes."""
    return bool(use_dask or scheduler) or (workers > 1 and len(units) > 1)
