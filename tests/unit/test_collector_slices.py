"""A large folder's rows come out of DuckDB in slices (collector_fast.SLICE_ABOVE): the same rows as one
table; its FolderJoin is busy until the slices are read, and a pull stopping meanwhile does not hang."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError
from pathlib import Path

import pyarrow as pa
import pytest

from amlmon.collector_fast import FolderJoin
from amlmon.collector_joins import JoinThreads
from tests.unit.test_collector_fast_interrupt import _folder

_TEMP_TABLES = "SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY 1"


def test_slices_hold_the_rows_of_one_table_and_leave_nothing_once_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 20_000)
    whole = FolderJoin(tmp_path / "whole").join(folder)
    assert whole is not None and whole.slices is None  # the control: a small folder is one table
    join = FolderJoin(tmp_path / "sliced")
    join.slice_above, join.slice_bytes = 0, 20_000
    sliced = join.join(folder)
    assert sliced is not None and sliced.table is None and sliced.slices is not None
    assert join.con.execute(_TEMP_TABLES).fetchall() == [("joined",)]  # read by the slices
    pieces = list(sliced.slices)
    assert len(pieces) > 1
    assert pa.concat_tables(pieces).equals(whole.table)
    assert (sliced.rows, sliced.records, sliced.without_output) == (
        20_000,
        whole.records,
        whole.without_output,
    )
    assert join.con.execute(_TEMP_TABLES).fetchall() == []
    limit = "SELECT current_setting('memory_limit')"
    assert join.con.execute(limit).fetchall() == FolderJoin(tmp_path / "new").con.execute(limit).fetchall()


def _sliced_threads(tmp_path: Path) -> JoinThreads:
    threads = JoinThreads(tmp_path / "spill")
    for join in threads._joins:
        join.slice_above, join.slice_bytes = 0, 20_000
    return threads


def test_a_sliced_folder_holds_its_join_until_its_slices_are_read(tmp_path: Path) -> None:
    threads = _sliced_threads(tmp_path)
    try:
        joined, _, _ = threads.result(threads.submit(_folder(tmp_path / "a", 3_000), 0))
        assert joined is not None and joined.slices is not None
        second = threads.submit(_folder(tmp_path / "b", 2_000), 0)
        assert threads._free.qsize() == 0  # the only FolderJoin is the slices': the second waits for it
        assert sum(piece.num_rows for piece in joined.slices) == 3_000
        again, _, _ = threads.result(second)  # once they are read, the second folder is joined
        assert again is not None and sum(piece.num_rows for piece in again.slices or []) == 2_000
        assert threads._free.qsize() == 1
    finally:
        threads.close()


def test_stopping_with_unread_slices_ends_the_join_waiting_for_them(tmp_path: Path) -> None:
    threads = _sliced_threads(tmp_path)
    joined, _, _ = threads.result(threads.submit(_folder(tmp_path / "a", 3_000), 0))
    assert joined is not None and joined.slices is not None
    waiting = threads.submit(_folder(tmp_path / "b", 2_000), 0)
    closing = threading.Thread(target=threads.close)
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive(), "close() waits for a join that waits for unread slices"
    with pytest.raises(CancelledError):
        waiting.result(timeout=10)


@pytest.fixture(autouse=True)
def _folders(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
