"""Stopping the emulator: SIGTERM/SIGINT end it promptly and cleanly even while it writes a large seed."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, Emulator, spawn_amlmon

PROMPT_SECONDS = 5.0  # how soon after the signal the emulator must be gone
SEED_REQUESTS = 1_500_000  # one service x 25 h x 1000/min: minutes of work for the seed


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


def _wait_until_seeding(pid: int, baseline_mb: float) -> None:
    """A seed builds its rows in memory first: the emulator's resident memory grows while it works."""
    deadline = time.monotonic() + 120
    while _resident_mb(pid) < baseline_mb + 150:
        assert time.monotonic() < deadline, "the seed never started"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_large_seed_promptly_and_cleanly(tmp_path: Path, signum: int) -> None:
    data = tmp_path / "emu"
    process = spawn_amlmon(["emulator", "start", "--data", str(data)], {"PYTHONPATH": str(REPO_ROOT)})
    try:
        emulator = _started(process, data)
        ws = emulator.create_workspace("signal", services=[{"name": "svc", "computeType": "ACI"}])
        baseline = _resident_mb(process.pid)
        answers: list[tuple[int, Any]] = []
        body = {
            "subscription": ws["subscription"],
            "resourceGroup": ws["resourceGroup"],
            "workspace": ws["name"],
            "services": ["svc"],
            "hours": SEED_REQUESTS / 60 / 1000,
            "ratePerMinute": 1000,
        }
        seeding = threading.Thread(
            target=lambda: answers.append(
                emulator.admin("POST", "/_emulator/telemetry/seed", body, timeout=900)
            ),
            daemon=True,
        )
        seeding.start()
        _wait_until_seeding(process.pid, baseline)
        # positive control: left alone, the seed is still being written PROMPT_SECONDS later
        seeding.join(PROMPT_SECONDS)
        assert seeding.is_alive() and process.poll() is None
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
    # the seed was cut short and says so (not a dropped connection, not a finished seed)
    assert len(answers) == 1 and answers[0][0] == 503, answers
    assert "shutting down" in answers[0][1]["error"]["message"]
    left = sorted(p.name for p in data.iterdir())
    assert "state.json" not in left
    assert not [name for name in left if name.endswith((".tmp", ".wal"))], left
