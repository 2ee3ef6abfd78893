"""`amlmon doctor` on a v2 deployment backed by the real inference server and the real azureml-ai-monitoring
Collector (tests/online.py): the endpoint's diagnostic setting and its log rows, the collector's failure
lines and the server's App Insights line in the console log, DataCollectionErrorsPerMinute by reason.

Every console line doctor matches is one the real packages printed through the emulator's front door."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.online import WAIT, Deployment, send_blue

pytestmark = [pytest.mark.inference, pytest.mark.azurite]

GOOD = {"data": [[1, 2, 3, 4]]}
Rows = dict[tuple[str, str], dict[str, Any]]


def _doctor(cli: Any, dep: Deployment) -> tuple[int, Rows, float]:
    started = time.monotonic()
    result = cli("doctor", f"{dep.endpoint}/blue", *dep.ws["args"], "-o", "json")
    elapsed = time.monotonic() - started
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, {(r["check"], r["target"]): r for r in result.json()}, elapsed


def _until(cli: Any, dep: Deployment, done: Callable[[Rows], bool]) -> tuple[int, Rows, float]:
    deadline = time.time() + WAIT
    while True:
        code, rows, elapsed = _doctor(cli, dep)
        if done(rows) or time.time() > deadline:
            return code, rows, elapsed
        time.sleep(0.5)


def test_doctor_follows_a_v2_deployment_from_no_logs_to_collector_failures_and_back(
    cli: Any, emulator: Any, azurite: Any, deployment: Deployment
) -> None:
    dep = deployment
    target = f"{dep.endpoint}/blue"

    def status(rows: Rows, check: str) -> str:
        return str(rows[(check, target)]["status"])

    # 1. No diagnostic setting on the endpoint: the endpoint log checks say so and query nothing.
    _, rows, _ = _doctor(cli, dep)
    row = rows[("v2.endpoint-logs", target)]
    assert (
        row["status"] == "warn" and row["fix"] == f"amlmon diagnostics enable {dep.endpoint} --endpoint-logs"
    )
    assert status(rows, "v2.endpoint-log-rows") == "skip"
    assert status(rows, "v2.console-collector") == "skip"

    # 2. The setting exists, nothing has run yet: no rows — a warning (Azure may take an hour).
    on = cli("diagnostics", "enable", dep.endpoint, "--endpoint-logs", *dep.ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    _, rows, _ = _doctor(cli, dep)
    row = rows[("v2.endpoint-logs", target)]
    assert row["status"] == "ok", row
    for table in ("AmlOnlineEndpointConsoleLog", "AmlOnlineEndpointTrafficLog", "AmlOnlineEndpointEventLog"):
        assert table in row["evidence"]
    row = rows[("v2.endpoint-log-rows", target)]
    assert row["status"] == "warn" and "up to an hour" in row["evidence"], row

    # 3. Traffic without a dataCollector: score.py's Collector logs "data collector is not enabled" and
    # drops every record.
    assert send_blue(emulator, dep, [GOOD]) == {"200": 1}
    since = emulator.last_seq()
    code, rows, elapsed = _until(
        cli,
        dep,
        lambda r: (
            r[("v2.console-collector", target)]["status"] == "fail"
            and r[("v2.endpoint-log-rows", target)]["status"] == "ok"
        ),
    )
    assert code == 1
    row = rows[("v2.console-collector", target)]
    assert row["status"] == "fail" and "is not enabled" in row["evidence"], row
    assert row["fix"].startswith(f"amlmon diagnostics enable {target} --model-data")
    # `enable --endpoint-logs` turned appInsightsEnabled on too: the server started with App Insights on.
    row = rows[("v2.console-app-insights", target)]
    assert row["status"] == "ok", row
    row = rows[("v2.endpoint-log-rows", target)]
    assert "AmlOnlineEndpointTrafficLog: 1 row, newest ingested" in row["evidence"], row
    assert status(rows, "v2.collection-errors") == "ok"
    assert elapsed < 10, elapsed
    writes = [
        (r["method"], r["path"])
        for r in emulator.requests_since(since)
        if r["method"] != "GET"
        and not (r["method"] == "POST" and r["path"].endswith("/query"))
        and "/oauth2/" not in r["path"]
        # the deployment's own server (App Insights on) sends its telemetry meanwhile; amlmon never ingests
        and r["path"] not in ("/v2/track", "/v2.1/track")
    ]
    assert writes == [], "doctor only reads"

    # 4. Model data on: the server restarts with the collections enabled; no failure line since then.
    on = cli("diagnostics", "enable", dep.endpoint, "--model-data", *dep.ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    assert send_blue(emulator, dep, [GOOD]) == {"200": 1}
    _, rows, _ = _until(cli, dep, lambda r: r[("v2.console-collector", target)]["status"] == "ok")
    row = rows[("v2.console-collector", target)]
    assert row["status"] == "ok" and "since the server's last start" in row["evidence"], row
    assert status(rows, "v2.console-app-insights") == "ok"  # restarted with appInsightsEnabled still on
    for collection in ("model_inputs", "model_outputs"):
        row = rows[(f"v2.collection.{collection}", target)]
        assert row["status"] == "ok" and "data asset exists" in row["evidence"], row

    # 5. The collector's storage refuses writes: DataCollectionErrorsPerMinute with its reason.
    wrong_key = base64.b64encode(b"not the account key").decode()
    refused = azurite.connection_string.replace(azurite.account_key, wrong_key)
    emulator.admin("POST", "/_emulator/modeldata/storage", {"connectionString": refused})
    try:
        send_blue(emulator, dep, [GOOD])
        _, rows, _ = _until(
            cli,
            dep,
            lambda r: (
                r[("v2.collection-errors", target)]["status"] != "ok"
                and r[("v2.console-collector", target)]["status"] == "fail"
            ),
        )
    finally:
        emulator.admin(
            "POST", "/_emulator/modeldata/storage", {"connectionString": azurite.connection_string}
        )
    # The emulator says so on its stderr (its log file): once for the cause, not per lost record.
    said = (emulator.data_dir / "emulator.log").read_text(errors="replace").splitlines()
    lost = [line for line in said if f"the data collector of {dep.endpoint}/blue cannot write" in line]
    assert len(lost) == 1 and "records are lost: " in lost[0] and "(HTTP 403" in lost[0], lost
    assert wrong_key not in "\n".join(said) and azurite.account_key not in "\n".join(said)
    row = rows[("v2.collection-errors", target)]
    assert row["status"] in ("warn", "fail"), row
    assert "2 DataCollectionErrorsPerMinute" in row["evidence"] and "StorageWriteFailed: 2" in row["evidence"]
    row = rows[("v2.console-collector", target)]  # the Collector's own sender logged the refused posts
    assert row["status"] == "fail" and "failed to send json payload" in row["evidence"], row
    assert "Storage Blob Data Contributor" in row["fix"]
