"""A gate's verdict survives the reader of stdout leaving early: `amlmon drift … | head` (or `check`,
`doctor`) under `set -o pipefail` once exited 0 for a breached threshold whenever the output outgrew the
pipe's buffer before `head` left — a pass that should have been a fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import spawn_amlmon

FEATURES = 150  # about 1 KB of table per feature: far more than a pipe's 64 KB buffer


def _parquet(path: Path, seed: int, shift: float) -> Path:
    rng = np.random.default_rng(seed)
    columns = {f"f{i:03d}": rng.integers(0, 100, 300).astype(float) + shift for i in range(FEATURES)}
    pq.write_table(pa.table(columns), path)
    return path


def _first_line_then_leave(args: list[str]) -> tuple[int, str]:
    """Run amlmon, read one line of its stdout and close the pipe, as `| head -1` does."""
    process = spawn_amlmon(args, {"NO_COLOR": "1"})
    assert process.stdout is not None and process.stderr is not None
    try:
        assert process.stdout.readline()
        process.stdout.close()
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, process.stderr.read()


@pytest.mark.parametrize("output", ["table", "jsonl"])
def test_a_breached_drift_gate_piped_to_head_still_exits_1(tmp_path: Path, output: str) -> None:
    baseline = _parquet(tmp_path / "train.parquet", 1, 0.0)
    shifted = _parquet(tmp_path / "shifted.parquet", 2, 40.0)
    same = _parquet(tmp_path / "same.parquet", 1, 0.0)
    code, stderr = _first_line_then_leave(
        ["drift", "--baseline", str(baseline), "--current", str(shifted), "-o", output]
    )
    assert code == 1 and stderr == "", stderr
    # control: a gate that holds, cut short the same way, still ends quietly with 0
    code, stderr = _first_line_then_leave(
        ["drift", "--baseline", str(baseline), "--current", str(same), "-o", output]
    )
    assert code == 0 and stderr == "", stderr
