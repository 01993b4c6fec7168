"""Who processes the units: this process (with a reader thread), a process pool, or Dask; and the writer thread."""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import ImrestoreUsageError
from ..report import atomic_write_text
from .formats import _reason
from .planes import (
    _READ_AHEAD,
    PlaneContext,
    PlaneResult,
    Unit,
    _source,
    close_sources,
    process_and_write,
    process_unit,
)

log = logging.getLogger("imrestore")

# --------------------------------------------------------------------------- executors



def _serial(ctx: PlaneContext, units: Sequence[Unit]) -> Iterator[list[PlaneResult]]:
    """One process; a reader thread fetches the next unit's planes while this one computes."""
    from concurrent.futures import ThreadPoolExecutor

    if not units:
        return
    source = _source(ctx.source)  # opened here, not raced by the reader thread

    def fetch(unit: Unit) -> dict[int, np.ndarray]:
        return {i: source.read_plane(i) for i in sorted({*unit[0], *unit[1]})}

    with ThreadPoolExecutor(1, thread_name_prefix="imrestore-reader") as reader:
        ahead = reader.submit(fetch, units[0])
        try:
            for k, unit in enumerate(units):
                planes = ahead.result()
                if k + 1 < len(units):
                    ahead = reader.submit(fetch, units[k + 1])
                _READ_AHEAD.update({(ctx.source, i): p for i, p in planes.items()})
                try:
                    yield process_unit(ctx, unit)
                finally:
                    for i in planes:
                        _READ_AHEAD.pop((ctx.source, i), None)
        finally:
            ahead.cancel()


class PlaneWriter:
    """Writes planes, flushes and records them on one background thread, in order.

    File I/O then overlaps the next plane's work.  A plane is added to the
    record only by the flush that follows its write, so the record never
    claims a plane that is not in the file.  At most a few writes wait in line
    (bounded memory); a write that fails raises in the caller.
    """

    def __init__(self, sink, record: dict, record_path: Path, max_pending: int = 3):
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.sink, self.record, self.record_path = sink, record, record_path
        self.unflushed: dict[str, dict] = {}
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="imrestore-writer")
        self.pending: deque = deque()
        self.max_pending = max_pending

    def _submit(self, fn, *args) -> None:
        self.pending.append(self.pool.submit(fn, *args))
        while len(self.pending) > self.max_pending or (self.pending and self.pending[0].done()):
            self.pending.popleft().result()

    def _write(self, index: int, data: np.ndarray | None, entry: dict) -> None:
        if data is not None:  # None: a worker wrote it already
            self.sink.write_plane(index, data)
        self.unflushed[str(index)] = entry

    def _flush(self) -> None:
        self.sink.flush()
        self.record["done"].update(self.unflushed)
        self.unflushed.clear()
        atomic_write_text(self.record_path, json.dumps(self.record))

    def write(self, index: int, data: np.ndarray, entry: dict) -> None:
        self._submit(self._write, index, data, entry)

    def flush(self) -> None:
        self._submit(self._flush)

    def close(self) -> None:
        """Wait for every write, flush and record them; raise the first error."""
        error = None
        while self.pending:
            try:
                self.pending.popleft().result()
            except Exception as exc:  # noqa: BLE001 - finish the others, then raise the first
                error = error or exc
        self.pool.shutdown(wait=True)
        self._flush()
        if error is not None:
            raise error


_CTX: PlaneContext | None = None


def _init_worker(ctx: PlaneContext) -> None:
    global _CTX
    _CTX = ctx


def _pool_job(unit: Unit) -> list[PlaneResult]:
    assert _CTX is not None
    return process_and_write(_CTX, unit)


def _pool(ctx: PlaneContext, units: Sequence[Unit], workers: int) -> Iterator[list[PlaneResult]]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(ctx,)) as pool:
        pending, queue = set(), list(units)
        try:
            while queue or pending:
                while queue and len(pending) < 2 * workers:  # bounded: at most two units per worker in flight
                    pending.add(pool.submit(_pool_job, queue.pop(0)))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _dask(ctx: PlaneContext, units: Sequence[Unit], workers: int, scheduler: str | None) -> Iterator[list[PlaneResult]]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImrestoreUsageError("--dask and --scheduler need dask.distributed: pip install 'dask[distributed]'") from None
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as exc:
                raise ImrestoreUsageError(f"cannot reach the Dask scheduler at {scheduler}: {_reason(exc)}") from exc
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        n = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})) if scheduler else workers)
        ctx_future = client.scatter(ctx, broadcast=True, hash=False)
        queue = list(units)
        first = [client.submit(process_and_write, ctx_future, queue.pop(0), pure=False) for _ in range(min(len(queue), 2 * n))]
        stream = as_completed(first)
        try:
            for fut in stream:
                result = fut.result()
                fut.release()
                if queue:
                    stream.add(client.submit(process_and_write, ctx_future, queue.pop(0), pure=False))
                yield result
        finally:
            if scheduler:  # workers outlive the run: let go of the files they opened (a local cluster just stops)
                try:
                    client.run(close_sources)
                except Exception as exc:  # a worker gone away holds nothing
                    log.warning("could not close the input on every Dask worker: %s", _reason(exc))

