"""Rows already ingested stay queryable: removing an endpoint's diagnostic setting stops only new rows
(Azure keeps a workspace's rows until retention). The traffic-log rows come from the emulator's front
door, as a client's requests make them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.helpers import http, make_workspace

WAIT = 30.0


def _score(emulator: Any, scoring_uri: str, client_id: str) -> None:
    status, _, _ = http(
        emulator,
        "POST",
        scoring_uri,
        raw=json.dumps({"data": [[1, 2, 3, 4]]}).encode(),
        headers={"Content-Type": "application/json", "x-ms-client-request-id": client_id},
    )
    assert status == 200


def _counts(cli: Any, ws: dict[str, Any], run: str) -> dict[str, int]:
    kql = (
        f"AmlOnlineEndpointTrafficLog | where XMSClientRequestId startswith '{run}' "
        "| summarize n = count() by client = XMSClientRequestId"
    )
    result = cli("query", kql, "--log-analytics", "--since", "3h", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    return {row["client"][len(run) + 1 :]: int(row["n"]) for row in result.json()}


def _until(cli: Any, ws: dict[str, Any], run: str, key: str) -> dict[str, int]:
    deadline = time.time() + WAIT
    while True:
        counts = _counts(cli, ws, run)
        if key in counts or time.time() > deadline:
            return counts
        time.sleep(0.3)


def test_rows_ingested_before_the_setting_is_removed_stay_and_later_ones_are_not_added(
    cli: Any, emulator: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    ws = make_workspace(
        emulator,
        deployments=[{"endpoint": f"a{run}", "name": "blue"}, {"endpoint": f"w{run}", "name": "blue"}],
    )
    scoring = {
        name: f"{emulator.endpoint}/api/v1/endpoint/{name}{run}/score" for name in ("a", "w")
    }  # the witness endpoint keeps its setting: the positive control that rows still arrive
    for name in ("a", "w"):
        on = cli("diagnostics", "enable", f"{name}{run}", "--endpoint-logs", *ws["args"], "-o", "json")
        assert on.exit_code == 0, on.stderr

    _score(emulator, scoring["a"], f"{run}-before")
    _score(emulator, scoring["a"], f"{run}-before")
    assert _until(cli, ws, run, "before") == {"before": 2}

    off = cli("diagnostics", "disable", f"a{run}", "--endpoint-logs", "--no-app-insights", *ws["args"])
    assert off.exit_code == 0, off.stderr
    _score(emulator, scoring["a"], f"{run}-after")
    _score(emulator, scoring["w"], f"{run}-witness")
    counts = _until(cli, ws, run, "witness")
    assert counts == {"before": 2, "witness": 1}, counts  # kept; nothing added while the setting is gone

    on = cli("diagnostics", "enable", f"a{run}", "--endpoint-logs", *ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    _score(emulator, scoring["a"], f"{run}-again")
    counts = _until(cli, ws, run, "again")
    assert counts == {"before": 2, "witness": 1, "again": 1}, counts
