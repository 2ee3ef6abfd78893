"""A command's requests stop when it ends: a request it left retrying on a thread (the next slice's
prefetch of a pull that failed, a workspace read ahead) sends nothing after the context is closed.

Found through `data pull --resume` (tests/e2e/test_data.py): the failed run's prefetch sent its last
retry once the outage was over, inside the resumed run's window. In the CLI the process ends with the
command; in-process callers (tests, benchmarks) outlive it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from amlmon.background import Background
from amlmon.context import AppContext, GlobalOptions
from tests.conftest import Emulator

API = "2024-04-01"


def _workspace_path(ws: dict[str, Any]) -> str:
    return (
        f"/subscriptions/{ws['subscription']}/resourceGroups/{ws['resourceGroup']}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{ws['name']}"
    )


def _wait_for(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _left_retrying(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> tuple[AppContext, Any, str, int]:
    """A context whose GET of a workspace is failing (HTTP 500) and retrying on a thread."""
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    ws = emulator.create_workspace("ended")
    path = _workspace_path(ws)
    ctx = AppContext(GlobalOptions(cloud="local"))
    seq = emulator.last_seq()
    fault = {"kind": "status", "status": 500, "path": f"{ws['name']}$", "count": None}  # until cleared
    emulator.admin("POST", "/_emulator/faults", fault)
    read = Background(lambda: ctx.arm.request("GET", path, API))

    def failed_twice() -> bool:
        return _requests_to(emulator, path, seq).count(500) >= 2

    _wait_for(failed_twice)  # azure-core retries once at once, then waits (1.6 s) before the next try
    return ctx, read, path, seq


def _requests_to(emulator: Emulator, path: str, since: int) -> list[int]:
    return [r["status"] for r in emulator.requests_since(since) if r["path"] == path]


def test_a_request_left_retrying_sends_nothing_after_its_command_ended(
    clear_faults: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from amlmon.azure.retry import CommandEnded

    ctx, read, path, _ = _left_retrying(clear_faults, monkeypatch)
    ctx.close()  # the command ends (the CLI's run() closes its context on every path)
    ended = clear_faults.last_seq()
    clear_faults.admin("DELETE", "/_emulator/faults")  # the outage is over
    with pytest.raises(CommandEnded):
        read.result()
    assert _requests_to(clear_faults, path, ended) == []


def test_a_request_of_a_running_command_retries_past_the_outage(
    clear_faults: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Positive control: the same request, its command still running, is retried and answered."""
    ctx, read, path, seq = _left_retrying(clear_faults, monkeypatch)
    try:
        clear_faults.admin("DELETE", "/_emulator/faults")
        assert read.result().status_code == 200
        assert _requests_to(clear_faults, path, seq)[-1] == 200
    finally:
        ctx.close()
