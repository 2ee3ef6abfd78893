"""`amlmon query` against the emulator: where the KQL comes from, time ranges, both routes, output
formats, rejected queries, partial results, throttling and resets — through the real LogsQueryClient."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator, spawn_amlmon
from tests.helpers import (
    OFFLINE,
    OFFLINE_SCOPE,
    SLOW_KQL,
    insert,
    iso,
    jsonl,
    now,
    on_a_terminal,
    telemetry_workspace,
    trace,
)

pytestmark = pytest.mark.usefixtures("clear_faults")

MINE = 'traces | where message startswith "q-" | project message | order by message asc'


@pytest.fixture(scope="module")
def ws(emulator: Emulator) -> dict[str, Any]:
    created = telemetry_workspace(emulator, "query")
    ikey, t = created["ikey"], now()
    insert(
        emulator,
        ikey,
        [
            trace(ikey, "q-recent", at=t - dt.timedelta(minutes=10), properties={"k": "v"}),
            trace(ikey, "q-older", at=t - dt.timedelta(hours=3)),
            trace(ikey, "q-oldest", at=t - dt.timedelta(days=2)),
        ],
    )
    return created


@pytest.fixture(scope="module")
def empty_ws(emulator: Emulator) -> dict[str, Any]:
    """A workspace without telemetry: for what needs only ARM (the portal link, a missing workspace)."""
    return telemetry_workspace(emulator, "query-arm")


def _rows(cli: Any, ws: dict[str, Any], *args: str, stdin: str | None = None) -> list[str]:
    result = cli("query", *args, *ws["scope"], "-o", "json", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    return [row["message"] for row in result.json()]


def test_kql_from_an_argument_a_file_or_stdin(cli: Any, ws: dict[str, Any], tmp_path: Path) -> None:
    expected = ["q-older", "q-oldest", "q-recent"]
    assert _rows(cli, ws, MINE) == expected
    path = tmp_path / "mine.kql"
    path.write_text("// a saved query\n" + MINE.replace(" | ", "\n| ") + "\n", encoding="utf-8")
    assert _rows(cli, ws, "-f", str(path)) == expected
    assert _rows(cli, ws, "-", stdin=MINE) == expected
    assert _rows(cli, ws, "-f", "-", stdin=MINE) == expected


def test_time_range_options(cli: Any, ws: dict[str, Any]) -> None:
    assert _rows(cli, ws, MINE, "--since", "1h") == ["q-recent"]
    assert _rows(cli, ws, MINE, "--timespan", "PT4H") == ["q-older", "q-recent"]
    start, end = now() - dt.timedelta(hours=4), now() - dt.timedelta(hours=1)
    assert _rows(cli, ws, MINE, "--timespan", f"{iso(start)}/{iso(end)}") == ["q-older"]
    assert _rows(cli, ws, MINE, "--timespan", f"{iso(start)}/PT3H") == ["q-older"]
    assert _rows(cli, ws, MINE, "--from", iso(start), "--to", iso(end)) == ["q-older"]
    assert _rows(cli, ws, MINE, "--from", "3d") == ["q-older", "q-oldest", "q-recent"]


def test_log_analytics_route_uses_the_workspace_schema(cli: Any, ws: dict[str, Any]) -> None:
    kql = 'AppTraces | where Message startswith "q-" | project message = Message, props = Properties'
    result = cli("query", kql, "--log-analytics", "--since", "1h", *ws["scope"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == [{"message": "q-recent", "props": {"k": "v"}}]  # dynamic decoded


@pytest.mark.parametrize("output", ["json", "jsonl", "tsv", "table", "yaml", "none"])
def test_every_output_format(cli: Any, ws: dict[str, Any], output: str) -> None:
    kql = 'traces | where message == "q-recent" | project message, severityLevel, n = 2'
    result = cli("query", kql, *ws["scope"], "-o", output)
    assert result.exit_code == 0, result.stderr
    expected = {"message": "q-recent", "severityLevel": 1, "n": 2}
    if output == "json":
        assert result.json() == [expected]
    elif output == "jsonl":
        assert jsonl(result.stdout) == [expected]
    elif output == "tsv":
        assert result.stdout == "q-recent\t1\t2\n"
    elif output == "table":
        assert "message" in result.stdout and "q-recent" in result.stdout
    elif output == "yaml":
        assert "- message: q-recent" in result.stdout
    else:
        assert result.stdout == ""


LONG_ROW = (
    'datatable(name:string, note:string, k:string)["churn-aci", "the quick brown fox jumps over the lazy '
    'dog and keeps running well past the edge of any terminal", "ok"]'
)


def test_a_terminal_table_cuts_cells_with_an_ellipsis_never_wraps(
    emulator: Emulator, ws: dict[str, Any]
) -> None:
    text = on_a_terminal(["query", LONG_ROW, *ws["scope"], "-o", "table"], emulator.env(), columns=60)
    lines = text.splitlines()
    assert len(lines) == 3, text  # header, rule, the one row: nothing wrapped onto a second line
    assert all(len(line) <= 60 for line in lines), text
    assert lines[2].startswith("churn-aci") and lines[2].rstrip().endswith("ok"), "narrow columns stay whole"
    assert "the quick brown fox" in lines[2] and "…" in lines[2], "the widest column is cut, with an ellipsis"


def test_a_piped_table_keeps_every_cell_whole_on_one_line(cli: Any, ws: dict[str, Any]) -> None:
    result = cli("query", LONG_ROW, *ws["scope"], "-o", "table")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and "…" not in result.stdout
    assert "past the edge of any terminal" in lines[2] and lines[2].endswith("ok")


def test_syntax_error_shows_the_message_position_and_a_caret(cli: Any, ws: dict[str, Any]) -> None:
    result = cli("query", 'traces\n| where message == "x"\n| wherex 1', *ws["scope"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: the query was rejected:") and "line 3" in lines[0]
    assert lines[1] == "  | wherex 1"
    assert lines[2].strip() == "^" and lines[2].index("^") in range(2, 12)
    assert lines[3].startswith("hint:") and "Traceback" not in result.stderr


def test_semantic_error_names_the_unknown_table(cli: Any, ws: dict[str, Any]) -> None:
    result = cli("query", "nosuchtable | take 1", *ws["scope"])
    assert result.exit_code == 1
    assert "nosuchtable" in result.stderr.splitlines()[0] and "Traceback" not in result.stderr


def test_partial_result_prints_rows_warns_and_exits_1_unless_allowed(cli: Any, ws: dict[str, Any]) -> None:
    kql = 'range x from 1 to 70 step 1 | extend s = strrep("x", 1100000)'  # ~77 MB: past the 64 MB limit
    result = cli("query", kql, *ws["scope"], "-o", "jsonl")
    assert result.exit_code == 1
    assert "warning: partial result" in result.stderr
    assert 0 < len(result.stdout.splitlines()) < 70
    allowed = cli("query", kql, "--allow-partial", *ws["scope"], "-o", "none")
    assert allowed.exit_code == 0 and "warning: partial result" in allowed.stderr


def test_throttling_is_retried_then_reported_with_exit_5(
    cli: Any, emulator: Emulator, ws: dict[str, Any]
) -> None:
    emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 429, "retryAfter": 1, "path": "/query$", "count": 2},
    )
    assert _rows(cli, ws, MINE, "--since", "1h") == ["q-recent"]
    emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 429, "retryAfter": 0, "path": "/query$", "count": 50},
    )
    result = cli("query", MINE, *ws["scope"])
    assert result.exit_code == 5, result.stderr
    assert "throttled" in result.stderr and "Traceback" not in result.stderr


def test_a_reset_or_503_is_retried(cli: Any, emulator: Emulator, ws: dict[str, Any]) -> None:
    emulator.admin("POST", "/_emulator/faults", {"kind": "reset", "path": "/query$", "count": 1})
    emulator.admin(
        "POST", "/_emulator/faults", {"kind": "status", "status": 503, "path": "/query$", "count": 1}
    )
    assert _rows(cli, ws, MINE, "--since", "1h") == ["q-recent"]


def test_print_query_and_portal_link(cli: Any, empty_ws: dict[str, Any]) -> None:
    ws = empty_ws
    printed = cli("query", MINE, "--print-query", *ws["scope"])
    assert printed.exit_code == 0 and printed.stdout == MINE + "\n"
    linked = cli("query", MINE, "--portal-link", "--since", "1h", *ws["scope"])
    assert linked.exit_code == 0, linked.stderr
    link = linked.stdout.strip()
    assert "/#blade/Microsoft_Azure_Monitoring_Logs/LogsBlade/resourceId/" in link
    assert urllib.parse.quote(ws["appInsightsId"], safe="").lower() in link.lower()
    packed = urllib.parse.unquote(link.split("/q/")[1].split("/")[0])
    assert gzip.decompress(base64.b64decode(packed)).decode() == MINE


def test_timespan_errors_suggest_a_value_timespan_accepts(cli: Any, empty_ws: dict[str, Any]) -> None:
    ws = empty_ws
    for wrong in ("P10M", "P1Y", "P1X", "10m"):
        refused = cli("query", MINE, "--timespan", wrong, "--portal-link", *ws["scope"])
        assert refused.exit_code == 2, refused.stderr
        [hint] = [line for line in refused.stderr.splitlines() if line.startswith("hint:")]
        suggested = re.findall(r"\b(P[0-9A-Z]+|[0-9]+[a-z]+)\b", hint)
        assert suggested, hint
        for value in suggested:  # every value the hint offers is one --timespan takes
            taken = cli("query", MINE, "--timespan", value, "--portal-link", *ws["scope"])
            assert taken.exit_code == 0, (wrong, value, taken.stderr)
    months = cli("query", MINE, "--timespan", "P10M", "--portal-link", *ws["scope"])
    assert "month" in months.stderr and "PT10M" in months.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "no query given"),
        (["   "], "the query is empty"),
        ([MINE, "-f", "x.kql"], "not both"),
        (["-f", "/nonexistent/q.kql"], "cannot read"),
        ([MINE, "--since", "1h", "--from", "2h"], "exclude each other"),
        ([MINE, "--to", "1h"], "--to needs --from"),
        ([MINE, "--timespan", "yesterday"], "not an ISO 8601"),
        ([MINE, "--from", "1h", "--to", "2h"], "is not before"),
        ([MINE, "--app-insights", "--log-analytics"], "exclude each other"),
    ],
)
def test_usage_errors_exit_2_with_a_hint(cli: Any, args: list[str], needle: str) -> None:
    result = cli("query", *args, *OFFLINE_SCOPE, env=OFFLINE)
    assert result.exit_code == 2, result.stderr
    assert needle in result.stderr and "hint:" in result.stderr


def test_unknown_workspace_exits_3(cli: Any, empty_ws: dict[str, Any]) -> None:
    ws = empty_ws
    scope = list(ws["scope"])
    scope[-1] = "no-such-workspace"
    result = cli("query", MINE, *scope)
    assert result.exit_code == 3, result.stderr


def test_json_output_is_valid_for_datetimes(cli: Any, ws: dict[str, Any]) -> None:
    result = cli(
        "query", 'traces | where message == "q-recent" | project timestamp', *ws["scope"], "-o", "json"
    )
    stamp = json.loads(result.stdout)[0]["timestamp"]
    assert stamp.endswith("Z") and dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) < now()


def test_server_timeout_gives_exit_5_with_a_hint(cli: Any, empty_ws: dict[str, Any]) -> None:

    result = cli("query", SLOW_KQL, "--log-analytics", "--server-timeout", "1", *empty_ws["scope"])
    assert result.exit_code == 5, result.stderr
    assert "server timeout" in result.stderr and "Traceback" not in result.stderr


# --- issue 11.6 / 11.8 / 12.7 / 14.3: answers exactly as the service sends them ----------------------
def test_tsv_keeps_every_column_dynamic_as_compact_json(cli: Any, empty_ws: dict[str, Any]) -> None:
    kql = 'datatable(k:string, v:dynamic, w:string)["a", dynamic({"x":1}), "w1", "b", dynamic(null), "w2"]'
    result = cli("query", kql, *empty_ws["scope"], "-o", "tsv")
    assert result.exit_code == 0, result.stderr
    assert [line.split("\t") for line in result.stdout.splitlines()] == [
        ["a", '{"x":1}', "w1"],
        ["b", "", "w2"],
    ]


def test_tsv_escapes_tabs_and_line_breaks_so_no_column_shifts(cli: Any, empty_ws: dict[str, Any]) -> None:
    kql = 'print a = "x\\ty", b = "line1\\nline2", c = "back\\\\slash", d = "z"'
    result = cli("query", kql, *empty_ws["scope"], "-o", "tsv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "x\\ty\tline1\\nline2\tback\\\\slash\tz\n"


def test_a_string_literal_naming_ingestion_time_comes_back_as_typed(
    cli: Any, empty_ws: dict[str, Any]
) -> None:
    result = cli("query", 'print s = "ingestion_time()"', *empty_ws["scope"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == [{"s": "ingestion_time()"}]


def test_partial_result_names_the_reason_the_service_gave(cli: Any, ws: dict[str, Any]) -> None:
    kql = 'range x from 1 to 70 step 1 | extend s = strrep("x", 1100000)'
    result = cli("query", kql, *ws["scope"], "-o", "none")
    assert result.exit_code == 1
    assert "exceeded the internal data size limit" in result.stderr, result.stderr
    assert "Something went wrong" not in result.stderr


def test_a_504_is_not_asked_again_exit_5_with_the_server_timeout_hint(
    cli: Any, emulator: Emulator, ws: dict[str, Any]
) -> None:
    # One 504, then answers again: asking again would succeed, so exit 5 proves it was not retried.
    emulator.admin(
        "POST", "/_emulator/faults", {"kind": "status", "status": 504, "path": "/query$", "count": 1}
    )
    result = cli("query", MINE, *ws["scope"])
    assert result.exit_code == 5, result.stderr
    assert "--server-timeout" in result.stderr and "Traceback" not in result.stderr
    assert _rows(cli, ws, MINE) == ["q-older", "q-oldest", "q-recent"]  # the positive control


def test_check_cannot_be_evaluated_after_a_504_exit_6(
    cli: Any, emulator: Emulator, ws: dict[str, Any]
) -> None:
    emulator.admin(
        "POST", "/_emulator/faults", {"kind": "status", "status": 504, "path": "/query$", "count": 5}
    )
    result = cli("check", "--max-failure-rate", "5%", "--min-requests", "0", "--since", "1h", *ws["scope"])
    assert result.exit_code == 6, result.stderr
    assert "could not be evaluated" in result.stderr


@pytest.mark.parametrize("output", ["json", "jsonl", "tsv", "yaml", "table"])
def test_datetimes_are_the_service_text_in_every_format(
    cli: Any, empty_ws: dict[str, Any], output: str
) -> None:
    kql = "print t = datetime(2026-01-02 03:04:05.12), old = datetime(0099-01-01)"
    result = cli("query", kql, *empty_ws["scope"], "-o", output, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "2026-01-02T03:04:05.12Z" in result.stdout and "0099-01-01T00:00:00Z" in result.stdout


def test_infinity_and_nan_stay_valid_json(cli: Any, empty_ws: dict[str, Any]) -> None:
    result = cli("query", "print a = real(+inf), b = real(-inf), c = real(nan), d = 1.5", *empty_ws["scope"])
    assert result.exit_code == 0, result.stderr

    def refuse(word: str) -> None:
        raise AssertionError(f"{word} is not JSON")

    rows = json.loads(result.stdout, parse_constant=refuse)
    assert rows == [{"a": "Infinity", "b": "-Infinity", "c": "NaN", "d": 1.5}]


def test_an_unknown_column_is_a_kusto_semantic_error(cli: Any, ws: dict[str, Any]) -> None:
    result = cli("query", "traces | where nope == 1", *ws["scope"])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert (
        "SEM0100" in first and "'where' operator: Failed to resolve scalar expression named 'nope'" in first
    )
    assert "Binder" not in result.stderr and "FROM clause" not in result.stderr


@pytest.mark.parametrize("size", ["1000000000", "1e10"])
def test_a_range_past_the_emulators_memory_is_refused_as_the_service_does(
    cli: Any, empty_ws: dict[str, Any], size: str
) -> None:
    started = time.monotonic()
    result = cli("query", f"range x from 1 to {size} step 1 | count", *empty_ws["scope"], "-o", "json")
    assert result.exit_code == 1, result.stderr
    assert "E_LOW_MEMORY_CONDITION" in result.stderr and time.monotonic() - started < 20
    within = cli("query", "range x from 1 to 1000 step 1 | count", *empty_ws["scope"], "-o", "json")
    assert within.exit_code == 0 and within.json() == [{"Count": 1000}]  # the positive control


def test_seven_fractional_digits_survive_ingestion_and_query(cli: Any, emulator: Emulator) -> None:
    created = telemetry_workspace(emulator, "ticks")
    stamp = (now() - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "7Z"
    envelope = trace(created["ikey"], "ticks", at=now())
    envelope["time"] = stamp
    insert(emulator, created["ikey"], [envelope])
    result = cli(
        "query", 'traces | where message == "ticks" | project timestamp', *created["scope"], "-o", "tsv"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == stamp + "\n"  # the 7th digit (100 ns) kept, as Log Analytics keeps it


def test_a_piped_table_shows_a_cell_with_control_characters_whole_and_escaped(
    cli: Any, emulator: Emulator
) -> None:
    """Issue: a piped `query -o table` cut a cell with control characters (`multi line message w…`)."""
    created = telemetry_workspace(emulator, "ctlcells")
    ikey = created["ikey"]
    message = "multi line\nmessage with \x1b[2J and a bell\x07 right to the end"
    insert(emulator, ikey, [trace(ikey, message, at=now() - dt.timedelta(minutes=5))])
    result = cli(
        "query", "traces | project message, k = 'ok'", "--since", "1h", *created["scope"], "-o", "table"
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and "…" not in result.stdout and "\x1b" not in result.stdout, result.stdout
    assert "multi line message with \\x1b[2J and a bell\\x07 right to the end" in lines[2], lines
    assert lines[2].endswith("ok")


@pytest.mark.parametrize("output", ["jsonl", "tsv", "json"])
def test_a_query_piped_to_head_ends_quietly_with_exit_0(
    emulator: Emulator, ws: dict[str, Any], output: str
) -> None:
    """Issue: `query "range x from 1 to 100000 step 1" -o jsonl | head -1` exited 1 (the streaming path)."""
    process = spawn_amlmon(
        ["query", "range x from 1 to 100000 step 1", *ws["scope"], "-o", output], emulator.env()
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        assert process.stdout.readline()  # the first row arrived
        process.stdout.close()  # `head -1` leaves while amlmon still writes
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0 and process.stderr.read() == ""
