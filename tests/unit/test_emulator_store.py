"""Pure parts of the emulator's telemetry store and query API: KQL rewrites and timespans."""

from __future__ import annotations

import datetime as dt

import pytest

from amlmon.emulator.logs_api import QueryRejected, parse_timespan
from amlmon.emulator.store import rewrite_kql


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
