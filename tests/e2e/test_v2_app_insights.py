"""A v2 deployment with appInsightsEnabled: its real inference server sends App Insights telemetry (the
workspace's component key, to the emulator) — started with it when the switch is on, restarted when a
PUT changes it. SERVICE_NAME stays unset (its v2 value is undocumented), so amlmon finds the rows by
role discovery: it names the role it saw and how to pass --role, never assuming the name."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.online import WAIT, Deployment, enable_blue, send_blue

pytestmark = [pytest.mark.inference, pytest.mark.azurite]

GOOD = {"data": [[1, 2, 3, 4]]}
PRINTED = "scored 1 row(s)"


def _traces(cli: Any, dep: Deployment, *extra: str) -> Any:
    result = cli(
        "traces", f"{dep.endpoint}/blue", "--source", "app-insights", "--since", "30m",
        *extra, *dep.ws["args"], "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return result


def _until(probe: Any, done: Any) -> Any:
    deadline = time.time() + WAIT
    while True:
        found = probe()
        if done(found) or time.time() > deadline:
            return found
        time.sleep(0.5)


def test_enabling_app_insights_on_a_v2_deployment_restarts_its_server_with_telemetry(
    cli: Any, emulator: Any, deployment: Deployment
) -> None:
    dep = deployment
    target = f"{dep.endpoint}/blue"

    def doctor() -> dict[str, Any]:
        result = cli("doctor", target, *dep.ws["args"], "-o", "json")
        assert result.exit_code in (0, 1), result.stderr
        return {r["check"]: r for r in result.json() if r["target"] == target}

    def app_insights_check(status: str) -> dict[str, Any]:
        row = _until(doctor, lambda r: r["v2.console-app-insights"]["status"] == status)
        return dict(row["v2.console-app-insights"])

    # 1. The server starts with the first request, App Insights off (the switch is off).
    assert send_blue(emulator, dep, [GOOD]) == {"200": 1}

    # 2. `enable --endpoint-logs` also turns appInsightsEnabled on: Azure rolls the deployment, so the
    # next request meets a new server whose start-up lines (now in the console log) have it on.
    enable_blue(cli, emulator, dep, "--endpoint-logs")
    assert send_blue(emulator, dep, [GOOD]) == {"200": 1}
    row = app_insights_check("ok")
    assert row["status"] == "ok", row

    # 3. The role name is the server's own default ("ML service" with SERVICE_NAME unset), not the
    # deployment's name: amlmon finds nothing under blue's names, and says which role it saw and how.
    empty = _until(lambda: _traces(cli, dep), lambda r: "ML service" in r.stderr)
    assert empty.json() == [], empty.stdout
    assert "role ML service" in empty.stderr, empty.stderr
    assert f"amlmon traces {target} --role 'ML service'" in empty.stderr, empty.stderr

    # 4. With that --role, the deployment's print() lines are there (the real server's own traces).
    found = _until(
        lambda: _traces(cli, dep, "--role", "ML service"),
        lambda r: any(PRINTED in row["message"] for row in r.json()),
    )
    assert any(PRINTED in row["message"] for row in found.json()), found.stdout

    # 5. Off again (positive control of the check): the server restarts without App Insights.
    off = cli("diagnostics", "disable", target, *dep.ws["args"], "-o", "json")
    assert off.exit_code == 0, off.stderr
    assert send_blue(emulator, dep, [GOOD]) == {"200": 1}
    row = app_insights_check("fail")
    assert row["status"] == "fail" and "Application Insights Enabled: false" in row["evidence"], row
