"""An empty window of the endpoint log tables says why, whichever command reads it: `traces EP/DEP`
(console lines chosen because the endpoint's setting sends them), `traces --events`, `logs`, and a
follow whose first poll finds nothing (once, then it keeps following). stdout and the exit code stay."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from tests.helpers import interrupt, make_workspace

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


def _stdout_line(process: Any, deadline: float) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()  # the follow prints the row once it is ingested
    assert time.time() < deadline and line, process.poll()
    return str(line)


def test_a_follow_whose_first_poll_finds_nothing_says_why_once_and_keeps_following(
    cli: Any, emulator: Any
) -> None:
    for command, extra in (("traces", ["--format", "raw"]), ("logs", [])):
        ws, endpoint = _workspace(cli, emulator)  # one each: the other's row is not in this backlog
        target = f"{endpoint}/blue"
        args = [command, target, "-f", *extra]
        process = _follow(emulator, ws, *args)
        try:
            time.sleep(1.5)  # several polls (200 ms apart) have run, all empty
            assert process.poll() is None
            _insert(emulator, ws, endpoint, f"after {args[0]}")
            line = _stdout_line(process, time.time() + 30)
            assert f"after {args[0]}" in line, line
        finally:
            _, stderr = interrupt(process, timeout=30)
        assert process.returncode == 130, stderr
        assert (
            stderr.count(f"warning: no console lines (AmlOnlineEndpointConsoleLog) of {target} since ") == 1
        )
        assert stderr.count(WHY) == 1 and HOUR in stderr, stderr
    # Positive control: a follow whose first poll finds a row (the one inserted above) says nothing of it.
    process = _follow(emulator, ws, "traces", target, "-f", "--since", "1h", "--format", "raw")
    try:
        assert "after logs" in _stdout_line(process, time.time() + 30)
    finally:
        _, stderr = interrupt(process, timeout=30)
    assert process.returncode == 130 and WHY not in stderr, stderr
