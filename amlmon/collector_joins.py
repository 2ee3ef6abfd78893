"""The collector pull's join threads: DuckDB joins the next folder (amlmon/collector_fast.py) in a thread
of its own while the folder before is written (DuckDB works without the GIL)."""

from __future__ import annotations

import queue
from concurrent.futures import Future
from pathlib import Path

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

    def submit(self, files: FolderFiles, partial_bytes: int) -> Future[tuple[Joined | None, str, int]]:
        """Join the folder in a join thread: (Joined or None, why declined, `partial_bytes`)."""
        return self._pool.submit(self._join, files, partial_bytes)

    def _join(self, files: FolderFiles, partial_bytes: int) -> tuple[Joined | None, str, int]:
        join = self._free.get()
        try:
            return join.join(files), join.declined, partial_bytes
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
        for join in self._joins:
            join.con.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for join in self._joins:
            join.close()
