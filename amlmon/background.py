"""Work started now and collected later: a query running while amlmon decodes or prints another.

Each runs on a daemon thread, so Ctrl-C or a closed pipe never waits for an answer nobody will read
(a ThreadPoolExecutor joins its threads at exit: one slow query would hold the shell).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """`work()` on a daemon thread; `result()` waits for it and returns or raises what it did."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._answer: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._answer = work()
        except BaseException as exc:  # handed to the reader's thread in result()
            self._error = exc

    def result(self) -> T:
        while self._thread.is_alive():
            self._thread.join(0.2)  # short joins keep Ctrl-C responsive
        if self._error is not None:
            raise self._error
        return self._answer  # type: ignore[return-value]  # set whenever no error was
