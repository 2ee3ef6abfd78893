"""The emulator's AML discovery document and v1 model-management API, driven by a real azure-core
PipelineClient (bearer auth, retry policy) — no amlmon code in between."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator, start_emulator, stop_emulator

SUB = "00000000-0000-0000-0000-00000000a2a2"
DEFAULTS = {"operationSeconds": 0.5, "retryAfterSeconds": 1, "pageSize": 100}
FAST = {"operationSeconds": 0.2, "retryAfterSeconds": 0}


def _new_workspace(emulator: Emulator, services: list[dict[str, Any]]) -> dict[str, Any]:
    name = "ws" + uuid.uuid4().hex[:8]
    body = {"subscription": SUB, "resourceGroup": "rg-" + name, "name": name, "services": services}
    status, answer = emulator.admin("POST", "/_emulator/workspaces", body)
    assert status == 201, answer
    base = (
        f"/modelmanagement/v1.0/subscriptions/{SUB}/resourceGroups/rg-{name}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{name}"
    )
    answer.update(name=name, resourceGroup="rg-" + name, base=base)
    return answer


@pytest.fixture()
def fast(emulator: Emulator) -> Iterator[None]:
    """Short operations for these tests; the session emulator's settings are restored afterwards."""
    _, before = emulator.admin("GET", "/_emulator/settings")
    emulator.admin("PUT", "/_emulator/settings", FAST)
    yield
    emulator.admin(
        "PUT", "/_emulator/settings", {k: before.get(k, default) for k, default in DEFAULTS.items()}
    )


@pytest.fixture()
def workspace(emulator: Emulator, fast: None) -> dict[str, Any]:
    return _new_workspace(
        emulator,
        [
            {"name": "aci-one", "computeType": "ACI"},
            {"name": "aks-one", "computeType": "AKS", "appInsightsEnabled": True},
        ],
    )


def _client(emulator: Emulator) -> Any:
    from azure.core import PipelineClient
    from azure.core.pipeline import policies

    return PipelineClient(
        base_url=emulator.endpoint,
        policies=[
            policies.RequestIdPolicy(),
            policies.HeadersPolicy(),
            policies.RetryPolicy(retry_backoff_factor=0.05),
            policies.BearerTokenCredentialPolicy(emulator.credential(), emulator.endpoint + "/.default"),
        ],
        connection_verify=emulator.ca_path,
    )


@pytest.fixture()
def client(emulator: Emulator) -> Iterator[Any]:
    with _client(emulator) as c:
        yield c


def _send(client: Any, method: str, url: str, body: Any = None, content_type: str | None = None) -> Any:
    from azure.core.rest import HttpRequest

    headers = {"Content-Type": content_type} if content_type else {}
    request = HttpRequest(method, client.format_url(url), json=body, headers=headers)
    return client.send_request(request)


def _patch(client: Any, base: str, name: str, patch: list[dict[str, Any]]) -> Any:
    return _send(client, "PATCH", f"{base}/services/{name}", patch, "application/json-patch+json")


def _poll(client: Any, location: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        body: dict[str, Any] = _send(client, "GET", location).json()
        seen.append(body["state"])
        if body["state"] in ("Succeeded", "Failed", "Cancelled", "TimedOut"):
            body["_seen"] = seen
            return body
        time.sleep(0.05)
    raise AssertionError(f"operation never finished: {seen}")


def test_discovery_maps_every_service_to_the_emulator(
    emulator: Emulator, client: Any, workspace: dict[str, Any]
) -> None:
    for url in (workspace["discoveryUrl"], emulator.endpoint + "/discovery/workspaces/x"):
        response = _send(client, "GET", url)
        assert response.status_code == 200
        doc = response.json()
        for key in ("api", "catalog", "experimentation", "history", "modelmanagement"):
            assert doc[key] == emulator.endpoint


def test_list_and_get_with_aci_and_aks_shapes(
    emulator: Emulator, client: Any, workspace: dict[str, Any]
) -> None:
    base = workspace["base"]
    listed = _send(client, "GET", base + "/services").json()
    assert sorted(s["name"] for s in listed["value"]) == ["aci-one", "aks-one"]
    assert "nextLink" not in listed
    aks = _send(client, "GET", base + "/services/aks-one").json()
    aci = _send(client, "GET", base + "/services/aci-one").json()
    assert aks["computeType"] == "AKS" and aks["authEnabled"] is True and aks["appInsightsEnabled"] is True
    assert aci["computeType"] == "ACI" and aci["authEnabled"] is False and aci["appInsightsEnabled"] is False
    assert aci["scoringUri"] == f"{emulator.endpoint}/api/v1/service/aci-one/score"
    assert aci["dataCollection"] == {"eventHubEnabled": False, "storageEnabled": False}
    assert aci["state"] == "Healthy"
    assert not any(k.startswith("_") for k in aci)
    only_aks = _send(client, "GET", base + "/services?computeType=AKS").json()["value"]
    assert [s["name"] for s in only_aks] == ["aks-one"]
    by_name = _send(client, "GET", base + "/services?name=aci-one").json()["value"]
    assert [s["name"] for s in by_name] == ["aci-one"]


def test_get_missing_service_is_a_flat_404(client: Any, workspace: dict[str, Any]) -> None:
    response = _send(client, "GET", workspace["base"] + "/services/nope")
    assert response.status_code == 404
    body = response.json()
    assert set(body) >= {"code", "statusCode", "message", "details"} and "error" not in body
    assert body["statusCode"] == 404 and "nope" in body["message"]


def test_paging_follows_next_links(emulator: Emulator, client: Any, fast: None) -> None:
    ws = _new_workspace(emulator, [{"name": f"svc-{i:02d}", "computeType": "ACI"} for i in range(5)])
    emulator.admin("PUT", "/_emulator/settings", {"pageSize": 2})
    names, pages, url = [], 0, ws["base"] + "/services"
    while url:
        page = _send(client, "GET", url).json()
        names += [s["name"] for s in page["value"]]
        pages += 1
        url = page.get("nextLink")
    assert pages == 3
    assert names == [f"svc-{i:02d}" for i in range(5)]


def test_spec_filters_tags_properties_model_count_orderby(
    emulator: Emulator, client: Any, fast: None
) -> None:
    ws = _new_workspace(
        emulator,
        [
            {"name": "t1", "computeType": "ACI", "kvTags": {"team": "a b", "tier": "gold"}},
            {"name": "t2", "computeType": "ACI", "kvTags": {"team": "a b"}},
            {"name": "t3", "computeType": "AKS", "kvTags": {"team": "c"}},
        ],
    )
    base = ws["base"] + "/services"

    def names(query: str) -> list[str]:
        return [s["name"] for s in _send(client, "GET", f"{base}?{query}").json()["value"]]

    assert names("tags=tier") == ["t1"]
    assert names("tags=team%3Da%20b") == ["t1", "t2"]
    assert names("tags=team%3Dc,tier") == []
    assert names("properties=hasHttps%3DFalse") == ["t1", "t2", "t3"]
    assert names("properties=nope") == []
    assert names("modelName=sample-model") == ["t1", "t2", "t3"] and names("modelId=x:1") == []
    assert sorted(names("orderby=UpdatedAtDesc")) == ["t1", "t2", "t3"]  # times tie at 1 s resolution
    assert _send(client, "GET", f"{base}?orderby=Sideways").status_code == 400
    # a tag filter with a space and '=' survives the next link; count caps the page size
    collected, url = [], f"{base}?tags=team%3Da%20b&count=1"
    while url:
        page = _send(client, "GET", url).json()
        assert len(page["value"]) <= 1
        collected += [s["name"] for s in page["value"]]
        url = page.get("nextLink")
    assert collected == ["t1", "t2"]


def test_patch_runs_an_operation_then_applies(client: Any, workspace: dict[str, Any]) -> None:
    base = workspace["base"]
    response = _patch(
        client,
        base,
        "aci-one",
        [
            {"op": "replace", "path": "/appInsightsEnabled", "value": True},
            {"op": "replace", "path": "/dataCollection/storageEnabled", "value": True},
        ],
    )
    assert response.status_code == 202
    location = response.headers["Operation-Location"]
    assert location.startswith(client.format_url(base + "/operations/"))
    assert response.headers["Retry-After"] == "0"
    during = _send(client, "GET", base + "/services/aci-one").json()
    assert during["state"] == "Transitioning"
    conflict = _patch(
        client, base, "aci-one", [{"op": "replace", "path": "/appInsightsEnabled", "value": False}]
    )
    assert conflict.status_code == 409
    assert conflict.json()["statusCode"] == 409
    final = _poll(client, location)
    assert final["state"] == "Succeeded" and "Running" in final["_seen"]
    after = _send(client, "GET", base + "/services/aci-one").json()
    assert after["state"] == "Healthy"
    assert after["appInsightsEnabled"] is True and after["dataCollection"]["storageEnabled"] is True


@pytest.mark.parametrize(
    "patch",
    [
        [{"op": "move", "path": "/appInsightsEnabled", "value": True}],
        [{"op": "replace", "path": "/name", "value": "x"}],
        [{"op": "replace", "path": "/appInsightsEnabled", "value": "yes"}],
        {"op": "replace", "path": "/appInsightsEnabled", "value": True},
    ],
)
def test_invalid_patch_is_a_flat_400(client: Any, workspace: dict[str, Any], patch: Any) -> None:
    response = _patch(client, workspace["base"], "aci-one", patch)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert _send(client, "GET", workspace["base"] + "/services/aci-one").json()["state"] == "Healthy"


def test_forced_transitioning_and_failed_update(
    emulator: Emulator, client: Any, workspace: dict[str, Any]
) -> None:
    ident = {"subscription": SUB, "resourceGroup": workspace["resourceGroup"], "workspace": workspace["name"]}
    base = workspace["base"]
    status, _ = emulator.admin(
        "PATCH", "/_emulator/services", {**ident, "name": "aks-one", "state": "Transitioning"}
    )
    assert status == 200
    assert (
        _patch(
            client, base, "aks-one", [{"op": "replace", "path": "/appInsightsEnabled", "value": False}]
        ).status_code
        == 409
    )
    emulator.admin("PATCH", "/_emulator/services", {**ident, "name": "aks-one", "state": "Healthy"})
    emulator.admin(
        "PATCH", "/_emulator/services", {**ident, "name": "aks-one", "failNextUpdate": "disk full"}
    )
    response = _patch(
        client, base, "aks-one", [{"op": "replace", "path": "/appInsightsEnabled", "value": False}]
    )
    assert response.status_code == 202
    final = _poll(client, response.headers["Operation-Location"])
    assert final["state"] == "Failed" and "disk full" in final["error"]["message"]
    service = _send(client, "GET", base + "/services/aks-one").json()
    assert service["appInsightsEnabled"] is True  # the failed patch was not applied
    status, _ = emulator.admin("PATCH", "/_emulator/services", {**ident, "name": "nope", "state": "Healthy"})
    assert status == 404


def test_no_token_is_401(emulator: Emulator, workspace: dict[str, Any]) -> None:
    from azure.core import PipelineClient
    from azure.core.rest import HttpRequest

    bare: Any
    with PipelineClient(base_url=emulator.endpoint, connection_verify=emulator.ca_path) as bare:
        response = bare.send_request(HttpRequest("GET", bare.format_url(workspace["base"] + "/services")))
    assert response.status_code == 401
    assert "Bearer" in response.headers.get("WWW-Authenticate", "")


@pytest.mark.usefixtures("clear_faults")
def test_faults_on_mms_routes_are_retried(emulator: Emulator, client: Any, workspace: dict[str, Any]) -> None:
    name = workspace["name"]
    for fault in (
        {"kind": "status", "path": f"workspaces/{name}/services$", "status": 429, "retryAfter": 0},
        {"kind": "status", "path": f"workspaces/{name}/services$", "status": 503},
        {"kind": "reset", "path": f"workspaces/{name}/services$"},
    ):
        status, rule = emulator.admin("POST", "/_emulator/faults", fault)
        assert status == 201, rule
        seq = emulator.last_seq()
        response = _send(client, "GET", workspace["base"] + "/services")
        assert response.status_code == 200
        statuses = [e.get("status") for e in emulator.requests_since(seq) if name in e.get("path", "")]
        assert len(statuses) >= 2, statuses
        _, rules = emulator.admin("GET", "/_emulator/faults")
        assert next(r for r in rules["value"] if r["id"] == rule["id"])["hits"] == 1


def test_services_and_applied_patches_survive_a_restart(tmp_path: Path) -> None:
    own = start_emulator(tmp_path / "emu")
    try:
        own.admin("PUT", "/_emulator/settings", FAST)
        ws = _new_workspace(own, [{"name": "keep-me", "computeType": "ACI"}])
        with _client(own) as c:
            response = _patch(
                c, ws["base"], "keep-me", [{"op": "replace", "path": "/appInsightsEnabled", "value": True}]
            )
            assert _poll(c, response.headers["Operation-Location"])["state"] == "Succeeded"
    finally:
        stop_emulator(own)
    again = start_emulator(tmp_path / "emu")
    try:
        with _client(again) as c:
            service = _send(c, "GET", ws["base"] + "/services/keep-me").json()
        assert service["appInsightsEnabled"] is True and service["state"] == "Healthy"
        assert service["scoringUri"] == f"{again.endpoint}/api/v1/service/keep-me/score"
    finally:
        stop_emulator(again)
