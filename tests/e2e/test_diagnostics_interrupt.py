"""A second Ctrl-C while `diagnostics enable|disable` waits for its workers to stop: the user is told, in
one line, which target's change may be half-applied and how to check it — never a silent 130."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from tests.conftest import spawn_amlmon
from tests.helpers import interrupt, make_workspace


def _hits(emulator: Any, rule_id: int) -> int:
    _, rules = emulator.admin("GET", "/_emulator/faults")
    return sum(rule["hits"] for rule in rules["value"] if rule["id"] == rule_id)


def _held(emulator: Any, process: Any, rule_id: int) -> None:
    """Until the deployment's PUT is held by the slow fault (the worker is mid-write)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _hits(emulator, rule_id):
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    assert _hits(emulator, rule_id), "the PUT never reached the emulator"


@pytest.mark.usefixtures("clear_faults")
@pytest.mark.parametrize("presses", [1, 2])
def test_a_second_ctrl_c_while_workers_stop_names_what_may_be_half_applied(
    emulator: Any, presses: int
) -> None:
    ws = make_workspace(emulator, deployments=[{"endpoint": "slow-ep", "name": "blue"}])
    rule = {"kind": "slow", "delay": 8, "method": "PUT", "path": "/onlineEndpoints/slow-ep/deployments/blue$"}
    status, fault = emulator.admin("POST", "/_emulator/faults", rule)
    assert status == 201, fault
    process = spawn_amlmon(
        ["diagnostics", "enable", "slow-ep/blue", *ws["args"], "-o", "json"], emulator.env()
    )
    try:
        _held(emulator, process, fault["id"])
        if presses == 2:
            process.send_signal(signal.SIGINT)
            time.sleep(0.5)  # the first Ctrl-C is handled: the run waits for the worker's PUT
            assert process.poll() is None
    except BaseException:
        process.kill()
        process.wait()
        raise
    _, stderr = interrupt(process, timeout=30)  # the (last) Ctrl-C, then all it printed
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    if presses == 1:  # the control: one Ctrl-C waits for the write and reports per target, as before
        assert any(line.startswith("note: slow-ep/blue: submitted") for line in lines), stderr
        assert "may be half-applied" not in stderr
        return
    half = [line for line in lines if "may be half-applied" in line]
    assert half == [
        "error: interrupted again while stopping: slow-ep/blue's change (the deployment's appInsightsEnabled "
        "and dataCollector) may be half-applied; check it with `amlmon diagnostics status slow-ep/blue`"
    ], stderr
    assert "note: slow-ep/blue" not in stderr, "the per-target report needs the workers stopped"
