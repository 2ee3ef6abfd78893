"""`make demo` leaves nothing behind: its temporary directory (the emulator's CA and private key,
telemetry, the pulled dataset) is removed after a full run and after an interrupted one.
It also reads its v2 deployment back with every v2 verb, on the traffic it sent."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DemoRun
from tests.helpers import demo_process


def test_an_interrupted_demo_stops_the_emulator_and_removes_its_directory(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = demo_process(tmp)
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in process.stdout:  # wait until the emulator runs and its directory is full
        seen.append(line)
        if line.startswith("created workspace") or time.monotonic() > deadline:
            break
    assert any(line.startswith("created workspace") for line in seen), "".join(seen)
    assert any(p.name.startswith("amlmon-demo-") for p in tmp.iterdir()), "positive control: it was there"
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "removed " in rest, "".join(seen) + rest
    assert list(tmp.iterdir()) == [], "nothing left in the temporary folder"


@pytest.mark.slow
def test_a_full_demo_leaves_nothing_in_the_temporary_folder(demo_run: DemoRun) -> None:
    assert demo_run.exit_code == 0, demo_run.output[-3000:]
    assert "wrote " in demo_run.output and ".parquet" in demo_run.output, (
        "positive control: the demo wrote its dataset there"
    )
    assert demo_run.left_in_tmp == [], "nothing left in the temporary folder"


def _run_of(demo_run: DemoRun, *start: str) -> dict[str, Any]:
    """The demo's one run of the amlmon command whose arguments start with `start`."""
    found = [entry for entry in demo_run.transcript if tuple(entry["args"][: len(start)]) == start]
    assert len(found) == 1, f"the demo runs `amlmon {' '.join(start)}` once: {len(found)} runs"
    return found[0]


@pytest.mark.slow
def test_the_demo_reads_the_v2_deployment_back_with_every_v2_verb(demo_run: DemoRun) -> None:
    """Issue 16's verbs on credit-ep/blue, each on the 8 requests the demo sent (the fourth fails on
        purpose): console lines, events, traffic-log and metrics health, the v2-only gate, getLogs, the
        collector's blobs as a dataset (7 answered requests, inputs joined to outputs) and one request (with
    its App Insights request: the demo's deployment has appInsightsEnabled)."""
    assert demo_run.exit_code == 0, demo_run.output[-3000:]
    traces = _run_of(demo_run, "traces", "credit-ep/blue", "--since", "1h", "--limit", "2")
    assert traces["exit"] == 0 and traces["stdout"].count("credit-ep/blue") == 2
    # With App Insights on, the server also prints gunicorn's raw access line: the newest two are those.
    assert '"POST /score HTTP/1.1" 200' in traces["stdout"], (
        "the server's console lines, from the endpoint logs"
    )
    events = _run_of(demo_run, "traces", "credit-ep", "--events")
    assert "credit-ep/blue Started container inference-server" in events["stdout"]
    traffic = _run_of(demo_run, "stats", "credit-ep", "--endpoint-logs")
    assert re.search(r"credit-ep/blue\s+8\s+1\s+12\.50%", traffic["stdout"]), traffic["stdout"]
    assert "200:7 500:1" in traffic["stdout"]
    metrics = _run_of(demo_run, "stats", "credit-ep", "--metrics")
    assert re.search(r"credit-ep/blue\s+8\s+\S+\s+1 \(12\.50%\)", metrics["stdout"]), metrics["stdout"]
    gate = _run_of(demo_run, "check", "credit-ep/blue")
    assert "--max-cpu" in gate["args"] and gate["exit"] == 1
    assert "PASS credit-ep/blue: peak CPU" in gate["stdout"]
    assert "FAIL credit-ep/blue: failure rate 12.50% > 10%" in gate["stdout"]
    tail = _run_of(demo_run, "logs", "credit-ep/blue", "--tail", "4")
    assert "(getLogs)" in tail["stderr"] and len(tail["stdout"].splitlines()) == 4
    pulled = _run_of(demo_run, "data", "pull", "credit-ep/blue")
    assert pulled["exit"] == 0 and "$CONTAINER_URL" in pulled["args"]
    summary = json.loads(pulled["stdout"])
    assert (summary["rows"], summary["records"], summary["withoutOutput"]) == (7, 14, 0)
    request = _run_of(demo_run, "traces", "--request")
    kinds = [line.split()[1:3] for line in request["stdout"].splitlines()]
    # The request's path: front door, its server (appInsightsEnabled: it sends the request), the collector
    # (whose whole-second times sort after the others of their second).
    assert kinds == [
        ["traffic-log", "traffic"],
        ["app-insights", "request"],
        ["collector", "model_inputs"],
        ["collector", "model_outputs"],
    ]
    assert "AccountKey" not in demo_run.output, "the storage connection string is never printed"
