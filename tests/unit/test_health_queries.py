"""The stats queries, run for real on duckdb-kql over both schemas and both inference-server generations."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import duckdb_kql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.errors import UsageError
from amlmon.queries import stats as stats_queries
from amlmon.schema import APP, Source
from amlmon.stats import Window, build_stats
from amlmon.targets import parse_target
from tests.helpers import reference_telemetry

START = dt.datetime(2026, 11, 25, 5, 0, tzinfo=dt.UTC)
WINDOW = Window(START, START + dt.timedelta(minutes=15), dt.timedelta(minutes=5))
STACK = (
    "Traceback (most recent call last):\n  File \"score.py\", line 9, in run\n    raise ValueError('bad input')\n"
    "ValueError: bad input\n\nThe above exception was the direct cause of the following exception:\n\n"
    'Traceback (most recent call last):\n  File "user_script.py"\n'
    "azureml_inference_server_http.server.user_script.UserScriptException: Caught an unhandled exception"
)

# (minute, service, real success, real duration ms, real code), written the way each generation writes it.
CALLS = [(1, True, 100.0, "200"), (2, True, 200.0, "200"), (3, False, 1500.0, "500"), (7, True, 300.0, "200")]


def _duration(ms: float) -> str:
    return f"00:00:{int(ms // 1000):02d}.{int(ms % 1000):03d}"


def _db(schema: Source) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    c = APP[schema]
    con.execute(
        f"create table {c.requests}({c.time} timestamp, {c.role} varchar, {c.success} varchar, "
        f"{c.duration} double, {c.result_code} varchar, {c.properties} json)"
    )
    con.execute(
        f"create table {c.dependencies}({c.time} timestamp, {c.role} varchar, {c.success} varchar, {c.duration} double, "
        f"{c.result_code} varchar, {c.dep_type} varchar, {c.dep_target} varchar, {c.properties} json)"
    )
    con.execute(
        f"create table {c.exceptions}({c.time} timestamp, {c.role} varchar, {c.ex_type} varchar, "
        f"{c.ex_message} varchar, {c.ex_details} json, {c.properties} json)"
    )
    for minute, ok, ms, code in CALLS:
        at = (START + dt.timedelta(minutes=minute)).replace(tzinfo=None)
        # 1.5.x: placeholders in the columns, the truth in the properties.
        props = {"Service Name": "new", "success": str(ok), "duration": _duration(ms), "resultCode": code}
        con.execute(f"insert into {c.requests} values (?, 'new', 'True', 0, '0', ?)", [at, json.dumps(props)])
        # 1.4.x: role azmlinfsrv, the truth in the columns.
        con.execute(
            f"insert into {c.requests} values (?, 'azmlinfsrv', ?, ?, ?, ?)",
            [at, str(ok), ms, code, json.dumps({"Service Name": "old"})],
        )
    at = (START + dt.timedelta(minutes=4)).replace(tzinfo=None)
    con.execute(
        f"insert into {c.dependencies} values (?, 'new', 'False', 40, '503', 'HTTP', 'db.local', '{{}}')",
        [at],
    )
    con.execute(
        f"insert into {c.exceptions} values (?, 'new', 'UserScriptException', '(<class ...>)', ?, '{{}}')",
        [at, json.dumps([{"typeName": "UserScriptException", "stack": STACK}])],
    )
    # Without a stack: the exc_info tuple text is all there is.
    tuple_text = "(<class 'ValueError'>, ValueError('bad input: expected 4 features'), <traceback object>)"
    con.execute(
        f"insert into {c.exceptions} values (?, 'new', 'UserScriptException', ?, ?, '{{}}')",
        [at + dt.timedelta(minutes=1), tuple_text, json.dumps([{"typeName": "UserScriptException"}])],
    )
    return con


def _stats(schema: Source, targets: list[str]) -> dict[str, Any]:
    con = _db(schema)
    parsed = [parse_target(t) for t in targets]
    rows: dict[str, list[dict[str, Any]]] = {}
    for section, text in stats_queries.queries(parsed, WINDOW, schema).items():
        cursor = duckdb_kql.query(con, text)
        columns = [d[0] for d in cursor.description]
        rows[section] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return build_stats(targets, WINDOW, schema, rows)


@pytest.mark.parametrize("schema", ["app-insights", "log-analytics"])
def test_both_generations_give_the_real_numbers(schema: Source) -> None:
    stats = _stats(schema, ["new", "old"])
    by_name = {t["target"]: t for t in stats["targets"]}
    for name in ("new", "old"):
        req = by_name[name]["requests"]
        assert (req["count"], req["failures"]) == (4, 1)
        assert req["failureRate"] == 0.25
        assert (req["p50"], req["p95"], req["p99"]) == (200.0, 1500.0, 1500.0)
        assert req["resultCodes"] == [{"code": "200", "count": 3}, {"code": "500", "count": 1}]
        assert req["series"]["requests"] == [3, 1, 0]
        assert req["series"]["failures"] == [1, 0, 0]


def test_the_placeholder_columns_alone_would_say_zero_ms_and_no_failures() -> None:
    con = _db("app-insights")
    naive = duckdb_kql.query(
        con,
        'requests | where cloud_RoleName == "new" | summarize f = countif(success == "False"), p95 = percentile(duration, 95)',
    ).fetchall()
    assert naive == [(0, 0.0)]  # what a query on the standard columns reports for 1.5.x
    assert _stats("app-insights", ["new"])["targets"][0]["requests"]["p95"] == 1500.0


@pytest.mark.parametrize("schema", ["app-insights", "log-analytics"])
def test_dependencies_and_the_users_real_exception(schema: Source) -> None:
    target = _stats(schema, ["new"])["targets"][0]
    assert target["dependencies"]["count"] == 1
    assert target["dependencies"]["failureRate"] == 1.0
    assert target["dependencies"]["top"][0]["type"] == "HTTP"
    assert target["dependencies"]["top"][0]["target"] == "db.local"
    assert target["exceptions"]["count"] == 2
    assert [(t["type"], t["count"]) for t in target["exceptions"]["top"]] == [("ValueError", 2)]
    assert target["exceptions"]["top"][0]["latestMessage"] == "bad input: expected 4 features"


def test_no_targets_means_everything() -> None:
    stats = _stats("app-insights", [])
    assert [t["target"] for t in stats["targets"]] == ["*"]
    assert stats["targets"][0]["requests"]["count"] == 8


def test_a_target_without_telemetry_is_reported_with_zeros() -> None:
    target = _stats("app-insights", ["ghost"])["targets"][0]
    assert target["target"] == "ghost"
    assert target["requests"]["count"] == 0
    assert target["requests"]["failureRate"] is None


@settings(max_examples=30, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=20),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,10}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,10})?", fullmatch=True),
        st.sampled_from(["new", "old", "new/blue", 'new" or true or "', "new\n| take 1"]),
    )
)
def test_any_target_text_is_refused_or_queried_literally(text: str) -> None:
    """Whatever TARGET a user types, the stats query either is never built or matches that name only."""
    try:
        target = parse_target(text)
    except UsageError:
        return
    con = _CON["app-insights"]
    text_query = stats_queries.requests_query([target], WINDOW, "app-insights")
    cursor = duckdb_kql.query(con, text_query)
    rows = cursor.fetchall()
    # a deployment target matches a role / Service Name equal to its deployment or its endpoint name
    expected = 4 * len({n for n in target.names() if n in ("new", "old")})
    columns = [d[0] for d in cursor.description]
    totals = [
        dict(zip(columns, r, strict=True))
        for r in rows
        if dict(zip(columns, r, strict=True))["rowType"] == "total"
    ]
    assert sum(int(t["requestCount"]) for t in totals) == expected


_CON = {"app-insights": _db("app-insights")}


# --- issue 11.4: the user's error from the real exception envelopes of both generations ----------------
def _exceptions_db(schema: Source, envelopes: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """The exceptions table holding the envelopes as App Insights maps them (type and message of the
    outermost exception, the exceptions list as details)."""
    con = duckdb.connect()
    c = APP[schema]
    for table, columns in (
        (c.requests, f"{c.success} varchar, {c.duration} double, {c.result_code} varchar"),
        (
            c.dependencies,
            f"{c.success} varchar, {c.duration} double, {c.result_code} varchar, "
            f"{c.dep_type} varchar, {c.dep_target} varchar",
        ),
        (c.exceptions, f"{c.ex_type} varchar, {c.ex_message} varchar, {c.ex_details} json"),
    ):
        con.execute(
            f"create table {table}({c.time} timestamp, {c.role} varchar, {c.properties} json, {columns})"
        )
    for envelope in envelopes:
        base = envelope["data"]["baseData"]
        outer = base["exceptions"][0]
        con.execute(
            f"insert into {c.exceptions} values (?, ?, ?, ?, ?, ?)",
            [
                (START + dt.timedelta(minutes=2)).replace(tzinfo=None),
                envelope["tags"]["ai.cloud.role"],
                json.dumps(base["properties"]),
                outer["typeName"],
                outer["message"],
                json.dumps(base["exceptions"]),
            ],
        )
    return con


@pytest.mark.parametrize("schema", ["app-insights", "log-analytics"])
@pytest.mark.parametrize("name", ["v1.4.1-exception.json", "v1.5.1-exception.json"])
def test_the_users_error_from_a_real_exception(schema: Source, name: str) -> None:
    con = _exceptions_db(schema, [reference_telemetry(name)])
    text = stats_queries.exceptions_query([], WINDOW, schema)
    cursor = duckdb_kql.query(con, text)
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    stats = build_stats([], WINDOW, schema, {"requests": [], "dependencies": [], "exceptions": rows})
    top = stats["targets"][0]["exceptions"]["top"]
    assert [(t["type"], t["count"]) for t in top] == [("ValueError", 1)]
    assert top[0]["latestMessage"] == "deliberate scoring failure for input 666"
