"""Targets: parsing, and a filter that matches exactly the target's telemetry whatever the name holds."""

from __future__ import annotations

import duckdb
import duckdb_kql
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from amlmon.errors import UsageError
from amlmon.targets import Target, parse_target, parse_targets, telemetry_filter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn-aci", Target("churn-aci")),
        ("credit-ep/blue", Target("credit-ep", "blue")),
        (" svc ", Target("svc")),
    ],
)
def test_parse_target(text: str, expected: Target) -> None:
    assert parse_target(text) == expected
    assert str(parse_target(text)) == text.strip()


@pytest.mark.parametrize("text", ["", "a/b/c", "/x", "x/", 'svc"; drop', "a b", "-lead"])
def test_bad_target_is_a_usage_error_with_a_fix(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_target(text)
    assert info.value.hint and "endpoint/deployment" in info.value.hint


def test_parse_targets_deduplicates_in_order() -> None:
    assert parse_targets(["b", "a", "b"]) == [Target("b"), Target("a")]


def test_no_targets_means_everything() -> None:
    assert telemetry_filter([]) == "true"


@pytest.fixture(scope="module")
def traces() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create table traces(message varchar, cloud_RoleName varchar, customDimensions json)")
    return con


def _matching(con: duckdb.DuckDBPyConnection, targets: list[Target]) -> set[str]:
    rows = duckdb_kql.query(con, f"traces | where {telemetry_filter(targets)} | project message").fetchall()
    return {row[0] for row in rows}


def test_filter_matches_both_generations_and_deployments(traces: duckdb.DuckDBPyConnection) -> None:
    traces.execute("delete from traces")
    traces.execute(
        """insert into traces values
        ('v15', 'svc', '{"Service Name": "svc"}'),
        ('v14', 'azmlinfsrv', '{"Service Name": "svc"}'),
        ('blue', 'ep', '{"Service Name": "ep", "Deployment Name": "blue"}'),
        ('green', 'ep', '{"Service Name": "ep", "Deployment Name": "green"}'),
        ('other', 'other', '{}')"""
    )
    assert _matching(traces, [Target("svc")]) == {"v15", "v14"}
    assert _matching(traces, [Target("ep", "blue")]) == {"blue"}
    assert _matching(traces, [Target("ep")]) == {"blue", "green"}
    assert _matching(traces, [Target("svc"), Target("ep", "green")]) == {"v15", "v14", "green"}


# Names that could never pass parse_target still must not break out of their literals: the filter is
# built from Target directly, with arbitrary text (control characters aside, which kql.string refuses).
hostile = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(name=hostile, other=hostile)
def test_hostile_names_cannot_change_the_query(
    traces: duckdb.DuckDBPyConnection, name: str, other: str
) -> None:
    assume(name != other)
    traces.execute("delete from traces")
    traces.execute("insert into traces values ('mine', ?, '{}'), ('theirs', ?, '{}')", [name, other])
    assert _matching(traces, [Target(name)]) == {"mine"}
