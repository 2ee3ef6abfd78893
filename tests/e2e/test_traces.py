"""`amlmon traces` against the emulator: filters, both schemas, model data, formats, and the live tail
with late, out-of-order arrivals and faults — through the real LogsQueryClient over HTTPS."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Emulator, spawn_amlmon
from tests.helpers import (
    OFFLINE,
    OFFLINE_SCOPE,
    insert,
    iso,
    jsonl,
    now,
    telemetry_workspace,
    trace,
)

SCHEMAS = pytest.mark.parametrize("schema", [[], ["--log-analytics"]], ids=["app-insights", "log-analytics"])
pytestmark = pytest.mark.usefixtures("clear_faults")


def model_data_15(
    ikey: str, service: str, request_id: str, body: dict[str, Any], prediction: Any, at: dt.datetime
) -> dict[str, Any]:
    """1.5.x: one `custom_dimensions` property, a Python-literal dict, Input JSON-encoded twice."""
    fields = {
        "Container Id": "c-1",
        "Request Id": request_id,
        "Client Request Id": "",
        "Workspace Name": "ws",
        "Service Name": service,
        "Models": ("churn-model:1",),
        "Input": json.dumps(json.dumps(body)),
        "Prediction": json.dumps(prediction),
    }
    return trace(
        ikey, "model_data_collection", at=at, role=service, properties={"custom_dimensions": repr(fields)}
    )


def model_data_14(
    ikey: str,
    service: str,
    request_id: str,
    body: dict[str, Any],
    prediction: Any,
    at: dt.datetime,
    instance: str = "host-1",
) -> dict[str, Any]:
    """1.4.x: the same keys as separate properties with JSON values, role azmlinfsrv."""
    props = {
        "Container Id": "c-2",
        "Request Id": request_id,
        "Workspace Name": "ws",
        "Service Name": service,
        "Models": "churn-model:1",
        "Input": json.dumps(body),
        "Prediction": json.dumps(prediction),
    }
    return trace(ikey, "model_data_collection", at=at, role="azmlinfsrv", properties=props, instance=instance)


# ---------------------------------------------------------------------------------------------------
# A workspace with a known set of traces
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded(emulator: Emulator) -> dict[str, Any]:
    ws = telemetry_workspace(
        emulator,
        "traces",
        services=[{"name": "churn", "computeType": "ACI"}, {"name": "legacy", "computeType": "AKS"}],
        deployments=[
            {"endpoint": "credit", "name": "blue", "endpointComputeType": "Managed"},
            {"endpoint": "credit", "name": "green", "endpointComputeType": "Managed"},
        ],
    )
    ikey, t = ws["ikey"], now() - dt.timedelta(minutes=30)
    envelopes = [
        trace(ikey, "churn started", at=t, role="churn"),
        trace(ikey, "churn: scoring 3 rows", at=t + dt.timedelta(seconds=10), role="churn"),
        trace(
            ikey,
            "churn: timeout talking to feature store",
            at=t + dt.timedelta(seconds=20),
            role="churn",
            severity=3,
        ),
        # 1.4.x: a print line names no service; its host served legacy's model data (below)
        trace(
            ikey,
            "legacy: warming up",
            at=t + dt.timedelta(seconds=5),
            role="azmlinfsrv",
            severity=2,
            properties={"process": "MainProcess", "module": "print_log_hook", "level": "WARNING"},
            instance="legacy-host",
        ),
        # v2: the server's role is SERVICE_NAME, here the deployment's name
        trace(ikey, "blue: loaded model", at=t + dt.timedelta(seconds=15), role="blue"),
        trace(ikey, "green: loaded model", at=t + dt.timedelta(seconds=16), role="green"),
        trace(ikey, "multi\nline message", at=t + dt.timedelta(seconds=25), role="churn"),
        trace(ikey, "old news", at=t - dt.timedelta(hours=3), role="churn"),
        model_data_15(
            ikey, "churn", "req-15", {"data": [[1, 2, 3, 4]]}, [0.75], t + dt.timedelta(seconds=30)
        ),
        model_data_14(
            ikey,
            "legacy",
            "req-14",
            {"data": [[5, 6, 7, 8]]},
            [0.25],
            t + dt.timedelta(seconds=31),
            instance="legacy-host",
        ),
    ]
    insert(emulator, ikey, envelopes)
    return ws


def test_request_finds_the_model_data_of_one_request_in_app_insights(
    cli: Any, seeded: dict[str, Any]
) -> None:
    """`--request ID`: 1.4.x model data names the id as a property, 1.5.x inside its packed literal; the
    other request's record is not shown (the control)."""
    for request_id, other in (("req-14", "req-15"), ("req-15", "req-14")):
        result = _traces(cli, seeded, "--request", request_id, "--since", "1h", "-o", "json")
        assert result.exit_code == 0, result.stderr
        found = result.json()
        assert set(found) == {"traffic-log", "app-insights", "collector"}
        (entry,) = found["app-insights"]
        assert entry["kind"] == "trace" and entry["summary"] == "model_data_collection"
        assert request_id in json.dumps(entry["record"]) and other not in json.dumps(entry["record"])
        assert "collector records were not searched" in result.stderr
    nothing = _traces(cli, seeded, "--request", "req-none", "--since", "1h", "-o", "json")
    assert nothing.exit_code == 3 and nothing.stdout == "", nothing.stdout
    assert "error: nothing found for request req-none" in nothing.stderr
    # the hint names the window searched: the one given (it said "the default is the last 10 minutes")
    assert "hint: widen the window (--since 1h), e.g. --since 24h" in nothing.stderr, nothing.stderr
    default = _traces(cli, seeded, "--request", "req-none", "-o", "json")
    assert default.exit_code == 3 and "hint: widen the window (--since 10m), e.g." in default.stderr
    refused = _traces(cli, seeded, "--request", "req-14", "--follow")
    assert refused.exit_code == 2 and "error: --request reads every source" in refused.stderr
    assert "hint:" in refused.stderr


def _traces(cli: Any, ws: dict[str, Any], *args: str, env: dict[str, str] | None = None) -> Any:
    return cli("traces", *args, *ws["scope"], env=env)


def _messages(cli: Any, ws: dict[str, Any], *args: str) -> list[str]:
    result = _traces(cli, ws, "--since", "1h", "--format", "jsonl", *args)
    assert result.exit_code == 0, result.stderr
    return [record["message"] for record in jsonl(result.stdout)]


@SCHEMAS
def test_all_traces_of_the_window_oldest_first_without_model_data(
    cli: Any, seeded: dict[str, Any], schema: list[str]
) -> None:
    assert _messages(cli, seeded, *schema) == [
        "churn started",
        "legacy: warming up",
        "churn: scoring 3 rows",
        "blue: loaded model",
        "green: loaded model",
        "churn: timeout talking to feature store",
        "multi\nline message",
    ]


@SCHEMAS
def test_targets_map_to_role_service_name_and_deployment(
    cli: Any, seeded: dict[str, Any], schema: list[str]
) -> None:
    # 1.4.x print line: through the host that served legacy's model data
    assert _messages(cli, seeded, "legacy", *schema) == ["legacy: warming up"]
    # v2: the role name against the deployment (or endpoint) name
    assert _messages(cli, seeded, "credit/blue", *schema) == ["blue: loaded model"]
    assert _messages(cli, seeded, "credit/green", *schema) == ["green: loaded model"]
    # a bare endpoint: its own name and those of the deployments the workspace lists for it
    assert _messages(cli, seeded, "credit", *schema) == ["blue: loaded model", "green: loaded model"]
    records = jsonl(
        _traces(cli, seeded, "credit/blue", "legacy", "--since", "1h", "--format", "jsonl", *schema).stdout
    )
    assert [r["target"] for r in records] == ["legacy", "credit/blue"]


@SCHEMAS
def test_message_grep_and_severity_filters(cli: Any, seeded: dict[str, Any], schema: list[str]) -> None:
    assert _messages(cli, seeded, "--message", "churn:", *schema) == [
        "churn: scoring 3 rows",
        "churn: timeout talking to feature store",
    ]
    assert _messages(cli, seeded, "--message", "CHURN:", *schema) == []  # case-sensitive
    assert _messages(cli, seeded, "--grep", "^(blue|green): ", *schema) == [
        "blue: loaded model",
        "green: loaded model",
    ]
    assert _messages(cli, seeded, "--severity", "warning", *schema) == [
        "legacy: warming up",
        "churn: timeout talking to feature store",
    ]
    assert _messages(cli, seeded, "--severity", "error", "churn", *schema) == [
        "churn: timeout talking to feature store"
    ]


def test_filters_that_keep_no_line_are_named_not_blamed_on_the_role(cli: Any, seeded: dict[str, Any]) -> None:
    """churn has traces in the window; a --message/--grep/--severity that keeps none of them is said on
    stderr as such, not as a role mismatch whose fix (`--role …`) would change nothing."""
    for flag, value in (("--message", "nosuchtext"), ("--grep", "^nosuch"), ("--severity", "critical")):
        result = _traces(cli, seeded, "churn", flag, value, "--since", "1h", "--format", "jsonl")
        assert result.exit_code == 0 and result.stdout == "", result.stderr
        assert "--role" not in result.stderr, result.stderr
        assert f"warning: no print() traces of churn in the window matched {flag} '{value}'" in result.stderr
    # Positive control: churn's lines are there, and one a filter keeps is printed without a warning.
    kept = _traces(cli, seeded, "churn", "--message", "churn:", "--since", "1h", "--format", "jsonl")
    assert len(jsonl(kept.stdout)) == 2 and "warning:" not in kept.stderr, kept.stderr


def test_since_until_and_limit(cli: Any, seeded: dict[str, Any]) -> None:
    assert "old news" in _messages(cli, seeded, "--since", "4h")
    assert _messages(cli, seeded, "--since", "4h", "--until", "2h") == ["old news"]
    assert _messages(cli, seeded, "--limit", "2") == [
        "churn: timeout talking to feature store",
        "multi\nline message",
    ]


@SCHEMAS
def test_model_data_of_both_generations_decoded(cli: Any, seeded: dict[str, Any], schema: list[str]) -> None:
    result = _traces(cli, seeded, "--model-data", "--since", "1h", "--format", "jsonl", *schema)
    assert result.exit_code == 0, result.stderr
    records = {r["target"]: r["modelData"] for r in jsonl(result.stdout)}
    assert records["churn"]["input"] == {"data": [[1, 2, 3, 4]]} and records["churn"]["prediction"] == [0.75]
    assert records["churn"]["generation"] == "1.5" and records["churn"]["requestId"] == "req-15"
    assert records["legacy"]["input"] == {"data": [[5, 6, 7, 8]]} and records["legacy"]["prediction"] == [
        0.25
    ]
    assert records["legacy"]["generation"] == "1.4"


def test_model_data_pretty_side_by_side_and_raw_replayable(cli: Any, seeded: dict[str, Any]) -> None:
    pretty = _traces(cli, seeded, "--model-data", "--since", "1h", "churn", env={"COLUMNS": "200"})
    assert pretty.exit_code == 0, pretty.stderr
    (line,) = pretty.stdout.splitlines()
    assert 'in={"data":[[1,2,3,4]]} → out=[0.75]' in line and "req=req-15" in line
    narrow = _traces(cli, seeded, "--model-data", "--since", "1h", "churn", env={"COLUMNS": "60"})
    assert "…" in narrow.stdout
    raw = _traces(cli, seeded, "--model-data", "--since", "1h", "--format", "raw")
    assert [json.loads(line) for line in raw.stdout.splitlines()] == [
        {"data": [[1, 2, 3, 4]]},
        {"data": [[5, 6, 7, 8]]},
    ]


def test_model_data_cut_at_8192_characters_is_marked_not_shown_whole(cli: Any, emulator: Emulator) -> None:
    ws = telemetry_workspace(emulator, "trunc")
    record = model_data_15(
        ws["ikey"], "big", "req-big", {"data": ["x" * 9000]}, [1], now() - dt.timedelta(minutes=1)
    )
    packed = record["data"]["baseData"]["properties"]["custom_dimensions"]
    record["data"]["baseData"]["properties"]["custom_dimensions"] = packed[:8192]
    insert(emulator, ws["ikey"], [record])
    result = cli("traces", "--model-data", "--since", "10m", "--format", "jsonl", *ws["scope"])
    (data,) = [r["modelData"] for r in jsonl(result.stdout)]
    assert data["truncated"] is True and data["requestId"] == "req-big" and data["input"] is None
    pretty = cli("traces", "--model-data", "--since", "10m", *ws["scope"])
    assert "cut by App Insights at 8192 characters" in pretty.stdout


@pytest.mark.parametrize("output", ["json", "jsonl", "tsv", "table", "yaml"])
def test_every_output_format(cli: Any, seeded: dict[str, Any], output: str) -> None:
    result = _traces(cli, seeded, "churn", "--since", "1h", "-o", output)
    assert result.exit_code == 0, result.stderr
    if output == "json":
        assert json.loads(result.stdout)[0]["message"] == "churn started"
    elif output == "jsonl":
        assert jsonl(result.stdout)[0]["target"] == "churn"
    elif output == "tsv":
        first = result.stdout.splitlines()[0].split("\t")
        assert first[1:] == ["churn", "info", "churn started"]
    elif output == "table":
        assert " churn INFO churn started" in result.stdout.splitlines()[0]
        assert "\n" + " " * 36 + "line message" in result.stdout  # continuation lines are indented
    else:
        assert "message: churn started" in result.stdout


def test_jmespath_query_applies_to_the_records(cli: Any, seeded: dict[str, Any]) -> None:
    result = _traces(
        cli, seeded, "churn", "--since", "1h", "-o", "json", "--query", "[?severity=='error'].message"
    )
    assert result.json() == ["churn: timeout talking to feature store"]


ERRORS = "[?severity=='error'].message"


@pytest.mark.parametrize("output", ["json", "yaml", "table", "tsv"])
def test_query_applies_to_the_whole_result_in_every_document_format(
    cli: Any, seeded: dict[str, Any], output: str
) -> None:
    result = _traces(cli, seeded, "churn", "--since", "1h", "-o", output, "--query", ERRORS)
    assert result.exit_code == 0, result.stderr
    text = {
        "json": '[\n  "churn: timeout talking to feature store"\n]\n',
        "yaml": "- 'churn: timeout talking to feature store'\n",
        "tsv": "churn: timeout talking to feature store\n",
    }
    if output == "table":
        assert result.stdout.splitlines()[-1] == "churn: timeout talking to feature store"
        assert "churn started" not in result.stdout
    else:
        assert result.stdout == text[output]


def test_query_applies_to_each_event_in_jsonl_and_skips_events_it_selects_nothing_from(
    cli: Any, seeded: dict[str, Any]
) -> None:
    result = _traces(cli, seeded, "churn", "--since", "1h", "--format", "jsonl", "--query", "message")
    assert result.exit_code == 0, result.stderr
    assert jsonl(result.stdout) == _messages(cli, seeded, "churn") and len(jsonl(result.stdout)) > 2
    whole = _traces(cli, seeded, "churn", "--since", "1h", "--format", "jsonl", "--query", ERRORS)
    assert whole.exit_code == 0 and whole.stdout == ""  # no lines of null
    assert "applies to each event" in whole.stderr and "-o json applies it to the list" in whole.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "pretty"], "--query does not apply to --format pretty"),  # it printed an empty line
        (["--format", "short"], "--query does not apply to --format short"),
        (["--format", "raw"], "--query does not apply to --format raw"),
        (["--follow", "-o", "tsv"], "--query with --follow applies to each event"),
    ],
)
def test_query_where_it_cannot_apply_is_refused_not_ignored(
    cli: Any, seeded: dict[str, Any], args: list[str], needle: str
) -> None:
    result = _traces(cli, seeded, "churn", "--since", "1h", *args, "--query", "message")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"error: {needle}") and "hint:" in result.stderr


def test_query_with_output_none_prints_nothing(cli: Any, seeded: dict[str, Any]) -> None:
    result = _traces(cli, seeded, "churn", "--since", "1h", "-o", "none", "--query", ERRORS)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_print_query_shows_escaped_kql_without_calling_azure(cli: Any) -> None:
    # Against the real cloud with no sign-in: any call to Azure would fail the command.
    result = cli(
        "traces",
        "churn",
        "--message",
        'say "hi" \\ bye',
        "--print-query",
        "-g",
        "nope",
        "-w",
        "nope",
        "--subscription",
        str(uuid.uuid4()),
        env={"AMLMON_CLOUD": "AzureCloud"},
    )
    assert result.exit_code == 0, result.stderr
    assert 'message contains_cs "say \\"hi\\" \\\\ bye"' in result.stdout
    assert (
        '(cloud_RoleName in ("churn") or tostring(customDimensions["Service Name"]) in ("churn")'
        in result.stdout
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "yesterday"], "--since 'yesterday' is not a time"),
        (["--interval", "50ms", "-f"], "shorter than 200ms"),
        (["--severity", "loud"], "not a severity"),
        (["--grep", "(unclosed"], "not a regular expression"),
        (["--format", "xml"], "--format 'xml'"),
        (["bad name!"], "is not a target"),
        (["--message", "a\x00b"], "control character"),
        (["--limit", "0"], "--limit 0 would print nothing"),
        (["--limit", "0", "-f"], "--limit 0 would print nothing"),
    ],
)
def test_bad_values_are_usage_errors_with_a_hint(cli: Any, args: list[str], needle: str) -> None:
    result = cli("traces", *args, *OFFLINE_SCOPE, env=OFFLINE)
    assert result.exit_code == 2, result.stderr
    assert needle in result.stderr and "hint:" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------------
# Hostile values cannot change the query's structure
# ---------------------------------------------------------------------------------------------------
HOSTILE = [
    '"; | take 0',
    '" or true or "',
    "\\",
    '\\"',
    "it's",
    "line\nbreak",
    "tab\there",
    "// comment",
    "| where 1 == 0",
    "; traces",
    "🙂 ünïcødé ß",
    "%_[]*",
    "'",
    "```",
]


@pytest.fixture(scope="module")
def hostile(emulator: Emulator) -> dict[str, Any]:
    ws = telemetry_workspace(emulator, "hostile", services=[{"name": "churn", "computeType": "ACI"}])
    t = now() - dt.timedelta(minutes=5)
    messages = [f"<{value}>" for value in HOSTILE] + ["plain", "another plain one"]
    insert(
        emulator,
        ws["ikey"],
        [trace(ws["ikey"], m, at=t + dt.timedelta(milliseconds=i)) for i, m in enumerate(messages)],
    )
    return {**ws, "messages": messages}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(
        st.sampled_from(HOSTILE), st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
    )
)
def test_any_message_text_filters_literally(cli: Any, hostile: dict[str, Any], value: str) -> None:
    result = cli("traces", "--since", "1h", "--message", value, "--format", "jsonl", *hostile["scope"])
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        assert result.exit_code == 2 and "control character" in result.stderr
        return
    assert result.exit_code == 0, result.stderr
    expected = [m for m in hostile["messages"] if value in m]
    assert [r["message"] for r in jsonl(result.stdout)] == expected


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.sampled_from(HOSTILE), st.text(max_size=10)))
def test_any_target_text_is_refused_or_matched_literally(
    cli: Any, hostile: dict[str, Any], value: str
) -> None:
    result = cli("traces", value, "--since", "1h", "--format", "jsonl", *hostile["scope"])
    if result.exit_code == 2:
        # refused by amlmon, or (a value starting with "-") by click, as one error line and a hint
        assert "is not a target" in result.stderr or (
            result.stderr.startswith("error: ") and "hint: see `amlmon traces --help`" in result.stderr
        )
        return
    if value.strip().lower() != "churn":  # names are compared as Azure does, case-insensitively
        assert result.exit_code == 3 and "no service, endpoint or deployment named" in result.stderr
        return
    assert result.exit_code == 0, result.stderr
    expected = hostile["messages"] if value.strip() == "churn" else []
    assert [r["message"] for r in jsonl(result.stdout)] == expected


# ---------------------------------------------------------------------------------------------------
# Follow: late arrivals, exactly once
# ---------------------------------------------------------------------------------------------------
def _schedule_late_arrivals(emulator: Emulator, ikey: str, count: int, spread: float, seed: int) -> set[str]:
    """`count` events with timestamps up to two minutes old, becoming queryable over the next
    `spread` seconds in an order unrelated to their timestamps. Returns their messages."""
    import random

    rng = random.Random(seed)
    start = now()
    batches: dict[int, list[dict[str, Any]]] = {}
    for n in range(count):
        at = start - dt.timedelta(seconds=rng.uniform(0, 120))
        slot = rng.randrange(int(spread * 10))  # arrival in 100 ms slots
        batches.setdefault(slot, []).append(trace(ikey, f"late-{n:05d}", at=at, role="late"))
    for slot, envelopes in batches.items():
        insert(emulator, ikey, envelopes, ingested_at=start + dt.timedelta(seconds=1 + slot / 10))
    return {f"late-{n:05d}" for n in range(count)}


def _naive_misses(records: list[dict[str, Any]], interval: float) -> int:
    """How many of these events a tail keyed on the newest event time would have skipped: each one
    that became queryable after an event with a newer timestamp had already been printed."""
    order = sorted(records, key=lambda r: r["ingested"])
    newest_printed: str | None = None
    missed, poll_end = 0, None
    pending: list[dict[str, Any]] = []
    for record in order:
        stamp = dt.datetime.fromisoformat(record["ingested"].replace("Z", "+00:00"))
        if poll_end is None or stamp >= poll_end:
            for earlier in pending:
                newest_printed = max(newest_printed or earlier["timestamp"], earlier["timestamp"])
            pending, poll_end = [], stamp + dt.timedelta(seconds=interval)
        if newest_printed is not None and record["timestamp"] <= newest_printed:
            missed += 1
        else:
            pending.append(record)
    return missed


@pytest.mark.slow  # ~50 s: 10,000 events inserted and followed for 11 s
def test_follow_prints_ten_thousand_late_out_of_order_events_exactly_once(
    cli: Any, emulator: Emulator
) -> None:
    ws = telemetry_workspace(emulator, "follow", services=[{"name": "late", "computeType": "ACI"}])
    expected = _schedule_late_arrivals(emulator, ws["ikey"], 10_000, spread=8.0, seed=5)
    until = iso(now() + dt.timedelta(seconds=11))
    result = cli(
        "traces",
        "late",
        "-f",
        "--since",
        "5m",
        "--until",
        until,
        "--interval",
        "1s",
        "--overlap",
        "2s",
        "--format",
        "jsonl",
        *ws["scope"],
    )
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    printed = [r["message"] for r in records]
    assert len(printed) == len(set(printed)), f"{len(printed) - len(set(printed))} printed twice"
    assert set(printed) == expected, f"{len(expected - set(printed))} never printed"
    assert _naive_misses(records, 1.0) > 100  # the arrival pattern defeats a tail keyed on event time


def test_follow_with_the_emulators_ingestion_delay_and_jitter(cli: Any, emulator: Emulator) -> None:
    ws = telemetry_workspace(emulator, "delay")
    status, before = emulator.admin("GET", "/_emulator/settings")
    assert status == 200
    emulator.admin("PUT", "/_emulator/settings", {"ingestionDelay": 2, "jitter": 2})
    try:
        start = now()
        for wave in range(3):
            envelopes = [
                trace(ws["ikey"], f"d-{wave}-{n}", at=start - dt.timedelta(seconds=n), role="d")
                for n in range(50)
            ]
            insert(emulator, ws["ikey"], envelopes)
        until = iso(now() + dt.timedelta(seconds=7))
        result = cli(
            "traces",
            "-f",
            "--since",
            "2m",
            "--until",
            until,
            "--interval",
            "300ms",
            "--format",
            "jsonl",
            *ws["scope"],
        )
    finally:
        emulator.admin(
            "PUT", "/_emulator/settings", {k: before.get(k, 0) for k in ("ingestionDelay", "jitter")}
        )
    assert result.exit_code == 0, result.stderr
    printed = [r["message"] for r in jsonl(result.stdout)]
    assert sorted(printed) == sorted(f"d-{w}-{n}" for w in range(3) for n in range(50))


def test_follow_survives_throttling_5xx_resets_and_token_expiry(cli: Any, emulator: Emulator) -> None:
    ws = telemetry_workspace(emulator, "faults", services=[{"name": "late", "computeType": "ACI"}])
    expected = _schedule_late_arrivals(emulator, ws["ikey"], 600, spread=5.0, seed=9)
    route = r"/query$"
    for fault in (
        {"kind": "status", "status": 429, "retryAfter": 1, "path": route, "count": 3, "rate": 0.12},
        {"kind": "status", "status": 503, "path": route, "count": 3, "rate": 0.12},
        {"kind": "reset", "path": route, "count": 3, "rate": 0.12},
        {"kind": "expire", "path": route, "count": 1, "rate": 0.12},
    ):
        status, body = emulator.admin("POST", "/_emulator/faults", fault)
        assert status in (200, 201), body
    until = iso(now() + dt.timedelta(seconds=14))
    result = cli(
        "traces",
        "late",
        "-f",
        "--since",
        "5m",
        "--until",
        until,
        "--interval",
        "300ms",
        "--overlap",
        "5s",
        "--format",
        "jsonl",
        *ws["scope"],
    )
    assert result.exit_code == 0, result.stderr
    printed = [r["message"] for r in jsonl(result.stdout)]
    assert len(printed) == len(set(printed)) and set(printed) == expected
    status, rules = emulator.admin("GET", "/_emulator/faults")
    assert sum(rule["hits"] for rule in rules["value"]) >= 4, rules
    assert "warning: poll failed" in result.stderr and "Traceback" not in result.stderr
    assert "warning: polling recovered after" in result.stderr


def test_follow_prints_late_rows_stamped_before_since(cli: Any, emulator: Emulator) -> None:
    """Issue 12.8: 100 events stamped 20–25 minutes ago become queryable during a follow with --since
    10m: all printed (--since bounds the backlog, not what arrives later); 10 of the same age that were
    ingested before the follow started are not."""
    ws = telemetry_workspace(emulator, "latesince")
    start = now()
    insert(
        emulator, ws["ikey"],
        [trace(ws["ikey"], f"backlog-{n}", at=start - dt.timedelta(minutes=22)) for n in range(10)],
        ingested_at=start - dt.timedelta(minutes=1),
    )  # fmt: skip
    for wave in range(4):
        late = [
            trace(ws["ikey"], f"late-{wave}-{n}", at=start - dt.timedelta(minutes=20 + wave, seconds=n))
            for n in range(25)
        ]
        insert(emulator, ws["ikey"], late, ingested_at=start + dt.timedelta(seconds=2 + wave))
    result = cli(
        "traces", "-f", "--since", "10m", "--until", iso(start + dt.timedelta(seconds=9)),
        "--interval", "300ms", "--format", "jsonl", *ws["scope"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    printed = [r["message"] for r in jsonl(result.stdout)]
    assert sorted(printed) == sorted(f"late-{w}-{n}" for w in range(4) for n in range(25))


def test_follow_across_token_revocations_loses_nothing(cli: Any, emulator: Emulator) -> None:
    """Issue 12.3: the service revokes every token four times mid-follow (continuous access evaluation):
    it answers with a claims challenge, azure-core asks amlmon's credential for a new token with those
    claims, and the follow goes on — every event printed once, no exit."""
    import threading

    # "late" is a service of the workspace: its rows arrive over the next seconds, so amlmon must not have
    # to find the name in telemetry that is not there yet.
    ws = telemetry_workspace(emulator, "revoke", services=[{"name": "late", "computeType": "ACI"}])
    expected = _schedule_late_arrivals(emulator, ws["ikey"], 375, spread=6.0, seed=12)
    seq = emulator.last_seq()
    revoked: list[int] = []

    def revoke_four_times() -> None:
        for _ in range(4):
            time.sleep(2.0)
            status, body = emulator.admin("POST", "/_emulator/tokens/revoke")
            assert status == 200 and body["revoked"] >= 1
            revoked.append(body["revoked"])

    revoker = threading.Thread(target=revoke_four_times)
    revoker.start()
    try:
        result = cli(
            "traces", "late", "-f", "--since", "5m", "--until", iso(now() + dt.timedelta(seconds=12)),
            "--interval", "300ms", "--overlap", "5s", "--format", "jsonl", *ws["scope"],
        )  # fmt: skip
    finally:
        revoker.join()
    assert result.exit_code == 0, result.stderr
    printed = [r["message"] for r in jsonl(result.stdout)]
    assert len(printed) == len(set(printed)) and set(printed) == expected
    log = emulator.requests_since(seq)
    challenged = [r for r in log if r["path"].endswith("/query") and r["status"] == 401]
    tokens = [r for r in log if r["path"].endswith("/oauth2/v2.0/token")]
    # Each revocation is met by the next poll (a request in flight may meet it too): a challenge and a
    # new token each time.
    assert len(revoked) == 4 and len(challenged) >= 4 and len(tokens) >= 1 + 4
    print(f"\nrevocation follow: {len(printed)} of {len(expected)} events printed once, "
          f"{len(revoked)} revocations, {len(challenged)} challenges, {len(tokens)} token requests")  # fmt: skip


def test_one_shot_command_survives_a_token_revocation(cli: Any, emulator: Emulator) -> None:
    ws = telemetry_workspace(emulator, "revoke1")
    insert(emulator, ws["ikey"], [trace(ws["ikey"], "still here", at=now() - dt.timedelta(minutes=1))])
    status, body = emulator.admin(
        "POST", "/_emulator/faults", {"kind": "revoke", "path": r"/query$", "count": 1}
    )
    assert status in (200, 201), body
    result = cli("traces", "--since", "10m", "--format", "jsonl", *ws["scope"])
    _, rules = emulator.admin("GET", "/_emulator/faults")
    assert result.exit_code == 0, result.stderr
    assert [r["message"] for r in jsonl(result.stdout)] == ["still here"]
    assert [rule["hits"] for rule in rules["value"]] == [1]


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_ends_follow_with_130_and_no_traceback(
    emulator: Emulator, seeded: dict[str, Any], signum: str
) -> None:
    # SIGTERM (`timeout`, a cancelled CI job) ends a follow as Ctrl-C does, as `data tail`: it was 143
    process = spawn_amlmon(
        ["traces", "-f", "--since", "1h", "--interval", "300ms", *seeded["scope"]], emulator.env()
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the backlog has arrived: the loop is polling
        assert "churn started" in first
        time.sleep(0.5)
        process.send_signal(getattr(signal, signum))
        _out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.splitlines()[-1:] == ["interrupted"], err  # as `data tail` (README); it ended without a word


def test_follow_piped_to_head_ends_with_head_when_nothing_new_arrives(
    emulator: Emulator, seeded: dict[str, Any]
) -> None:
    """Issue 14.5: `traces -f | head -2` exits when head does, not at the next event (there is none
    here, and the next poll is 60 s away): amlmon watches the pipe between polls."""
    process = spawn_amlmon(
        ["traces", "-f", "--since", "1h", "--interval", "60s", "--format", "short", *seeded["scope"]],
        emulator.env(),
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert all(lines), lines  # the backlog arrived: the loop is now waiting for its next poll
        process.stdout.close()  # `head -2` leaves
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0 and process.stderr.read() == ""


def test_follow_until_a_duration_means_from_now(cli: Any, seeded: dict[str, Any]) -> None:
    started = time.monotonic()
    result = cli(
        "traces", "-f", "--since", "1h", "--until", "3s", "--interval", "300ms", "--format", "short",
        *seeded["scope"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout  # the backlog was printed
    assert time.monotonic() - started >= 2.5, "--until 3s with --follow follows for three seconds"


def test_output_cut_short_by_head_is_quiet(emulator: Emulator) -> None:
    ws = telemetry_workspace(emulator, "head")
    t = now() - dt.timedelta(minutes=5)
    insert(emulator, ws["ikey"], [trace(ws["ikey"], f"line {n} " + "x" * 200, at=t) for n in range(1500)])
    process = spawn_amlmon(["traces", "--since", "1h", "--format", "jsonl", *ws["scope"]], emulator.env())
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # like `| head -1`: the reader leaves while amlmon still writes
    process.wait(timeout=30)
    assert process.returncode == 0 and process.stderr.read() == ""


# ---------------------------------------------------------------------------------------------------
# Real telemetry from a real inference server
# ---------------------------------------------------------------------------------------------------
@pytest.mark.inference
def test_model_data_from_a_real_inference_server_shows_the_input_that_was_sent(
    cli: Any, emulator: Emulator
) -> None:
    import ssl
    import urllib.request

    emulator.admin("PUT", "/_emulator/settings", {"inferenceExportSeconds": 0.5})
    ws = telemetry_workspace(
        emulator,
        "infsrv",
        services=[
            {
                "name": "churn-live",
                "computeType": "ACI",
                "backend": "inference",
                "appInsightsEnabled": True,
                "storageEnabled": True,
            }
        ],
    )
    payload = {"data": [[7, 42.5, 2, 1]]}
    request = urllib.request.Request(
        f"{emulator.endpoint}/api/v1/service/churn-live/score",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    deadline = time.time() + 60
    while True:  # the server may still be starting
        try:
            with urllib.request.urlopen(
                request, context=ssl.create_default_context(cafile=emulator.ca_path)
            ) as answer:
                prediction = json.loads(answer.read())
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    records: list[dict[str, Any]] = []
    while time.time() < deadline and not records:
        result = cli(
            "traces", "churn-live", "--model-data", "--since", "5m", "--format", "jsonl", *ws["scope"]
        )
        assert result.exit_code == 0, result.stderr
        records = jsonl(result.stdout)
        time.sleep(0.5)
    assert records, "no model data arrived"
    data = records[0]["modelData"]
    assert data["input"] == payload
    assert data["prediction"] == prediction or json.dumps(data["prediction"]) in json.dumps(prediction)
    assert records[0]["target"] == "churn-live"


# ---------------------------------------------------------------------------------------------------
# The service's text never drives the reader's terminal
# ---------------------------------------------------------------------------------------------------
ESCAPES = "pwn \x1b[2J\x1b]0;pwned\x07 \x9b31m end"


@pytest.fixture(scope="module")
def escapes_ws(emulator: Emulator) -> dict[str, Any]:
    ws = telemetry_workspace(emulator, "escapes")
    insert(emulator, ws["ikey"], [trace(ws["ikey"], ESCAPES, at=now() - dt.timedelta(minutes=2))])
    return ws


def _no_raw_controls(text: str) -> None:
    assert not any(ch in text for ch in "\x1b\x07\x9b"), repr(text)
    assert "\\x1b[2J\\x1b]0;pwned\\x07 \\x9b31m end" in text, repr(text)


def test_escape_sequences_in_a_message_reach_a_terminal_made_visible(
    emulator: Emulator, escapes_ws: dict[str, Any]
) -> None:
    """Issue: `\\x1b[2J` in a trace message cleared the reader's terminal (default pretty on a TTY)."""
    from tests.helpers import on_a_terminal

    text = on_a_terminal(
        ["traces", "--since", "1h", *escapes_ws["scope"]], {**emulator.env(), "NO_COLOR": "1"}, columns=160
    )
    _no_raw_controls(text)


@pytest.mark.parametrize("style", [["-o", "table"], ["--format", "short"], ["--format", "raw"]])
def test_human_trace_formats_show_control_characters_visibly(
    cli: Any, escapes_ws: dict[str, Any], style: list[str]
) -> None:
    result = cli("traces", "--since", "1h", *style, *escapes_ws["scope"])
    assert result.exit_code == 0, result.stderr
    _no_raw_controls(result.stdout)


def test_machine_trace_formats_keep_the_message_exact(cli: Any, escapes_ws: dict[str, Any]) -> None:
    result = cli("traces", "--since", "1h", "--format", "jsonl", *escapes_ws["scope"])
    assert result.exit_code == 0 and jsonl(result.stdout)[0]["message"] == ESCAPES
    tsv = cli("traces", "--since", "1h", "-o", "tsv", *escapes_ws["scope"])
    assert tsv.exit_code == 0, tsv.stderr
    assert tsv.stdout.rstrip("\n").split("\t")[-1] == "pwn \\x1b[2J\\x1b]0;pwned\\x07 \\x9b31m end"


def test_traces_tsv_escapes_line_breaks_and_tabs_as_query_tsv_does(cli: Any, emulator: Emulator) -> None:
    """Issue: traces' own tsv wrote LF/tab as spaces and left a raw CR; README promises \\n, \\r, \\t."""
    ws = telemetry_workspace(emulator, "tsvtrace")
    insert(emulator, ws["ikey"], [trace(ws["ikey"], "a\nb\rc\td\\e", at=now() - dt.timedelta(minutes=2))])
    result = cli("traces", "--since", "1h", "-o", "tsv", *ws["scope"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1 and "\r" not in result.stdout
    assert result.stdout.rstrip("\n").split("\t")[-1] == "a\\nb\\rc\\td\\\\e"
