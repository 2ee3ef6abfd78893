"""The emulator's telemetry store and query API: KQL rewrites, timespans, bulk inserts."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.emulator.logs_api import QueryRejected, parse_timespan
from amlmon.emulator.store import (
    _INGESTION_TIME,
    TABLES,
    StoreClosing,
    TelemetryStore,
    code_spans,
    rewrite_kql,
)


def test_ingestion_time_becomes_the_hidden_column() -> None:
    assert rewrite_kql("traces | where ingestion_time() > ago(1m)") == (
        "traces | where _IngestionTime > ago(1m)"
    )
    assert rewrite_kql("traces | extend t = ingestion_time ( )").endswith("_IngestionTime")


def test_timespan_forms() -> None:
    start, end = parse_timespan("2026-01-01T00:00:00Z/2026-01-02T00:00:00Z")
    assert start == dt.datetime(2026, 1, 1, tzinfo=dt.UTC) or start == dt.datetime(2026, 1, 1)
    assert end is not None and start is not None and end - start == dt.timedelta(days=1)
    start, end = parse_timespan("2026-01-01T00:00:00Z/PT2H")
    assert end is not None and start is not None and end - start == dt.timedelta(hours=2)
    start, end = parse_timespan("PT30M")
    assert end is not None and start is not None and end - start == dt.timedelta(minutes=30)
    assert parse_timespan(None) == (None, None)


@pytest.mark.parametrize("text", ["yesterday", "2026-01-02T00:00:00Z/2026-01-01T00:00:00Z", "P/"])
def test_bad_timespans_are_rejected(text: str) -> None:
    with pytest.raises(QueryRejected):
        parse_timespan(text)


# --- 12.7: rewriting touches code only, never a string literal -------------------------------------
_TEXT = st.lists(
    st.sampled_from([*"ab ()_'\"\\@`~/|;\n\t", "ingestion_time()", "ingestion_time ( )", "//"]),
    max_size=20,
).map("".join)


def _literals(value: str) -> list[str]:
    """Every KQL literal form that can spell `value`."""
    forms = [
        '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    ]
    forms.append(
        "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t") + "'"
    )
    if "\n" not in value:
        forms.append('@"' + value.replace('"', '""') + '"')
        forms.append("@'" + value.replace("'", "''") + "'")
    if "```" not in value and not value.endswith("`"):
        forms.append("```" + value + "```")
    return forms


def test_a_string_literal_that_spells_ingestion_time_is_left_alone() -> None:
    assert rewrite_kql('print s = "ingestion_time()", t = ingestion_time()') == (
        'print s = "ingestion_time()", t = _IngestionTime'
    )


@settings(max_examples=200, deadline=None)
@given(value=_TEXT, index=st.integers(min_value=0, max_value=4))
def test_every_literal_form_reads_back_its_value_after_the_rewrite(value: str, index: int) -> None:
    import duckdb
    import duckdb_kql

    forms = _literals(value)
    literal = forms[index % len(forms)]
    con = duckdb.connect()
    query = f"print s = {literal}, t = strlen({literal})"
    assert duckdb_kql.query(con, rewrite_kql(query)).fetchall() == [(value, len(value))]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(st.booleans(), _TEXT), max_size=6))
def test_code_spans_split_literals_from_code_and_join_back(parts: list[tuple[bool, str]]) -> None:
    pieces = []
    for is_literal, value in parts:
        pieces.append(
            _literals(value)[0]
            if is_literal
            else value.replace('"', "")
            .replace("'", "")
            .replace("`", "")
            .replace("/", "")
            .replace("~", "")
            .replace("@", "")
        )
    query = " ".join(pieces)
    spans = code_spans(query)
    assert "".join(text for _, text in spans) == query
    literals = [text for is_code, text in spans if not is_code]
    assert literals == [p for (is_literal, _), p in zip(parts, pieces, strict=True) if is_literal]
    rewritten = rewrite_kql(query)
    for literal in literals:
        assert literal in rewritten
    code = "".join(text for is_code, text in code_spans(rewritten) if is_code)
    assert _INGESTION_TIME.search(code) is None


# --- a seed's bulk insert: table by table, stopped when the store closes under it ---------------------
def _trace_batch(count: int) -> tuple[str, object]:
    from amlmon.emulator.store import arrow_table, utcnow

    now = utcnow()
    rows = {"TimeGenerated": [now] * count, "_IngestionTime": [now] * count, "Message": ["m"] * count}
    return "AppTraces", arrow_table(
        "AppTraces", {name: rows.get(name, [None] * count) for name, _ in TABLES["AppTraces"]}
    )


def _stored_traces(data_dir: Path) -> int:
    store = TelemetryStore(data_dir)
    try:
        return int(store.con.execute("SELECT count(*) FROM store.AppTraces").fetchall()[0][0])
    finally:
        store.close()


@pytest.mark.parametrize("close_midway", [False, True])
def test_bulk_insert_stops_before_its_next_table_when_the_store_closes(
    tmp_path: Path, close_midway: bool
) -> None:
    store = TelemetryStore(tmp_path)
    midway = threading.Event()

    def batches() -> Iterator[tuple[str, object]]:
        yield _trace_batch(1000)  # committed at once
        midway.set()
        deadline = time.monotonic() + 30
        while close_midway and not store.closed and time.monotonic() < deadline:
            time.sleep(0.01)  # the emulator shuts down before the seed's next table
        yield _trace_batch(1000)

    outcome: list[str] = []

    def insert() -> None:
        try:
            store.insert_tables(batches())
            outcome.append("committed")
        except StoreClosing:
            outcome.append("closing")

    inserter = threading.Thread(target=insert)
    inserter.start()
    assert midway.wait(30)
    if close_midway:
        store.close()
    inserter.join(30)
    if not close_midway:
        store.close()
    # positive control: without the close both tables are stored; with it, only the first
    assert outcome == ["closing" if close_midway else "committed"]
    assert _stored_traces(tmp_path) == (1000 if close_midway else 2000)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith((".wal", ".tmp"))]
