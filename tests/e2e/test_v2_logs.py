"""`amlmon logs` on a v2 deployment backed by the real inference server: the container tail through the
deployment's getLogs (no setup), and the endpoint log tables (console lines, container events) with a
time range and `--follow` — each printed line is one the real server printed, exactly once."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest

from tests.online import WAIT, Deployment, Followed, send_blue

pytestmark = [pytest.mark.inference, pytest.mark.azurite]


def test_logs_tails_the_inference_server_container_through_getlogs(
    cli: Any, emulator: Any, deployment: Deployment
) -> None:
    """No diagnostic setting needed: what the real inference child printed, newest last, `--tail` lines."""
    dep = deployment
    target = f"{dep.endpoint}/blue"
    rows = [[1, 2, 3, 4]] * 3
    marker = f"scored {len(rows)} row(s)"
    before = cli("logs", target, "--tail", "10000", *dep.ws["args"], "-o", "json")
    assert before.exit_code == 0, before.stderr
    already = before.json()["content"].count(marker)
    for _ in range(2):
        send_blue(emulator, dep, [{"data": rows}])
    deadline = time.time() + WAIT
    while True:
        result = cli("logs", target, "--tail", "10000", *dep.ws["args"], "-o", "table")
        assert result.exit_code == 0, result.stderr
        if result.stdout.count(marker) >= already + 2 or time.time() > deadline:
            break
        time.sleep(0.3)
    assert result.stdout.count(marker) == already + 2
    assert "sample-churn loaded: features" in result.stdout, "the server's start-up lines are in the tail"
    assert "note: the last 10000 lines" in result.stderr and "not the endpoint log tables" in result.stderr
    lines = result.stdout.splitlines()
    last = cli("logs", target, "--tail", "2", *dep.ws["args"], "-o", "json")
    assert last.exit_code == 0, last.stderr
    assert last.json()["content"].splitlines() == lines[-2:]
    assert last.json()["container"] == "inference-server" and last.json()["tail"] == 2

    initializer = cli("logs", target, "--container", "storage-initializer", *dep.ws["args"], "-o", "table")
    assert initializer.exit_code == 0 and initializer.stdout == ""
    bare = cli("logs", dep.endpoint, *dep.ws["args"])
    assert (
        bare.exit_code == 2
        and "error:" in bare.stderr
        and f"hint: give endpoint/deployment, e.g. {dep.endpoint}/blue" in bare.stderr
    )
    wrong = cli("logs", target, "--container", "sidecar", *dep.ws["args"])
    assert wrong.exit_code == 2 and "error: --container 'sidecar' is not a container" in wrong.stderr
    missing = cli("logs", f"{dep.endpoint}/nosuch", *dep.ws["args"])
    assert missing.exit_code == 3 and "error:" in missing.stderr and "Traceback" not in missing.stderr


def test_traces_without_endpoint_logs_or_app_insights_falls_back_to_getlogs(
    cli: Any, emulator: Any, deployment: Deployment
) -> None:
    """No diagnostic setting and no App Insights traces: `traces ep/dep` prints the container tail and
    says so; asking for the endpoint log tables explicitly finds no rows (the control)."""
    dep = deployment
    target = f"{dep.endpoint}/blue"
    marker = "scored 3 row(s)"
    send_blue(emulator, dep, [{"data": [[1, 2, 3, 4]] * 3}])
    deadline = time.time() + WAIT
    while True:
        result = cli("traces", target, "--limit", "5000", *dep.ws["args"])
        assert result.exit_code == 0, result.stderr
        if marker in result.stdout or time.time() > deadline:
            break
        time.sleep(0.3)
    assert marker in result.stdout and "sample-churn loaded: features" in result.stdout
    assert "no endpoint logs (no diagnostic setting sends AmlOnlineEndpointConsoleLog)" in result.stderr
    assert "(getLogs) instead" in result.stderr
    as_json = cli("traces", dep.endpoint, "--limit", "10", *dep.ws["args"], "-o", "json")
    assert as_json.exit_code == 0, as_json.stderr
    assert [(r["target"], r["container"], r["tail"]) for r in as_json.json()] == [
        (target, "inference-server", 10)
    ]
    # a filter the raw getLogs tail cannot honour: no fallback to it (the unfiltered run above is the control)
    filtered = cli("traces", target, "--limit", "5000", "--grep", "no-such-line", *dep.ws["args"])
    assert filtered.exit_code == 0 and "sample-churn loaded" not in filtered.stdout, filtered.stdout
    assert "getLogs" not in filtered.stderr
    explicit = cli(
        "traces", target, "--source", "endpoint-logs", "--since", "1h", *dep.ws["args"], "-o", "json"
    )
    assert explicit.exit_code == 0 and explicit.json() == [], explicit.stderr
    assert f"no console lines (AmlOnlineEndpointConsoleLog) of {target} between" in explicit.stderr
    for bad, text in (
        (["--source", "app-insights", "--events"], "error: --events reads AmlOnlineEndpointEventLog"),
        (["--events", "--severity", "error"], "error: the endpoint log tables have no severity"),
        (["--source", "nosuch"], "error: --source 'nosuch' is not a source"),
    ):
        refused = cli("traces", target, *bad, *dep.ws["args"])
        assert refused.exit_code == 2 and text in refused.stderr and "hint:" in refused.stderr, refused.stderr


def _rows(cli: Any, dep: Deployment, *args: str) -> list[dict[str, Any]]:
    result = cli("logs", *args, "--since", "1h", *dep.ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    return list(result.json())


def _wait_rows(cli: Any, dep: Deployment, marker: str, count: int, *args: str) -> list[dict[str, Any]]:
    deadline = time.time() + WAIT
    while True:
        rows = _rows(cli, dep, *args)
        if sum(marker in r["message"] for r in rows) >= count or time.time() > deadline:
            return rows
        time.sleep(0.3)


def _follow_late_rows(
    emulator: Any,
    dep: Deployment,
    args: list[str],
    many: int,
    last: int,
    backlog: tuple[str, int] | None = None,
) -> tuple[Followed, str]:
    """`amlmon ARGS` (a -f that prints JSON) while rows become visible 2 s after they are written: three
    requests of `many` rows, then one of `last` (the control: later polls ran after those lines were
    printed), then Ctrl-C. The followed child and its stderr."""
    emulator.admin("PUT", "/_emulator/settings", {"ingestionDelay": 2})
    followed = Followed(emulator, args)
    try:
        if backlog is not None:
            followed.until(*backlog)
        else:
            time.sleep(1.0)  # the first poll has run
        for _ in range(3):
            send_blue(emulator, dep, [{"data": [[1, 2, 3, 4]] * many}])
        followed.until(f"scored {many} row(s)", 3)
        send_blue(emulator, dep, [{"data": [[1, 2, 3, 4]] * last}])
        followed.until(f"scored {last} row(s)", 1)
        time.sleep(1.0)
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"ingestionDelay": 0})
        stderr = followed.interrupt()
    return followed, stderr


def test_endpoint_logs_window_events_and_follow_print_each_line_once(
    cli: Any, emulator: Any, deployment: Deployment
) -> None:

    dep = deployment
    target = f"{dep.endpoint}/blue"
    # Turning model data on changes the collector's config: the server restarts with the next request,
    # after the setting exists, so its container events are in the event log whatever ran before.
    on = cli(
        "diagnostics",
        "enable",
        dep.endpoint,
        "--endpoint-logs",
        "--model-data",
        *dep.ws["args"],
        "-o",
        "json",
    )
    assert on.exit_code == 0, on.stderr
    two = "scored 2 row(s)"
    for _ in range(2):
        send_blue(emulator, dep, [{"data": [[1, 2, 3, 4]] * 2}])
    rows = _wait_rows(cli, dep, two, 2, target, "--source", "endpoint-logs")
    mine = [r for r in rows if two in r["message"]]
    assert len(mine) == 2, "each console line once"
    assert {(r["target"], r["container"]) for r in mine} == {(target, "inference-server")}
    assert all(r["instance"] and r["instance"].startswith("blue-") for r in mine)
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows), "oldest first"
    # A bare endpoint reads every deployment's rows; the endpoint comes from _ResourceId.
    assert sum(two in r["message"] for r in _rows(cli, dep, dep.endpoint, "--source", "endpoint-logs")) == 2

    # Container events of that (re)start.
    events = _rows(cli, dep, target, "--events")
    assert "Started" in {e["name"] for e in events} and all(e["target"] == target for e in events)
    table = cli("logs", target, "--events", "--since", "1h", *dep.ws["args"], "-o", "table")
    assert table.exit_code == 0 and f"{target} blue-" in table.stdout and " Started: " in table.stdout

    # --follow: rows become visible 2 s after they are written; each is printed once, in one stream.
    five, six = "scored 5 row(s)", "scored 6 row(s)"
    args = ["logs", target, "-f", "--interval", "300ms", *dep.ws["args"], "-o", "json"]
    followed, stderr = _follow_late_rows(emulator, dep, args, 5, 6, backlog=(two, 2))  # --since 1h's
    lines = followed.lines
    assert followed.process.returncode == 130, stderr  # Ctrl-C, as `traces -f` (README's exit codes)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "note: following AmlOnlineEndpointConsoleLog" in stderr
    counts = {m: sum(m in r["message"] for r in lines) for m in (two, five, six)}
    assert counts == {two: 2, five: 3, six: 1}
    ids = [(r["timestamp"], r["instance"], r["message"]) for r in lines]
    assert len(ids) == len(set(ids)), "no line twice"

    wrong = cli("logs", target, "--source", "container", "--events", *dep.ws["args"])
    assert wrong.exit_code == 2 and "hint: add --source endpoint-logs" in wrong.stderr
    missing = cli("logs", f"{dep.endpoint}/nosuch", "--events", *dep.ws["args"])
    assert missing.exit_code == 3 and "error:" in missing.stderr


def test_logs_follow_piped_to_head_ends_with_head_when_nothing_new_arrives(
    emulator: Any, deployment: Deployment
) -> None:
    """Issue: `logs ep/dep -f | head -1` hung until a timeout: like `traces -f`, amlmon watches the pipe
    between polls (the next poll is 60 s away here) and ends quietly with exit 0 when its reader leaves."""
    from tests.conftest import spawn_amlmon

    dep = deployment
    process = spawn_amlmon(
        ["logs", f"{dep.endpoint}/blue", "-f", "--since", "1h", "--interval", "60s", *dep.ws["args"]],
        emulator.env(),
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        assert process.stdout.readline()  # the backlog arrived: the loop now waits for its next poll
        process.stdout.close()  # `head -1` leaves
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read()
    assert process.returncode == 0 and "Traceback" not in stderr and "error:" not in stderr, stderr


def test_traces_reads_the_endpoint_log_tables_once_a_setting_sends_them_and_follows_each_line_once(
    cli: Any, emulator: Any, deployment: Deployment
) -> None:
    """After `diagnostics enable --endpoint-logs` (the test above), `traces ep/dep` reads the console
    log by default, `--events` the event log, and `-f` prints late rows exactly once (one tail engine)."""

    dep = deployment
    target = f"{dep.endpoint}/blue"
    seven = "scored 7 row(s)"
    send_blue(emulator, dep, [{"data": [[1, 2, 3, 4]] * 7}])
    deadline = time.time() + WAIT
    while True:
        result = cli("traces", target, "--since", "1h", *dep.ws["args"], "-o", "json")
        assert result.exit_code == 0, result.stderr
        rows = result.json()
        if any(seven in r["message"] for r in rows) or time.time() > deadline:
            break
        time.sleep(0.3)
    mine = [r for r in rows if seven in r["message"]]
    assert len(mine) == 1 and mine[0]["target"] == target and mine[0]["instance"].startswith("blue-")
    assert mine[0]["properties"] == {"container": "inference-server"}
    assert "getLogs" not in result.stderr
    text = cli(
        "traces", dep.endpoint, "--since", "1h", "--grep", "scored 7", *dep.ws["args"], "--format", "short"
    )
    shown = [line for line in text.stdout.splitlines() if f" {target} " in line and line.endswith(seven)]
    assert text.exit_code == 0 and len(shown) == 1 and len(text.stdout.splitlines()) == 1, text.stdout
    events = cli("traces", target, "--events", "--since", "1h", *dep.ws["args"], "-o", "json")
    assert events.exit_code == 0, events.stderr
    assert "Started" in {e["properties"].get("name") for e in events.json()}, [
        (e["message"], e["properties"]) for e in events.json()
    ]
    # --source app-insights still reads App Insights (nothing there for this deployment): the control
    # that the default above was the endpoint log, not App Insights.
    app = cli("traces", target, "--source", "app-insights", "--since", "1h", *dep.ws["args"], "-o", "json")
    assert app.exit_code == 0 and not any(seven in r["message"] for r in app.json())
    # --severity with the endpoint log chosen automatically: refused as with --source endpoint-logs
    severity = cli("traces", target, "--severity", "error", "--since", "1h", *dep.ws["args"], "-o", "json")
    assert severity.exit_code == 2 and severity.stdout == "", severity.stdout
    assert "error: the endpoint log tables have no severity" in severity.stderr
    assert "hint:" in severity.stderr and "--source app-insights" in severity.stderr
    chosen = ["--source", "app-insights", "--severity", "error", "--since", "1h"]
    assert cli("traces", target, *chosen, *dep.ws["args"], "-o", "json").exit_code == 0

    eight, nine = "scored 8 row(s)", "scored 9 row(s)"
    # The backlog starts just after the seven line (a relative --since would reach back to it when the
    # commands above ran within that span): it must not be printed.
    after_seven = dt.datetime.fromisoformat(mine[0]["timestamp"]) + dt.timedelta(milliseconds=1)
    args = [
        "traces",
        target,
        "-f",
        "--since",
        after_seven.isoformat(),
        "--interval",
        "300ms",
        *dep.ws["args"],
        "--format",
        "jsonl",
    ]
    followed, stderr = _follow_late_rows(emulator, dep, args, 8, 9)
    lines = followed.lines
    counts = {m: sum(m in r["message"] for r in lines) for m in (seven, eight, nine)}
    assert counts == {seven: 0, eight: 3, nine: 1}, (counts, stderr)
    ids = [r["itemId"] for r in lines]
    assert len(ids) == len(set(ids)), "no line twice"
    assert {r["target"] for r in lines} == {target}


def test_traces_request_shows_one_request_across_the_traffic_log_app_insights_and_the_collector(
    cli: Any, emulator: Any, deployment: Deployment, azurite: Any
) -> None:
    """The front door's x-request-id finds the request's traffic-log row, the server's App Insights
    telemetry with that Request Id, and the collector records with that xrequestid; another request's
    rows are not shown (the control)."""
    from tests.helpers import http

    dep = deployment

    def scored(rows: int) -> str:
        status, headers, _ = http(
            emulator,
            "POST",
            dep.scoring_uri,
            raw=json.dumps({"data": [[1, 2, 3, 4]] * rows}).encode(),
            headers={"Content-Type": "application/json", "azureml-model-deployment": "blue"},
        )
        assert status == 200
        return str(headers["x-request-id"])

    mine, other = scored(2), scored(3)
    args = ["traces", "--request", mine, "--since", "1h", *dep.ws["args"]]
    store = ["--datastore-url", f"{azurite.blob_endpoint}/{dep.container}"]
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    deadline = time.time() + WAIT
    while True:
        result = cli(*args, f"{dep.endpoint}/blue", *store, "-o", "json", env=env)
        assert result.exit_code in (0, 3), result.stderr  # 3: in no source yet
        found = result.json() if result.exit_code == 0 else {"traffic-log": [], "collector": []}
        if (found["traffic-log"] and len(found["collector"]) >= 2) or time.time() > deadline:
            break
        time.sleep(0.5)
    print(json.dumps(found["app-insights"], indent=1)[:3000], result.stderr)
    (traffic,) = found["traffic-log"]
    assert traffic["record"]["XRequestId"] == mine and traffic["record"]["ResponseCode"] == 200
    kinds = sorted(e["kind"] for e in found["collector"])
    assert kinds == ["model_inputs", "model_outputs"], kinds
    assert all(e["record"]["xrequestid"] == mine for e in found["collector"])
    assert other not in json.dumps(found)
    assert "console lines (AmlOnlineEndpointConsoleLog, getLogs) carry no request id" in result.stderr
    text = cli(*args, *store, "-o", "table", env=env)
    assert text.exit_code == 0 and "traffic-log  traffic" in text.stdout and "collector" in text.stdout
    # Oldest first to the whole second (the collector's times have no fraction), then along the request's
    # path: the front door's row leads its second.
    seconds = [line.split(" ", 1)[0][:19] for line in text.stdout.splitlines()]
    assert seconds == sorted(seconds), "one timeline, oldest first"
    sources = [line.split()[1] for line in text.stdout.splitlines()]
    assert sources[0] == "traffic-log" and sources[-1] == "collector", sources
    without = cli(*args, "-o", "json")
    assert without.exit_code == 0 and without.json()["collector"] == []
    assert "collector records were not searched: give --datastore-url" in without.stderr
    empty = cli("traces", "--request", " ", *dep.ws["args"])
    assert empty.exit_code == 2 and "error: --request is empty" in empty.stderr and "hint:" in empty.stderr
