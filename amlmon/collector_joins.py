"""The collector pull's join threads: DuckDB joins the next folder (amlmon/collector_fast.py) in a thread
of its own while the folder before is written (DuckDB works without the GIL)."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import Any

from amlmon.collector_fast import FolderFiles, FolderJoin, Joined

# Folders DuckDB joins at a time, each in a thread of its own (and a database: two on one database lock
# each other), while the folder before is written. bench_collector, 2 cores: 2 saved 0.5-0.7 s of ~8.5 s,
# and nothing measurable once the downloads ran at a lower priority, but the pull's peak went from ~280 MB
# to 300-333 MB (its budget is 300 MB), so one.
JOINS_AHEAD = 1


class JoinThreads:
    """JOINS_AHEAD FolderJoins, each used by one join thread at a time (DuckDB works without the GIL)."""

    def __init__(self, spill: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._joins = [FolderJoin(spill / f"duckdb-{n}") for n in range(JOINS_AHEAD)]
        self._free: queue.Queue[FolderJoin] = queue.Queue()
        for join in self._joins:
            self._free.put(join)
        self._pool = ThreadPoolExecutor(JOINS_AHEAD, thread_name_prefix="amlmon-join")
        self._closed = False

    def submit(self, files: FolderFiles, partial_bytes: int) -> Future[tuple[Joined | None, str, int]]:
        """Join the folder in a join thread: (Joined or None, why declined, `partial_bytes`)."""
        return self._pool.submit(self._join, files, partial_bytes)

    def _join(self, files: FolderFiles, partial_bytes: int) -> tuple[Joined | None, str, int]:
        join = self._take()
        handed = False
        try:
            joined = join.join(files)
            if joined is not None and joined.slices is not None:  # the FolderJoin is free once they are read
                joined.slices = self._returning(joined.slices, join)
                handed = True
            return joined, join.declined, partial_bytes
        finally:
            if not handed:
                self._free.put(join)

    def _take(self) -> FolderJoin:
        """A free FolderJoin; a folder's slices may hold one until the pull stops (then CancelledError)."""
        while True:
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                if self._closed:
                    raise CancelledError from None

    def _returning(self, slices: Iterator[Any], join: FolderJoin) -> Iterator[Any]:
        try:
            yield from slices
        finally:
            self._free.put(join)

    @staticmethod
    def result(join: Future[tuple[Joined | None, str, int]]) -> tuple[Joined | None, str, int]:
        """A join's result, waited for in short steps: back in Python now and then, so that a Ctrl-C
        another thread took is raised here (a wait without a timeout would hold it until the join ends)."""
        while True:
            try:
                return join.result(timeout=0.1)
            except TimeoutError:
                continue

    def close(self) -> None:
        """Stop: joins under way are interrupted (not waited for), then the databases close."""
        self._closed = True
        for join in self._joins:
            join.con.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for join in self._joins:
            join.close()
