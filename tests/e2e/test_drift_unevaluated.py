"""`amlmon drift` as a CI gate when the service keeps failing or the cache cannot be used: exit 6 (not evaluated), as `check` — never
1, which says the model drifted. A new user saw `drift SVC --baseline … --current 1h` exit 1 with a bare
`InternalServerError` while the query API answered 500."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("clear_faults")


def test_a_persistent_5xx_while_pulling_a_window_is_exit_6_not_drift(
    cli: Any, emulator: Any, tmp_path: Path
) -> None:
    ws = emulator.create_workspace("driftdown", services=[{"name": "churn", "computeType": "ACI"}])
    emulator.seed(ws, ["churn"], hours=3, ratePerMinute=5, generation="1.5", seed=3)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def iso(hours_ago: float) -> str:
        return (now - dt.timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    args = [
        "drift", "churn", *ws["scope"], "--baseline", f"{iso(3)}..{iso(1.5)}", "--current", f"{iso(1.5)}..{iso(0)}",
        "--threshold", "out_of_bounds_rate=1", "--threshold", "normalized_wasserstein_distance=10", "-o", "json",
    ]  # fmt: skip
    env = {"AMLMON_CACHE_DIR": str(tmp_path / "cache"), "AMLMON_TIMEOUT": "20s"}
    status, _ = emulator.admin(
        "POST", "/_emulator/faults", {"kind": "status", "status": 500, "path": "/query", "count": None}
    )
    assert status in (200, 201)
    failed = cli(*args, env=env)
    assert failed.exit_code == 6, (failed.exit_code, failed.stderr)
    assert failed.stdout == ""
    lines = failed.stderr.splitlines()
    assert lines[0].startswith("error: the gate could not be evaluated: ") and "HTTP 500" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("hint: ") and "Traceback" not in failed.stderr
    # control: the service answering again, the same gate is evaluated (and holds)
    emulator.admin("DELETE", "/_emulator/faults")
    held = cli(*args, env=env)
    assert held.exit_code == 0, held.stderr
    assert {row["feature"] for row in held.json()} == {"0", "1", "2", "3"}


def test_a_cache_that_cannot_hold_files_is_a_usage_error_not_a_crash(
    cli: Any, emulator: Any, tmp_path: Path
) -> None:
    """AMLMON_CACHE_DIR naming a file once ended in 'unexpected FileExistsError', exit 1 (drift's 'breached')."""
    ws = emulator.create_workspace("driftcache", services=[{"name": "churn", "computeType": "ACI"}])
    emulator.seed(ws, ["churn"], hours=2, ratePerMinute=5, generation="1.5", seed=4)
    a_file = tmp_path / "cache"
    a_file.write_text("not a folder")
    args = ["drift", "churn", *ws["scope"], "--baseline", "2h..1h", "--current", "1h", "-o", "json"]
    for cache in (a_file, a_file / "sub"):
        result = cli(*args, env={"AMLMON_CACHE_DIR": str(cache)})
        assert result.exit_code == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"error: cannot keep pulled windows in the drift cache: {str(cache)!r} is not a folder",
            "hint: point AMLMON_CACHE_DIR at a folder you can write to (default ~/.cache/amlmon/drift)",
        ]
    assert a_file.read_text() == "not a folder"
    made = tmp_path / "new" / "cache"  # control: a folder that is not there yet is made
    ok = cli(*args, "--threshold", "out_of_bounds_rate=1", "--threshold", "normalized_wasserstein_distance=10",
             env={"AMLMON_CACHE_DIR": str(made)})  # fmt: skip
    assert ok.exit_code == 0, ok.stderr
    assert list(made.glob("*.parquet"))


@pytest.mark.parametrize("stopping", ["SIGINT", "SIGTERM"])
def test_drift_stopped_while_reading_is_130_and_says_interrupted(tmp_path: Path, stopping: str) -> None:
    """Stopped while a window's first request waits (a blob endpoint that never answers): Ctrl-C was a
    silent 130 and SIGTERM a silent 143 (no clean-up, as `data pull`/`traces -f` have); now both are 130
    with the one line `interrupted`."""
    import signal

    from tests.conftest import spawn_amlmon
    from tests.helpers import silent_blob_endpoint, stop_once_asked

    with silent_blob_endpoint() as (connection_string, accepted):
        port = connection_string.split("BlobEndpoint=http://127.0.0.1:")[1].split("/")[0]
        url = (
            f"http://127.0.0.1:{port}/devstoreaccount1/azureml-blobstore-00000000-0000-0000-0000-0000000000d1"
        )
        process = spawn_amlmon(
            ["drift", "ep/blue", "--baseline", "3h..2h", "--current", "1h", "--datastore-url", url],
            {
                "AZURE_STORAGE_CONNECTION_STRING": connection_string,
                "AMLMON_CACHE_DIR": str(tmp_path / "cache"),
            },
        )
        control = "the control: drift asks the endpoint for its baseline window"
        stdout, stderr = stop_once_asked(process, accepted, getattr(signal, stopping), control)
    assert process.returncode == 130, stderr
    assert stderr.splitlines() == ["interrupted"] and stdout == "", stderr
