"""Targets: parsing, and a filter that matches exactly the target's telemetry whatever the name holds."""

from __future__ import annotations

import duckdb
import duckdb_kql
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from amlmon.errors import UsageError
from amlmon.targets import Target, parse_target, parse_targets, telemetry_filter, with_role


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
    for table in ("traces", "requests", "exceptions"):
        con.execute(
            f"create table {table}(message varchar, cloud_RoleName varchar, cloud_RoleInstance varchar, "
            "customDimensions json)"
        )
    return con


def _matching(con: duckdb.DuckDBPyConnection, targets: list[Target], table: str = "traces") -> set[str]:
    kind = "traces" if table == "traces" else table
    query = f"{table} | where {telemetry_filter(targets, kind=kind)} | project message"  # type: ignore[arg-type]
    return {row[0] for row in duckdb_kql.query(con, query).fetchall()}


def _reset(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("traces", "requests", "exceptions"):
        con.execute(f"delete from {table}")


def test_filter_matches_both_generations_and_v2_names(traces: duckdb.DuckDBPyConnection) -> None:
    _reset(traces)
    traces.execute(
        """insert into traces values
        ('v15', 'svc', 'h0', '{"code.function.name": "print_to_logger"}'),
        ('v14 model data', 'azmlinfsrv', 'h1', '{"Service Name": "svc"}'),
        ('blue', 'blue', 'h2', '{}'),
        ('green', 'green', 'h3', '{}'),
        ('platform', 'pl-role', 'h4', '{}'),
        ('other', 'other', 'h5', '{}')"""
    )
    assert _matching(traces, [Target("svc")]) == {"v15", "v14 model data"}
    assert _matching(traces, [Target("ep", "blue")]) == {"blue"}
    assert _matching(traces, [Target("svc"), Target("ep", "green")]) == {"v15", "v14 model data", "green"}
    # a bare endpoint the workspace lists with deployments: its name and theirs
    assert _matching(traces, [Target("ep", deployments=("blue", "green"))]) == {"blue", "green"}
    assert _matching(traces, [Target("ep")]) == set()
    # --role names an undocumented v2 role explicitly; nothing else (no invented Deployment Name) does
    assert _matching(traces, [Target("ep", "blue", role="pl-role")]) == {"platform"}
    assert with_role([Target("ep", "blue")], "pl-role") == [Target("ep", "blue", "pl-role")]
    for targets in ([], [Target("a"), Target("b")]):
        with pytest.raises(UsageError):
            with_role(targets, "r")


def test_1_4_exceptions_belong_to_the_service_of_their_request_id(traces: duckdb.DuckDBPyConnection) -> None:
    _reset(traces)
    traces.execute(
        """insert into requests values
        ('r1', 'azmlinfsrv', 'h1', '{"Service Name": "svc", "Request Id": "id-1"}'),
        ('r2', 'azmlinfsrv', 'h1', '{"Service Name": "other", "Request Id": "id-2"}')"""
    )
    traces.execute(
        """insert into exceptions values
        ('e1', 'azmlinfsrv', 'h1', '{"Request Id": "id-1"}'),
        ('e2', 'azmlinfsrv', 'h1', '{"Request Id": "id-2"}'),
        ('e3', 'azmlinfsrv', 'h1', '{"Request Id": "id-unknown"}')"""
    )
    assert _matching(traces, [Target("svc")], "exceptions") == {"e1"}
    assert _matching(traces, [Target("other")], "exceptions") == {"e2"}


def test_1_4_print_lines_belong_to_the_service_that_alone_used_their_host(
    traces: duckdb.DuckDBPyConnection,
) -> None:
    _reset(traces)
    traces.execute(
        """insert into requests values
        ('r1', 'azmlinfsrv', 'host-a', '{"Service Name": "svc"}'),
        ('r2', 'azmlinfsrv', 'host-b', '{"Service Name": "other"}'),
        ('r3', 'azmlinfsrv', 'host-shared', '{"Service Name": "svc"}'),
        ('r4', 'azmlinfsrv', 'host-shared', '{"Service Name": "other"}'),
        ('r5', 'new', 'host-c', '{"Service Name": "new"}')"""
    )
    traces.execute(
        """insert into traces values
        ('print a', 'azmlinfsrv', 'host-a', '{"level": "INFO"}'),
        ('print b', 'azmlinfsrv', 'host-b', '{"level": "INFO"}'),
        ('print shared', 'azmlinfsrv', 'host-shared', '{"level": "INFO"}'),
        ('print nobody', 'azmlinfsrv', 'host-z', '{"level": "INFO"}'),
        ('print c', 'azmlinfsrv', 'host-c', '{"level": "INFO"}')"""
    )
    assert _matching(traces, [Target("svc")]) == {"print a"}
    assert _matching(traces, [Target("other")]) == {"print b"}
    # a 1.5.x service's requests are no evidence for 1.4.x print lines on its host
    assert _matching(traces, [Target("new")]) == set()


# Names that could never pass parse_target still must not break out of their literals: the filter is
# built from Target directly, with arbitrary text (control characters aside, which kql.string refuses).
hostile = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(name=hostile, other=hostile)
def test_hostile_names_cannot_change_the_query(
    traces: duckdb.DuckDBPyConnection, name: str, other: str
) -> None:
    assume(name != other)
    _reset(traces)
    traces.execute(
        "insert into traces values ('mine', ?, 'h', '{}'), ('theirs', ?, 'h', '{}')", [name, other]
    )
    assert _matching(traces, [Target(name)]) == {"mine"}
