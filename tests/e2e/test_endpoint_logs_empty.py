"""An empty window of the endpoint log tables says why, whichever command reads it: `traces EP/DEP`
(console lines chosen because the endpoint's setting sends them), `traces --events`, `logs`, and a
follow whose first poll finds nothing (once, then it keeps following). stdout and the exit code stay."""

from __future__ import annotations

import datetime as dt
import queue
import signal
import threading
import time
import uuid
from typing import Any

from tests.helpers import make_workspace

WHY = "check that the endpoint's diagnostic setting sends"
HOUR = "the first ones up to an hour after the setting is created"


def _workspace(cli: Any, emulator: Any) -> tuple[dict[str, Any], str]:
    endpoint = f"e{uuid.uuid4().hex[:8]}"
    ws = make_workspace(emulator, deployments=[{"endpoint": endpoint, "name": "blue"}])
    enabled = cli("diagnostics", "enable", endpoint, "--endpoint-logs", *ws["args"], "-o", "json")
    assert enabled.exit_code == 0, enabled.stderr
    return ws, endpoint


def _insert(emulator: Any, ws: dict[str, Any], endpoint: str, message: str) -> None:
    resource_id = f"{ws['id']}/onlineEndpoints/{endpoint}".upper()
    status, answer = emulator.admin(
        "POST",
        "/_emulator/endpoint-logs/rows",
        {
            "table": "AmlOnlineEndpointConsoleLog",
            "rows": [
                {
                    "TimeGenerated": dt.datetime.now(dt.UTC).isoformat(),
                    "InstanceId": "blue-test-0",
                    "DeploymentName": "blue",
                    "ContainerName": "inference-server",
                    "ContainerImageName": "test/image:1",
                    "Message": message,
                    "_ResourceId": resource_id,
                }
            ],
        },
    )
    assert status == 200, answer


def test_an_empty_endpoint_log_window_of_traces_says_why(cli: Any, emulator: Any) -> None:
    ws, endpoint = _workspace(cli, emulator)
    target = f"{endpoint}/blue"
    for args, what in (
        ([target], "console lines (AmlOnlineEndpointConsoleLog)"),
        ([endpoint, "--events"], "container events (AmlOnlineEndpointEventLog)"),
    ):
        result = cli("traces", *args, "--since", "1h", *ws["args"], "-o", "json")
        assert result.exit_code == 0 and result.json() == [], result.stderr
        name = args[0]
        assert f"warning: no {what} of {name} between " in result.stderr, result.stderr
        assert WHY in result.stderr and HOUR in result.stderr
        assert result.stderr.count("warning:") == 1
        # `logs` says the same (one text for both commands)
        logs = cli("logs", *args, "--source", "endpoint-logs", "--since", "1h", *ws["args"], "-o", "json")
        assert logs.exit_code == 0 and logs.json() == [], logs.stderr
        assert f"warning: no {what} of {name} between " in logs.stderr and HOUR in logs.stderr
    # Positive control: a window with a row prints it and explains nothing.
    _insert(emulator, ws, endpoint, "scored 1 row(s)")
    found = cli("traces", target, "--since", "1h", *ws["args"], "-o", "json")
    assert found.exit_code == 0 and [r["message"] for r in found.json()] == ["scored 1 row(s)"]
    assert "warning:" not in found.stderr, found.stderr


def _follow(emulator: Any, ws: dict[str, Any], *args: str) -> Any:
    from tests.conftest import spawn_amlmon

    return spawn_amlmon([*args, "--interval", "200ms", *ws["args"]], emulator.env())


class _Lines:
    """A child's stream read by a thread: `until` waits (bounded) for a line holding `text`."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=lambda: [self.lines.put(line) for line in stream], daemon=True)
        self.reader.start()

    def until(self, text: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within 30 s: {self.seen}")

    def rest(self) -> str:
        """Every line, once the child has ended (its pipe closed: the reader is done)."""
        self.reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


def _ctrl_c(process: Any) -> None:
    """The user's Ctrl-C; the readers keep every line the child prints (no communicate() racing them)."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_follow_whose_first_poll_finds_nothing_says_why_once_and_keeps_following(
    cli: Any, emulator: Any
) -> None:
    for command, extra in (("traces", ["--format", "raw"]), ("logs", [])):
        ws, endpoint = _workspace(cli, emulator)  # one each: the other's row is not in this backlog
        target = f"{endpoint}/blue"
        process = _follow(emulator, ws, command, target, "-f", *extra)
        stdout, stderr = _Lines(process.stdout), _Lines(process.stderr)
        try:
            stderr.until(WHY)  # the first poll found nothing and said why
            _insert(emulator, ws, endpoint, f"after {command}")
            stdout.until(f"after {command}")  # a later poll printed it: the follow went on
        finally:
            _ctrl_c(process)
        said = stderr.rest()
        assert process.returncode == 130, said
        assert said.count(f"warning: no console lines (AmlOnlineEndpointConsoleLog) of {target} since ") == 1
        assert said.count(WHY) == 1 and HOUR in said, said
    # Positive control: a follow whose first poll finds a row (the one inserted above) says nothing of it.
    process = _follow(emulator, ws, "traces", target, "-f", "--since", "1h", "--format", "raw")
    stdout, stderr = _Lines(process.stdout), _Lines(process.stderr)
    try:
        stdout.until("after logs")
    finally:
        _ctrl_c(process)
    assert process.returncode == 130 and WHY not in stderr.rest(), stderr.rest()


def test_stats_on_an_empty_traffic_log_says_why(cli: Any, emulator: Any) -> None:
    ws, endpoint = _workspace(cli, emulator)
    target = f"{endpoint}/blue"
    result = cli("stats", target, "--endpoint-logs", "--since", "1h", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["targets"][0]["requests"]["count"] == 0
    assert f"no requests (AmlOnlineEndpointTrafficLog) of {target}" in result.stderr and WHY in result.stderr
    resource_id = f"{ws['id']}/onlineEndpoints/{endpoint}".upper()
    row = {
        "TimeGenerated": dt.datetime.now(dt.UTC).isoformat(),
        "DeploymentName": "blue",
        "EndpointName": endpoint,
    }
    row |= {"ResponseCode": 200, "ModelStatusCode": 200, "TotalDurationMs": 12, "_ResourceId": resource_id}
    status, answer = emulator.admin(
        "POST", "/_emulator/endpoint-logs/rows", {"table": "AmlOnlineEndpointTrafficLog", "rows": [row]}
    )
    assert status == 200, answer
    control = cli("stats", target, "--endpoint-logs", "--since", "1h", *ws["args"], "-o", "json")
    assert control.json()["targets"][0]["requests"]["count"] == 1 and WHY not in control.stderr


def test_a_filter_that_matches_no_line_is_named_not_blamed_on_the_setting(cli: Any, emulator: Any) -> None:
    """The window has console lines, --message/--grep keep none of them: stderr names the filter (the
    setting is fine: nothing to check there), and the same run without the filter prints the line."""
    ws, endpoint = _workspace(cli, emulator)
    target = f"{endpoint}/blue"
    _insert(emulator, ws, endpoint, "scored 1 row(s)")
    for flag, value in (("--message", "nosuchtext"), ("--grep", "^nosuch")):
        result = cli("traces", target, flag, value, "--since", "1h", *ws["args"], "-o", "json")
        assert result.exit_code == 0 and result.json() == [], result.stderr
        assert WHY not in result.stderr, result.stderr
        assert (
            f"warning: no console lines (AmlOnlineEndpointConsoleLog) of {target} between " in result.stderr
        )
        assert f"matched {flag} '{value}'" in result.stderr and result.stderr.count("warning:") == 1
    # Positive control: the line is there, and a filter that keeps it prints it without a warning.
    found = cli("traces", target, "--message", "scored", "--since", "1h", *ws["args"], "-o", "json")
    assert [r["message"] for r in found.json()] == ["scored 1 row(s)"] and "warning:" not in found.stderr
