"""`make demo` leaves nothing behind: its temporary directory (the emulator's CA and private key,
telemetry, the pulled dataset) is removed after a full run and after an interrupted one."""

from __future__ import annotations

import signal
import time
from pathlib import Path

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
