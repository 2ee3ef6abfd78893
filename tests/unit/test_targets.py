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


ONE_SLASH = "a service or endpoint name (my-svc), or endpoint/deployment (my-endpoint/blue)"
RULE = "a name is 1-64 characters (ASCII letters, digits, hyphens, underscores and periods), starting with a letter or digit"


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("", "the name is empty"),
        ("a/b/c", "a target has at most one '/' (it has 2): " + ONE_SLASH),
        ("/x", "the endpoint name is empty"),
        ("x/", "the deployment name is empty"),
        ('svc"; drop', "the name 'svc\"; drop' has '\"', ';', ' ', which are not allowed"),
        ("a b", "the name 'a b' has ' ', which is not allowed"),
        ("-lead", "the name '-lead' starts with '-'"),
        ("crédit-ep", "the name 'crédit-ep' has 'é', which is not allowed"),
        ("credit-ep/..", "the deployment name '..' starts with '.'"),
        ("a" * 300, f"the name '{'a' * 37}...' is 300 characters long"),
        ("credit-ep/" + "b" * 65, "the deployment name '" + "b" * 37 + "...' is 65 characters long"),
    ],
)
def test_bad_target_hint_names_the_rule_it_breaks(text: str, broken: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_target(text)
    assert info.value.message == f"{text!r} is not a target"
    assert info.value.hint == (broken if ONE_SLASH in broken else f"{broken}; {RULE}")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*'ab-_.é /"', "x" * 70]), max_size=8).map("".join))
def test_any_refused_target_names_its_first_broken_part(text: str) -> None:
    parts = text.strip().split("/")
    try:
        parse_target(text)
    except UsageError as error:
        hint = error.hint or ""
        if len(parts) > 2:
            assert hint.startswith(f"a target has at most one '/' (it has {len(parts) - 1})")
            return
        assert hint.endswith(f"; {RULE}")
        labels = ["name"] if len(parts) == 1 else ["endpoint name", "deployment name"]
        first_bad = next(i for i, p in enumerate(parts) if not _follows_rule(p))
        assert hint.startswith(f"the {labels[first_bad]} ")
        return
    assert len(parts) <= 2 and all(_follows_rule(p) for p in parts)


def _follows_rule(part: str) -> bool:
    """The rule, spelled out independently of amlmon's regex."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    return 1 <= len(part) <= 64 and part[0].isascii() and part[0].isalnum() and set(part) <= allowed


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
