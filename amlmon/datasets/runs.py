"""What `data pull` (query API or collector blobs) and `data extract` share around a DatasetOutput: the
range a resumed run keeps, what an interrupted run leaves behind, and the notes about the rows written.

Lines for the user are handed to the caller's `warn` / `note` callables; nothing here prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amlmon.datasets.output import DatasetOutput

Say = Callable[[str], None]


def datetime_from(text: Any, default: Any) -> Any:
    try:
        return dt.datetime.fromisoformat(str(text)) if text else default
    except ValueError:
        return default


def pinned_range(
    destination: DatasetOutput, start: dt.datetime, end: dt.datetime, resume: bool
) -> tuple[dt.datetime, dt.datetime]:
    """The range to pull, saved in the checkpoint: a resumed run keeps the interrupted run's range (a
    relative --until/--since must not move between runs)."""
    if resume and destination.checkpoint.parts:
        start = datetime_from(destination.checkpoint.params.get("_start"), start)
        end = datetime_from(destination.checkpoint.params.get("_end"), end)
    destination.checkpoint.params["_start"], destination.checkpoint.params["_end"] = (
        start.isoformat(),
        end.isoformat(),
    )
    return start, end


def interrupted(destination: DatasetOutput, by_user: bool, note: Say, unit: str = "slice") -> None:
    """After Ctrl-C, a crash or a service error: finished parts stay for --resume, else nothing is kept.
    `unit`: what a part holds, as the user knows the pull — a v1 pull's time slice, a collector pull's
    folder."""
    if destination.checkpoint.parts:
        destination.release()
        note(
            f"{destination.rows_done} rows are saved in {destination.parts_dir}; "
            "run the same command with --resume to continue"
        )
        return
    destination.discard()
    if by_user:  # Ctrl-C before the first part: say so, an error has its own line
        note(nothing_kept(destination.path, f"interrupted before the first {unit} was saved"))


def nothing_kept(out: Path, when: str) -> str:
    state = "left as it was" if out.exists() else "not created"
    return f"{when}: nothing was kept ({out} {state})"


def report(destination: DatasetOutput, truncated: int, malformed: int, warn: Say) -> None:
    """Records cut by App Insights, lines that were not records, and what --flatten did."""
    if truncated:
        warn(
            f"{count(truncated, 'record was', 'records were')} cut by Application Insights at 8,192 "
            "characters: kept with truncated=true and the raw text (input/prediction incomplete)"
        )
    if malformed:
        warn(f"{count(malformed, 'line was', 'lines were')} not a JSON record and skipped")
    for line in destination.flatten_notes.lines():
        warn(line)


def count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
