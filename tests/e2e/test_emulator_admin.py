"""The emulator's admin API (/_emulator/*): workspaces, request log, faults, settings, tokens, services."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator, start_emulator, stop_emulator

pytestmark = pytest.mark.usefixtures("clear_faults")


SUB = "00000000-0000-0000-0000-00000000a2ad"
ANSWER_KEYS = {
    "workspaceId",
    "appInsightsId",
    "appId",
    "instrumentationKey",
    "logAnalyticsId",
    "customerId",
    "discoveryUrl",
    "services",
    "deployments",
    "storageAccounts",
}


def _workspace_body(name: str, **extra: Any) -> dict[str, Any]:
    return {"subscription": SUB, "resourceGroup": "rg-" + name, "name": name, **extra}


def test_create_workspace_then_add_services_to_it(emulator: Emulator) -> None:
    name = "ws" + uuid.uuid4().hex[:8]
    status, first = emulator.admin(
        "POST", "/_emulator/workspaces", _workspace_body(name, services=[{"name": "a", "computeType": "ACI"}])
    )
    assert status == 201, first
    assert set(first) >= ANSWER_KEYS
    assert first["workspaceId"].endswith(f"/workspaces/{name}") and first["services"] == ["a"]
    assert first["instrumentationKey"] == first["instrumentationKey"].lower()
    assert "ConnectionString" not in str(first)
    status, again = emulator.admin(
        "POST", "/_emulator/workspaces", _workspace_body(name, services=[{"name": "b", "computeType": "AKS"}])
    )
    assert status == 200, again
    assert again["workspaceId"] == first["workspaceId"] and again["services"] == ["b"]
    assert again["instrumentationKey"] == first["instrumentationKey"]


def test_create_workspace_refuses_a_body_without_its_names(emulator: Emulator) -> None:
    status, body = emulator.admin("POST", "/_emulator/workspaces", {"subscription": SUB, "name": "x"})
    assert status == 400 and "resourceGroup" in body["error"]["message"]


def test_request_log_since(emulator: Emulator) -> None:
    status, head = emulator.admin("GET", "/_emulator/requests?since=-1")
    assert status == 200 and head["value"] == [] and head["lastSeq"] >= 1
    seq = head["lastSeq"]
    emulator.admin("GET", "/_emulator/settings")
    emulator.admin("GET", "/_emulator/faults")
    entries = emulator.requests_since(seq)
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    assert all(e["seq"] > seq for e in entries)
    paths = [(e["method"], e["path"], e["status"]) for e in entries]
    assert ("GET", "/_emulator/settings", 200) in paths and ("GET", "/_emulator/faults", 200) in paths
    assert emulator.admin("GET", "/_emulator/requests?since=abc")[0] == 400


def test_fault_rules_add_list_hit_and_clear(emulator: Emulator) -> None:
    # Admin routes are never faulted; a unique non-admin path is (faults come before the auth check).
    marker = "/discovery/probe-" + uuid.uuid4().hex[:8]
    try:
        status, rule = emulator.admin(
            "POST", "/_emulator/faults", {"path": marker + "$", "method": "GET", "status": 503, "count": 1}
        )
        assert status == 201 and rule["id"] > 0 and rule["kind"] == "status"
        listed = emulator.admin("GET", "/_emulator/faults")[1]["value"]
        assert any(r["id"] == rule["id"] for r in listed)
        assert emulator.admin("GET", marker)[0] == 503
        assert emulator.admin("GET", marker)[0] != 503  # count 1: spent
        assert emulator.admin("GET", "/_emulator/faults")[1]["value"][-1]["hits"] == 1
        assert emulator.admin("POST", "/_emulator/faults", {"kind": "explode"})[0] == 400
        assert emulator.admin("POST", "/_emulator/faults", {"path": "("})[0] == 400
    finally:
        status, _ = emulator.admin("DELETE", "/_emulator/faults")
    assert status == 200
    assert emulator.admin("GET", "/_emulator/faults")[1]["value"] == []


def test_settings_merge_and_restore(emulator: Emulator) -> None:
    _, before = emulator.admin("GET", "/_emulator/settings")
    try:
        status, merged = emulator.admin("PUT", "/_emulator/settings", {"jitter": 3})
        assert status == 200 and merged["jitter"] == 3
        assert {k: v for k, v in merged.items() if k != "jitter"} == {
            k: v for k, v in before.items() if k != "jitter"
        }
        assert emulator.admin("PUT", "/_emulator/settings", [1, 2])[0] == 400
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"jitter": before.get("jitter", 0)})


def test_force_service_needs_its_identity(emulator: Emulator) -> None:
    status, body = emulator.admin("PATCH", "/_emulator/services", {"name": "x"})
    assert status == 400 and "workspace" in body["error"]["message"]


def test_expired_tokens_get_401_and_a_new_token_works(tmp_path: Path) -> None:
    # Its own emulator: expiring every token of the session emulator would disturb other tests.
    from azure.core import PipelineClient
    from azure.core.rest import HttpRequest

    own = start_emulator(tmp_path / "emu")
    try:
        name = "ws" + uuid.uuid4().hex[:8]
        own.admin("POST", "/_emulator/workspaces", _workspace_body(name))
        url = (
            f"{own.endpoint}/modelmanagement/v1.0/subscriptions/{SUB}/resourceGroups/rg-{name}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{name}/services"
        )
        token = own.credential().get_token(own.endpoint + "/.default").token
        client: Any
        with PipelineClient(base_url=own.endpoint, connection_verify=own.ca_path) as client:

            def get(bearer: str) -> Any:
                request = HttpRequest("GET", url, headers={"Authorization": "Bearer " + bearer})
                return client.send_request(request)

            assert get(token).status_code == 200
            status, body = own.admin("POST", "/_emulator/tokens/expire")
            assert status == 200 and body["expired"] >= 1
            expired = get(token)
            assert expired.status_code == 401
            assert "ExpiredAuthenticationToken" in expired.text()
            fresh = own.credential().get_token(own.endpoint + "/.default").token
            assert get(fresh).status_code == 200
    finally:
        stop_emulator(own)


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ({"kind": "status", "rate": 5}, "probability"),
        ({"kind": "status", "rate": 0}, "probability"),
        ({"kind": "slow", "delay": -1}, "delay"),
        ({"kind": "status", "count": 0}, "count"),
        ({"kind": "status", "count": -2}, "count"),
        ({"kind": "status", "status": 42}, "HTTP status"),
    ],
)
def test_fault_rules_that_mean_nothing_are_400(emulator: Emulator, rule: dict[str, Any], needle: str) -> None:
    marker = {"path": "/nowhere-" + uuid.uuid4().hex[:8] + "$"}
    status, body = emulator.admin("POST", "/_emulator/faults", {**rule, **marker})
    assert status == 400 and needle in body["error"]["message"], body
    assert emulator.admin("GET", "/_emulator/faults")[1]["value"] == [], "nothing was added"
    fine = emulator.admin("POST", "/_emulator/faults", {"kind": "status", "rate": 0.5, **marker})
    assert fine[0] == 201, "positive control: a probability is accepted"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"hours": -1}, "hours"),
        ({"ratePerMinute": -5}, "ratePerMinute"),
        ({"generation": "2.0"}, "generation"),
        ({"services": []}, "services"),
        ({"ratePerMinute": 6e10}, "more than 2,000,000 requests"),  # a user's 1e9/s took 21 GB before
    ],
)
def test_seed_requests_that_mean_nothing_are_400(
    emulator: Emulator, change: dict[str, Any], needle: str
) -> None:
    ws = emulator.create_workspace("seedbad")
    body = {
        "subscription": ws["subscription"],
        "resourceGroup": ws["resourceGroup"],
        "workspace": ws["name"],
        "services": ["svc-x"],
        "hours": 0.1,
        "ratePerMinute": 1,
    }
    status, answer = emulator.admin("POST", "/_emulator/telemetry/seed", {**body, **change})
    assert status == 400 and needle in answer["error"]["message"], answer
    assert emulator.admin("POST", "/_emulator/telemetry/seed", body)[0] == 200, "positive control"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["faults", "add", "bogus"], "unknown fault kind"),
        (["faults", "add", "status", "--rate", "5"], "--rate"),
        (["faults", "add", "slow", "--delay", "-1"], "--delay"),
        (["faults", "add", "status", "--status", "42"], "--status"),
        (["seed", "--rate", "-5/min"], "--rate"),
        (["seed", "--rate", "5/fortnight"], "--rate"),
        (["seed", "--hours", "-1"], "--hours"),
        (["seed", "--services", "0"], "--services"),
        (["seed", "--generation", "2.0"], "--generation"),
        (["seed", "--ws", "a/b"], "--ws"),
        (["seed", "-w", "a/b"], "--workspace-name"),
        (["seed", "--resource-group", "a/b"], "--resource-group"),
        (["seed", "--services", "1", "--hours", "0.01", "--rate", "1e9/s"], "2,000,000 requests"),
    ],
)
def test_emulator_cli_refuses_values_that_mean_nothing(
    cli: Any, emulator: Emulator, args: list[str], needle: str
) -> None:
    seq = emulator.last_seq()
    result = cli("emulator", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert needle in result.stderr and "hint:" in result.stderr and "Traceback" not in result.stderr
    sent = [r for r in emulator.requests_since(seq) if r["method"] == "POST"]
    assert sent == [], "refused before asking the emulator"


def test_seed_rate_units_are_honoured(cli: Any, emulator: Emulator) -> None:
    ws = emulator.create_workspace("rate")
    scope = ["--sub", ws["subscription"], "--rg", ws["resourceGroup"], "--ws", ws["name"], "--services", "1"]
    hourly = cli("emulator", "seed", *scope, "--hours", "1", "--rate", "600/hour", "-o", "json")
    assert hourly.exit_code == 0, hourly.stderr
    assert hourly.json()["truth"]["svc-1"]["requests"] == 600, "600 an hour for one hour"
    per_minute = cli("emulator", "seed", *scope, "--hours", "0.5", "--rate", "2/min", "-o", "json")
    assert per_minute.json()["truth"]["svc-1"]["requests"] == 60
    # the names every other command uses: a new workspace of that name, which services list then finds
    standard = ["--subscription", ws["subscription"], "-g", ws["resourceGroup"], "-w", f"{ws['name']}-std"]
    again = cli("emulator", "seed", *standard, "--services", "1", "--hours", "1", "--rate", "60/hour")
    assert again.exit_code == 0, again.stderr
    assert again.json()["truth"]["svc-1"]["requests"] == 60
    listed = cli("services", "list", *standard, "-o", "json")
    assert listed.exit_code == 0 and [row["target"] for row in listed.json()] == ["svc-1"], listed.stderr
    assert "--sub" not in cli("emulator", "seed", "--help").stdout.replace("--subscription", "")
