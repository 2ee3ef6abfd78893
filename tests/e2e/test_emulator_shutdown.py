"""Stopping the emulator: SIGTERM/SIGINT end it promptly and cleanly even while it writes a large seed."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, Emulator, spawn_amlmon

PROMPT_SECONDS = 5.0  # how soon after the signal the emulator must be gone


def _started(process: subprocess.Popen[str], data: Path) -> Emulator:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        state_file = data / "state.json"
        if state_file.exists():
            state = json.loads(state_file.read_text())
            if state.get("pid") == process.pid:
                return Emulator.from_state(data, state)
        time.sleep(0.05)
    raise AssertionError("the emulator did not start")


def _resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def _seed_in_background(
    emulator: Emulator, ws: dict[str, Any], requests: int
) -> tuple[threading.Thread, list[Any]]:
    answers: list[tuple[int, Any]] = []
    body = {
        "subscription": ws["subscription"],
        "resourceGroup": ws["resourceGroup"],
        "workspace": ws["name"],
        "services": ["svc"],
        "hours": requests / 60 / 1000,
        "ratePerMinute": 1000,
    }
    seeding = threading.Thread(
        target=lambda: answers.append(emulator.admin("POST", "/_emulator/telemetry/seed", body, timeout=900)),
        daemon=True,
    )
    seeding.start()
    return seeding, answers


def _stored_requests(data: Path) -> int:
    import duckdb

    if not (data / "telemetry.duckdb").exists():
        return 0
    with duckdb.connect(str(data / "telemetry.duckdb"), read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM store.AppRequests").fetchall()[0][0])


@pytest.mark.parametrize(
    ("signum", "phase", "requests"),
    [
        (signal.SIGTERM, "building", 1_500_000),
        (signal.SIGINT, "building", 1_500_000),
        (signal.SIGTERM, "storing", 300_000),
    ],
    ids=["SIGTERM-building", "SIGINT-building", "SIGTERM-storing"],
)
def test_a_signal_stops_a_large_seed_promptly_and_cleanly(
    tmp_path: Path, signum: int, phase: str, requests: int
) -> None:
    """A seed builds its rows in memory (the emulator's resident memory grows), then opens the store
    (telemetry.duckdb appears in a fresh data directory) and inserts them; a signal in either phase."""
    data = tmp_path / "emu"
    process = spawn_amlmon(["emulator", "start", "--data", str(data)], {"PYTHONPATH": str(REPO_ROOT)})
    try:
        emulator = _started(process, data)
        ws = emulator.create_workspace("signal", services=[{"name": "svc", "computeType": "ACI"}])
        baseline = _resident_mb(process.pid)
        seeding, answers = _seed_in_background(emulator, ws, requests)
        if phase == "building":
            _wait_for(lambda: _resident_mb(process.pid) > baseline + 150, "the seed's start")
            # positive control: left alone, the seed is still being written PROMPT_SECONDS later
            seeding.join(PROMPT_SECONDS)
            assert seeding.is_alive() and process.poll() is None
        else:
            _wait_for((data / "telemetry.duckdb").exists, "the seed's storing")
        signalled = time.monotonic()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert took < PROMPT_SECONDS, f"the emulator took {took:.1f}s to stop"
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    seeding.join(10)
    # the seed was cut short and says so (not a dropped connection, not a finished seed); the table it was
    # inserting (AppRequests, the first) was rolled back
    assert len(answers) == 1 and answers[0][0] == 503, answers
    assert "shutting down" in answers[0][1]["error"]["message"]
    assert _stored_requests(data) == 0
    left = sorted(p.name for p in data.iterdir())
    assert "state.json" not in left
    assert not [name for name in left if name.endswith((".tmp", ".wal"))], left
