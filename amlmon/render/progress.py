"""The progress bar of a long dataset run: rows done of rows expected, on an interactive terminal only."""

from __future__ import annotations

from typing import Any


class RowProgress:
    """A transient rich bar; call it with (done, total), `stop` when the run ends."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._task: Any = self._progress.add_task("rows", total=None)
        self._progress.start()

    def __call__(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total or None)

    def stop(self) -> None:
        self._progress.stop()


def row_progress() -> RowProgress | None:
    """A bar on an interactive terminal, nothing otherwise."""
    from amlmon.context import is_interactive

    return RowProgress() if is_interactive() else None
