"""Downloading the blobs a reader will want next while it parses the current one.

A reader announces the blobs it will read, in order, with the sizes the listing gave; a few worker
threads download them ahead (sockets release the GIL, so the parse goes on meanwhile), holding at most
`budget` bytes of blobs started and not yet taken. A blob bigger than the budget is not fetched ahead:
the reader streams it as before. Memory stays bounded however much data a pull reads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

BUDGET = 24 * 1024 * 1024
# Downloads into local files (amlmon/collector_stage.py) hold disk, not memory: about two folders ahead
STAGED_BUDGET = 160 * 1024 * 1024
WORKERS = 2


Fetched = TypeVar("Fetched")  # what a download gives: the blob's bytes, or a local file of them


# How much lower the download threads run than the rest of the process with `yielding` (Linux's nice, 0
# to 19). bench_collector, 2 cores: the staged downloads run folders ahead, and the DuckDB join they feed
# is the pull's critical path; with 10 the pull took 7.4-7.9 s instead of 8.0-8.8 s (19: the same as 10).
YIELDING_NICENESS = 10


class Prefetch(Generic[Fetched]):
    def __init__(
        self,
        download: Callable[[str], Fetched],
        budget: int = BUDGET,
        workers: int = WORKERS,
        *,
        yielding: bool = False,
    ) -> None:
        """`yielding`: the download threads give way to the process's other threads where the system can
        say so per thread (Linux); elsewhere they run as the others do."""
        self._download = download
        self._budget = budget
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="amlmon-prefetch",
            initializer=_lower_this_threads_priority if yielding else None,
        )
        self._queue: deque[tuple[str, int]] = deque()  # announced, not started
        self._started: dict[str, tuple[Future[Fetched], int]] = {}  # in announced order
        self._held = 0

    def plan(self, blobs: Iterable[tuple[str, int]]) -> None:
        """Announce blobs (name, size) the reader will take, in the order it will take them."""
        self._queue.extend(blobs)
        self._fill()

    def _fill(self) -> None:
        while self._queue:
            name, size = self._queue[0]
            if size > self._budget:  # streamed by the reader when it gets there
                self._queue.popleft()
                continue
            if self._started and self._held + size > self._budget:
                return
            self._queue.popleft()
            self._started[name] = (self._pool.submit(self._download, name), size)
            self._held += size

    def take(self, name: str) -> Fetched | None:
        """The blob's content when it was announced (waiting for its download if need be), else None: the
        caller reads it itself. Blobs announced before it and not taken are dropped (the reader moved on)."""
        if name not in self._started:
            self._skip_to(name)
            return None
        while True:
            other, (future, size) = next(iter(self._started.items()))
            del self._started[other]
            self._held -= size
            if other == name:
                break
            future.cancel()
        self._fill()
        return future.result()

    def _skip_to(self, name: str) -> None:
        """A blob announced but not started (or not announced): everything announced before it is stale."""
        if all(queued != name for queued, _size in self._queue):
            return
        for future, _size in self._started.values():
            future.cancel()
        self._started.clear()
        self._held = 0
        while self._queue and self._queue.popleft()[0] != name:
            pass
        self._fill()

    def close(self) -> None:
        """Stop: downloads not begun are cancelled; one under way finishes in its thread."""
        self._queue.clear()
        self._started.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_this_threads_priority() -> None:
    """Linux only: there a thread is a task with a priority of its own (elsewhere, the id given to
    setpriority would name a process). Lowering needs no privilege; a refusal leaves it as it was."""
    import contextlib
    import os
    import sys
    import threading

    if sys.platform.startswith("linux"):
        thread = threading.get_native_id()
        with contextlib.suppress(OSError):  # relative to what it inherited (nice is at most 19)
            os.setpriority(
                os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + YIELDING_NICENESS, 19)
            )
