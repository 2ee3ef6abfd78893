"""`make demo` leaves nothing behind: its temporary directory (the emulator's CA and private key,
telemetry, the pulled dataset) is removed after a full run and after an interrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT


def _demo(tmp: Path) -> subprocess.Popen[str]:
    """The demo as `make demo` runs it, with its temporary files under `tmp` (TMPDIR), for its children too."""
    env = {**os.environ, "TMPDIR": str(tmp), "NO_COLOR": "1"}
    for name in [k for k in env if k.startswith("AMLMON_")]:
        del env[name]
    return subprocess.Popen(
        [sys.executable, "-m", "amlmon.emulator.demo"],
        env=env,
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_an_interrupted_demo_stops_the_emulator_and_removes_its_directory(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = _demo(tmp)
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


def test_a_full_demo_leaves_nothing_in_the_temporary_folder(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = _demo(tmp)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    assert "wrote " in output and ".parquet" in output, "positive control: the demo wrote its dataset there"
    assert list(tmp.iterdir()) == [], "nothing left in the temporary folder"
