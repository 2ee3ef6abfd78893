"""KQL literals: whatever text a user gives, the literal's value is exactly that text.

Checked by running the generated KQL for real (duckdb-kql), not by comparing strings.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import duckdb_kql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon import kql
from amlmon.errors import UsageError

printable = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
allowed = printable.filter(
    lambda s: not any(ch in s for ch in map(chr, [*range(1, 9), 11, 12, *range(14, 32), 127]))
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("create table t(v varchar)")
    return connection


@settings(max_examples=150, deadline=None)
@given(value=allowed)
def test_string_literal_round_trips(con: duckdb.DuckDBPyConnection, value: str) -> None:
    rows = duckdb_kql.query(con, f"print v = {kql.string(value)}").fetchall()
    assert rows == [(value,)]


@settings(max_examples=100, deadline=None)
@given(value=allowed, decoy=allowed)
def test_a_value_cannot_change_the_query_structure(
    con: duckdb.DuckDBPyConnection, value: str, decoy: str
) -> None:
    con.execute("delete from t")
    con.execute("insert into t values (?), (?)", [value, decoy + "\u2603"])
    rows = duckdb_kql.query(con, f"t | where v == {kql.string(value)} | project v").fetchall()
    assert rows == [(value,)]


@pytest.mark.parametrize(
    "value", ['"; t | take 0; print "', '\\" or true or "', "x\n| take 100", "' or 1==1 //"]
)
def test_classic_injections_match_literally(con: duckdb.DuckDBPyConnection, value: str) -> None:
    con.execute("delete from t")
    con.execute("insert into t values (?), ('other')", [value])
    assert duckdb_kql.query(con, f"t | where v == {kql.string(value)} | project v").fetchall() == [(value,)]


@pytest.mark.parametrize("value", ["a\x00b", "bell\x07", "esc\x1b[31m", "\x7f"])
def test_control_characters_are_refused(value: str) -> None:
    with pytest.raises(UsageError):
        kql.string(value)


def test_string_list(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("delete from t")
    con.execute("insert into t values ('a\"'), ('b'), ('c')")
    wanted = kql.string_list(['a"', "c"])
    query = f"t | where v in {wanted} | order by v asc | project v"
    assert duckdb_kql.query(con, query).fetchall() == [('a"',), ("c",)]


def test_datetime_and_timespan_literals() -> None:
    moment = dt.datetime(2026, 11, 25, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert kql.datetime(moment) == "datetime(2026-11-25T08:30:00.000000Z)"
    assert kql.timespan(dt.timedelta(minutes=90)) == "90m"
    assert kql.timespan(dt.timedelta(days=7)) == "7d"
    assert kql.timespan(dt.timedelta(milliseconds=1500)) == "1500ms"


def test_identifier_quotes_unusual_names() -> None:
    assert kql.identifier("duration") == "duration"
    assert kql.identifier("Service Name") == '["Service Name"]'


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_real_refuses_non_finite(value: float) -> None:
    with pytest.raises(UsageError):
        kql.real(value)
