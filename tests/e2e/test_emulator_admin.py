"""The emulator's admin API (/_emulator/*): workspaces, request log, faults, settings, tokens, services."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.conftest import Emulator, start_emulator, stop_emulator

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
