"""Ctrl-C while DuckDB reads a folder stops the pull (KeyboardInterrupt: exit 130), it does not turn into
an error or a quiet switch to the reference path."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from amlmon.collector_fast import FolderFiles, FolderJoin

UTC = dt.UTC


def _folder(tmp_path: Path, records: int) -> FolderFiles:
    line = {"time": "2026-11-30T09:00:00Z", "source": "/x/workspaces/ws/y", "data": [{"a": 1.5}]}
    for name in ("in", "out"):
        with open(tmp_path / f"{name}.jsonl", "w") as handle:
            for index in range(records):
                handle.write(json.dumps({**line, "correlationid": f"{name}{index}"}) + "\n")
    return FolderFiles(
        [(tmp_path / "in.jsonl", "i0")],
        [tmp_path / "out.jsonl"],
        lambda: [],
        (dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC)),
        ("ep", "blue"),
    )


def test_ctrl_c_in_a_duckdb_query_is_a_keyboard_interrupt(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 200_000)
    join = FolderJoin(tmp_path / "spill")
    done = threading.Event()

    def interrupt() -> None:  # as DuckDB's own SIGINT handler does, until the join has stopped
        while not done.wait(0.005):
            join.con.interrupt()

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            join.join(folder)
    finally:
        done.set()
    assert join.declined == ""  # not taken for a folder DuckDB cannot read


def test_the_same_folder_uninterrupted_is_joined(tmp_path: Path) -> None:  # the control
    joined = FolderJoin(tmp_path / "spill").join(_folder(tmp_path, 2_000))
    assert joined is not None and joined.table.num_rows == 2_000 and joined.without_output == 2_000


def test_a_join_keeps_no_table_for_the_next_folder(tmp_path: Path) -> None:
    """A folder's tables would hold DuckDB's memory while the next one is read: none is left, after a
    join (with rows: the tables were there) or a decline."""
    join = FolderJoin(tmp_path / "spill")
    tables = "SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY 1"
    folder = _folder(tmp_path, 50)
    joined = join.join(folder)
    assert joined is not None and joined.table.num_rows == 50
    assert join.con.execute(tables).fetchall() == []
    with open(tmp_path / "in.jsonl", "a") as handle:  # a row id twice: declined after its tables are made
        handle.write(json.dumps({"time": "2026-11-30T09:00:00Z", "correlationid": "in0", "data": [1]}) + "\n")
    assert join.join(folder) is None and join.declined == "a row id twice"
    assert join.con.execute(tables).fetchall() == []
