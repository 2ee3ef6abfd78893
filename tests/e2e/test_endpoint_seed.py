"""The emulator's bulk rows for a v2 endpoint's Log Analytics tables (/_emulator/endpoint-logs/seed and
/rows, amlmon/emulator/endpoint_seed.py), read back through amlmon: `stats --endpoint-logs` equals the
seed's ground truth, and an inserted console row is printed by `traces` exactly as given."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Emulator

ENDPOINT = "seed-ep"


@pytest.fixture(scope="module")
def workspace(emulator: Emulator) -> dict[str, Any]:
    from tests.conftest import run_cli

    ws = emulator.create_workspace(
        "epseed", deployments=[{"endpoint": ENDPOINT, "name": name} for name in ("blue", "green")]
    )
    enabled = run_cli(["diagnostics", "enable", ENDPOINT, "--endpoint-logs", *ws["scope"]], emulator.env())
    assert enabled.exit_code == 0, enabled.stderr
    return ws


def _seed(emulator: Emulator, ws: dict[str, Any], **body: Any) -> tuple[int, Any]:
    return emulator.admin(
        "POST",
        "/_emulator/endpoint-logs/seed",
        {
            "subscription": ws["subscription"],
            "resourceGroup": ws["resourceGroup"],
            "workspace": ws["name"],
            "endpoint": ENDPOINT,
            **body,
        },
    )


def _resource_id(ws: dict[str, Any]) -> str:
    return (
        f"/subscriptions/{ws['subscription']}/resourceGroups/{ws['resourceGroup']}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{ws['name']}/onlineEndpoints/{ENDPOINT}"
    ).upper()


def test_seeded_traffic_rows_are_what_stats_reports_per_deployment(
    cli: Any, emulator: Emulator, workspace: dict[str, Any]
) -> None:
    status, seeded = _seed(
        emulator, workspace, deployments=["blue", "green"], hours=1, ratePerMinute=40, seed=4, failureRate=0.1
    )
    assert status == 200, seeded
    assert seeded["rows"] == {"AmlOnlineEndpointTrafficLog": 2 * 60 * 40}
    result = cli("stats", ENDPOINT, "--endpoint-logs", "--since", "2h", *workspace["scope"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    shown = {item["target"]: item["requests"] for item in result.json()["targets"]}
    assert set(shown) == {f"{ENDPOINT}/blue", f"{ENDPOINT}/green"}
    for target, truth in seeded["truth"].items():
        got = shown[target]
        assert (got["count"], got["failures"], got["clientErrors"]) == (
            truth["requests"],
            truth["failures"],
            truth["clientErrors"],
        )
        assert truth["failures"] > 0 and truth["clientErrors"] > 0  # the control: both kinds are seeded
        assert (got["p50"], got["p95"], got["p99"]) == (truth["p50"], truth["p95"], truth["p99"])
        assert set(got["codes"]) == {"200", "429", "500"}
    one = cli(
        "stats", f"{ENDPOINT}/blue", "--endpoint-logs", "--since", "2h", *workspace["scope"], "-o", "json"
    )
    assert [t["requests"]["count"] for t in one.json()["targets"]] == [
        seeded["truth"][f"{ENDPOINT}/blue"]["requests"]
    ]


def test_seed_refuses_an_unknown_endpoint_and_an_empty_request(
    emulator: Emulator, workspace: dict[str, Any]
) -> None:
    status, answer = _seed(emulator, {**workspace}, deployments=["blue"], endpoint="nosuch")
    assert status == 404 and "nosuch" in answer["error"]["message"]
    status, answer = _seed(emulator, workspace, deployments=[])
    assert status == 400 and "deployments" in answer["error"]["message"]
    status, answer = _seed(emulator, workspace, deployments=["blue"], hours=10_000, ratePerMinute=1000)
    assert status == 400 and "at most" in answer["error"]["message"]


def test_an_inserted_console_row_is_printed_by_traces_as_given(
    cli: Any, emulator: Emulator, workspace: dict[str, Any]
) -> None:
    row = {
        "TimeGenerated": "2026-01-01T00:00:00Z",
        "InstanceId": "blue-0",
        "DeploymentName": "blue",
        "ContainerName": "inference-server",
        "ContainerImageName": "image:1",
        "Message": "seeded console line",
        "_ResourceId": _resource_id(workspace),
    }
    for bad, text in (
        ({"table": "AppTraces", "rows": [row]}, "table must be one of"),
        ({"table": "AmlOnlineEndpointConsoleLog", "rows": [{**row, "SeverityLevel": 1}]}, "SeverityLevel"),
        (
            {"table": "AmlOnlineEndpointConsoleLog", "rows": [{**row, "_IngestionTime": "x"}]},
            "_IngestionTime",
        ),
        ({"table": "AmlOnlineEndpointConsoleLog", "rows": [{**row, "_ResourceId": ""}]}, "_ResourceId"),
        ({"table": "AmlOnlineEndpointConsoleLog", "rows": "x"}, "rows must be"),
    ):
        status, answer = emulator.admin("POST", "/_emulator/endpoint-logs/rows", bad)
        assert status == 400 and text in answer["error"]["message"], answer
    status, answer = emulator.admin(
        "POST", "/_emulator/endpoint-logs/rows", {"table": "AmlOnlineEndpointConsoleLog", "rows": [row]}
    )
    assert status == 200 and answer == {"inserted": 1}
    shown = cli(
        "traces",
        f"{ENDPOINT}/blue",
        "--source",
        "endpoint-logs",
        "--since",
        "2026-01-01T00:00:00Z",
        "--until",
        "2026-01-01T00:01:00Z",
        *workspace["scope"],
        "-o",
        "json",
    )
    assert shown.exit_code == 0, shown.stderr
    assert [r["message"] for r in shown.json()] == ["seeded console line"]
