"""A real azureml-inference-server-http behind an emulated v1 service: scoring, and its own telemetry.

The service is created with `"backend": "inference"`; App Insights and model data collection are
switched on by the model-management API's JSON-patch (as amlmon does), and the telemetry the real
server sends to the emulator's ingestion endpoint is read back by KQL through the real
LogsQueryClient. One inference server per module, reused by every test in order.
"""

from __future__ import annotations

import ast
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from amlmon.telemetry import decode_model_data
from tests.conftest import Emulator, processes_under, start_emulator, stop_emulator
from tests.helpers import http, logs_client

pytestmark = pytest.mark.inference

TELEMETRY_WAIT = 30.0  # upper bound; with a 0.5 s export interval rows arrive in about a second
# The sample churn model (amlmon/emulator/sample_model): p = sigmoid(-0.5 - 0.05*tenure + 0.02*charges + 0.4*calls - 0.8*years)
FIRST_ROW = [12, 70, 1, 1]
FIRST_PREDICTION = 0.475
SECOND_ROW = [3, 95.5, 4, 0]
SECOND_PREDICTION = 0.9458


@dataclass
class Service:
    emulator: Emulator
    subscription: str
    resource_group: str
    workspace: str
    name: str
    canned: str  # a service of the same workspace without an inference server
    component_id: str
    mms_base: str

    @property
    def scoring_uri(self) -> str:
        return f"{self.emulator.endpoint}/api/v1/service/{self.name}/score"


def score(
    service: Service, payload: Any, client_request_id: str, name: str | None = None
) -> tuple[int, dict[str, str], Any]:
    url = service.scoring_uri if name is None else f"{service.emulator.endpoint}/api/v1/service/{name}/score"
    status, headers, body = http(
        service.emulator,
        "POST",
        url,
        raw=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "x-ms-client-request-id": client_request_id},
    )
    return status, headers, json.loads(body) if body else None


def bearer(emulator: Emulator) -> dict[str, str]:
    token = emulator.credential().get_token("https://management.azure.com/.default").token
    return {"Authorization": f"Bearer {token}"}


def patch_service(service: Service, patch: list[dict[str, Any]]) -> None:
    """The v1 update as amlmon sends it: JSON-patch, 202 + Operation-Location, poll to Succeeded."""
    emulator = service.emulator
    status, headers, body = http(
        emulator,
        "PATCH",
        f"{service.mms_base}/services/{service.name}",
        patch,
        {**bearer(emulator), "Content-Type": "application/json-patch+json"},
    )
    assert status in (200, 202), body
    location = (
        headers.get("operation-location")
        or f"{service.mms_base}/operations/{json.loads(body)['operationId']}"
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        status, _, body = http(emulator, "GET", location, headers=bearer(emulator))
        assert status == 200, body
        operation = json.loads(body)
        if operation["state"] in ("Succeeded", "Failed", "Cancelled", "TimedOut"):
            assert operation["state"] == "Succeeded", operation
            return
        time.sleep(0.2)
    raise AssertionError("the service update operation did not finish")


def query(service: Service, kql: str) -> list[dict[str, Any]]:
    client = logs_client(service.emulator)
    result = client.query_resource(service.component_id, kql, timespan=timedelta(hours=1))
    table = result.tables[0]
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def wait_for(service: Service, kql: str, count: int) -> list[dict[str, Any]]:
    """Rows of `kql` once there are at least `count` of them (bounded wait)."""
    deadline = time.time() + TELEMETRY_WAIT
    rows: list[dict[str, Any]] = []
    while time.time() < deadline:
        rows = query(service, kql)
        if len(rows) >= count:
            return rows
        time.sleep(0.3)
    raise AssertionError(
        f"expected {count} rows of {kql!r} within {TELEMETRY_WAIT:.0f} s, got {len(rows)}: {rows}"
    )


def dims(row: dict[str, Any]) -> dict[str, Any]:
    value = row["customDimensions"]
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def scoring_service(emulator: Emulator, suffix: str) -> Service:
    name, canned = f"inf-{suffix}", f"canned-{suffix}"
    created = emulator.create_workspace(
        f"inference-{suffix}",
        services=[
            {"name": name, "computeType": "ACI", "backend": "inference"},
            {"name": canned, "computeType": "AKS"},
        ],
    )
    subscription, resource_group, workspace = (
        created["subscription"],
        created["resourceGroup"],
        created["name"],
    )
    status, _, discovery = http(emulator, "GET", created["discoveryUrl"])
    assert status == 200, discovery
    base = json.loads(discovery)["modelmanagement"].rstrip("/")
    mms_base = (
        f"{base}/modelmanagement/v1.0/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace}"
    )
    return Service(
        emulator, subscription, resource_group, workspace, name, canned, created["appInsightsId"], mms_base
    )


@pytest.fixture(scope="module")
def service(emulator: Emulator) -> Service:
    # The real server exports every 5 s; the emulator shortens that for its children so tests wait ~1 s.
    status, body = emulator.admin("PUT", "/_emulator/settings", {"inferenceExportSeconds": 0.5})
    assert status == 200, body
    return scoring_service(emulator, uuid.uuid4().hex[:8])


def test_scoring_works_before_diagnostics_and_sends_no_telemetry(service: Service) -> None:
    status, headers, body = score(service, {"data": [FIRST_ROW]}, "before-enable")
    assert status == 200, body
    assert body == {"predictions": [FIRST_PREDICTION]}
    assert headers["x-ms-client-request-id"] == "before-enable"
    assert headers["x-ms-server-version"].startswith("azmlinfsrv/")  # the real server answered

    status, headers, body = score(service, {"data": [[1, 2]]}, "before-enable-bad")
    assert status == 500
    assert headers.get("x-ms-run-function-failed") == "True"
    assert "scoring script" in body["message"]


def test_unknown_service_is_404_and_a_service_without_a_server_answers_the_same_model(
    service: Service,
) -> None:
    status, _, body = score(service, {"data": [FIRST_ROW]}, "x", name=f"missing-{service.name}")
    assert status == 404, body
    status, headers, body = score(service, {"data": [FIRST_ROW, SECOND_ROW]}, "canned-1", name=service.canned)
    assert (status, body) == (200, {"predictions": [FIRST_PREDICTION, SECOND_PREDICTION]})
    assert headers["x-ms-client-request-id"] == "canned-1"
    assert "x-ms-server-version" not in headers


def test_swagger_is_the_servers_own(service: Service) -> None:
    status, _, body = http(service.emulator, "GET", service.scoring_uri.replace("/score", "/swagger.json"))
    assert status == 200
    swagger = json.loads(body)
    assert swagger["swagger"] == "2.0"
    assert swagger["info"]["title"] == service.name  # SERVICE_NAME reached the server


@pytest.mark.usefixtures("clear_faults")
def test_scoring_survives_an_injected_fault_on_its_route(service: Service) -> None:
    status, rule = service.emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 503, "path": f"/api/v1/service/{service.name}/", "count": 1},
    )
    assert status in (200, 201), rule
    first, _, _ = score(service, {"data": [FIRST_ROW]}, "fault-1")
    second, _, body = score(service, {"data": [FIRST_ROW]}, "fault-2")
    assert (first, second) == (503, 200), body


def test_enabling_app_insights_and_model_data_brings_the_servers_real_telemetry(service: Service) -> None:
    patch_service(
        service,
        [
            {"op": "replace", "path": "/appInsightsEnabled", "value": True},
            {"op": "replace", "path": "/dataCollection/storageEnabled", "value": True},
        ],
    )
    run = uuid.uuid4().hex[:8]
    ok1, ok2, bad = f"{run}-ok-1", f"{run}-ok-2", f"{run}-bad"
    assert score(service, {"data": [FIRST_ROW]}, ok1)[0] == 200
    assert score(service, {"data": [FIRST_ROW, SECOND_ROW]}, ok2)[0] == 200
    assert score(service, {"data": [["not", "a", "number"]]}, bad)[0] == 500
    ours = f"customDimensions['Client Request Id'] in ('{ok1}', '{ok2}', '{bad}')"

    requests = wait_for(service, f"requests | where {ours} | project cloud_RoleName, customDimensions", 3)
    by_id = {dims(row)["Client Request Id"]: dims(row) for row in requests}
    assert {by_id[ok1]["resultCode"], by_id[ok2]["resultCode"], by_id[bad]["resultCode"]} == {"200", "500"}
    assert by_id[bad]["resultCode"] == "500" and by_id[bad]["success"] == "False"
    assert {row["cloud_RoleName"] for row in requests} == {service.name}
    assert {d["Service Name"] for d in by_id.values()} == {service.name}
    assert {d["Workspace Name"] for d in by_id.values()} == {service.workspace}

    model_data = wait_for(
        service, "traces | where message == 'model_data_collection' | project customDimensions", 2
    )
    records = {
        r.client_request_id: r for r in (decode_model_data(row["customDimensions"]) for row in model_data)
    }
    assert records[ok1].input == {"data": [FIRST_ROW]}
    assert records[ok1].prediction == {"predictions": [FIRST_PREDICTION]}
    assert records[ok2].prediction == {"predictions": [FIRST_PREDICTION, SECOND_PREDICTION]}
    assert records[ok1].models == ["sample-churn:1"]
    assert records[ok1].request_id == by_id[ok1]["Request Id"]  # joins to its request
    assert bad not in records  # a failed run collects no model data

    printed = wait_for(
        service, "traces | where message startswith 'scored ' | project message, severityLevel", 2
    )
    assert {row["message"] for row in printed} >= {"scored 1 row(s)", "scored 2 row(s)"}

    # 1.5.x packs an exception's dimensions like model data: one Python-literal dict string.
    exceptions = wait_for(service, "exceptions | project type, customDimensions", 1)
    packed = [ast.literal_eval(dims(row)["custom_dimensions"]) for row in exceptions]
    assert bad in {fields["Client Request Id"] for fields in packed}
    assert {row["type"] for row in exceptions} == {"UserScriptException"}

    # Scoring before the switch sent nothing, even now that the exporter is running.
    assert (
        query(service, "union requests, traces | where tostring(customDimensions) has 'before-enable'") == []
    )


@pytest.fixture(scope="module")
def witness(emulator: Emulator) -> Service:
    """A second real inference server whose App Insights stays on: the positive control of "nothing
    arrives" checks (its later request arriving proves the export pipeline delivered in the meantime)."""
    witness = scoring_service(emulator, "w" + uuid.uuid4().hex[:8])
    patch_service(witness, [{"op": "replace", "path": "/appInsightsEnabled", "value": True}])
    return witness


def _by_client_request_id(marker: str) -> str:
    return f"requests | where customDimensions['Client Request Id'] == '{marker}'"


def test_disabling_app_insights_stops_telemetry(service: Service, witness: Service) -> None:
    patch_service(service, [{"op": "replace", "path": "/appInsightsEnabled", "value": False}])
    marker = f"off-{uuid.uuid4().hex[:8]}"
    assert score(service, {"data": [FIRST_ROW]}, marker)[0] == 200
    later = f"on-{uuid.uuid4().hex[:8]}"
    assert score(witness, {"data": [FIRST_ROW]}, later)[0] == 200
    wait_for(witness, _by_client_request_id(later), 1)  # positive control: a later request did arrive
    assert query(service, _by_client_request_id(marker)) == []


@pytest.fixture
def private_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    handle = start_emulator(tmp_path_factory.mktemp("emulator-inference"))
    try:
        yield handle
    finally:
        stop_emulator(handle)


def test_stopping_the_emulator_stops_its_inference_servers(private_emulator: Emulator) -> None:
    service = scoring_service(private_emulator, "stop")
    assert score(service, {"data": [FIRST_ROW]}, "stop-1")[0] == 200
    assert any("amlmon.emulator.inference" in line for line in processes_under(private_emulator.data_dir))
    stop_emulator(private_emulator)
    assert processes_under(private_emulator.data_dir) == []


def _rows_of(server: Any, role: str, request_id: str | None = None) -> int:
    """Requests and traces the in-process emulator stored for `role` (one client request ID, or all)."""

    store = server.state.telemetry
    sql = (
        "SELECT count(*) FROM (SELECT AppRoleName, Properties FROM store.AppRequests"
        " UNION ALL SELECT AppRoleName, Properties FROM store.AppTraces) WHERE AppRoleName = ?"
    )
    parameters: list[Any] = [role]
    if request_id is not None:
        sql += " AND CAST(Properties AS VARCHAR) LIKE ?"
        parameters.append(f"%{request_id}%")
    cursor = store.con.cursor()  # a connection of its own: ingestion writes on the store's meanwhile
    try:
        return int(cursor.execute(sql, parameters).fetchone()[0])
    finally:
        cursor.close()


def _wait_for_rows(server: Any, role: str, request_id: str) -> None:
    deadline = time.time() + TELEMETRY_WAIT
    while not _rows_of(server, role, request_id) and time.time() < deadline:
        time.sleep(0.1)
    assert _rows_of(server, role, request_id), f"{role}: no telemetry of {request_id} arrived"


def _track_posts(server: Any, since: int) -> list[dict[str, Any]]:
    return [
        e for e in list(server.state.request_log) if e["seq"] > since and e["path"].endswith("/v2.1/track")
    ]


def test_service_hook_switches_the_servers_exporter_in_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """mms.py's hook contract, driven directly: off → the server posts nothing; on → it posts; off again → nothing."""
    from amlmon.emulator.faults import FaultRule
    from amlmon.emulator.server import EmulatorServer

    server = EmulatorServer(tmp_path_factory.mktemp("emulator-hook"))
    server.start_in_thread()
    state = server.state
    try:
        state.settings["inferenceExportSeconds"] = 0.3
        workspace_id = (
            "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws1"
        )
        component_id = "/subscriptions/s1/resourceGroups/rg1/providers/microsoft.insights/components/ws1-ai"
        state.resources.put(
            workspace_id, {"id": workspace_id, "properties": {"applicationInsights": component_id}}
        )
        key = str(uuid.uuid4()).upper()  # the emulator must hand the server a lower-case key
        component = {
            "id": component_id,
            "type": "microsoft.insights/components",
        }  # ingestion finds it by type
        state.resources.put(component_id, {**component, "properties": {"InstrumentationKey": key}})
        emulator = Emulator(server.data_dir, state.endpoint, str(server.ca_path), state.tenant_id)
        service = Service(emulator, "s1", "rg1", "ws1", "hooked", "none", component_id, "")
        record = {
            "name": "hooked",
            "computeType": "ACI",
            "appInsightsEnabled": False,
            "dataCollection": {"storageEnabled": False},
            "_backend": "inference",
            "_workspaceResourceId": workspace_id,
        }

        def hook(**changes: Any) -> int:
            record.update(changes)
            for call in state.service_hooks:
                call(state, dict(record))
            return state.request_count

        for call in state.service_hooks:  # a service without an inference server
            call(state, {**record, "name": "plain", "_backend": None})
        # The positive control of every "nothing arrives" below: a server whose App Insights stays on.
        for call in state.service_hooks:
            call(state, {**record, "name": "witness", "appInsightsEnabled": True})
        witness = Service(emulator, "s1", "rg1", "ws1", "witness", "none", component_id, "")
        status, _, body = score(service, {"data": [FIRST_ROW, SECOND_ROW]}, "plain-1", name="plain")
        assert (status, body) == (200, {"predictions": [FIRST_PREDICTION, SECOND_PREDICTION]})
        assert score(service, {"data": [[1]]}, "plain-2", name="plain")[0] == 500
        assert score(service, {"data": [FIRST_ROW]}, "nobody", name="nobody")[0] == 404

        hook()
        assert score(service, {"data": [FIRST_ROW]}, "off-1")[0] == 200
        state.faults.add(
            FaultRule.from_json({"kind": "status", "status": 503, "path": "/api/v1/service/hooked/"})
        )
        assert score(service, {"data": [FIRST_ROW]}, "fault-1")[0] == 503
        assert score(service, {"data": [FIRST_ROW]}, "fault-2")[0] == 200
        assert score(witness, {"data": [FIRST_ROW]}, "witness-1")[0] == 200
        _wait_for_rows(server, "witness", "witness-1")  # a later request of a server that is on arrived
        assert _rows_of(server, "hooked") == 0, "the server sent nothing while App Insights was off"

        mark = hook(appInsightsEnabled=True, dataCollection={"storageEnabled": True})
        assert (
            score(service, {"data": [FIRST_ROW]}, "on-1")[0] == 200
        )  # the next request meets the new server
        deadline = time.time() + TELEMETRY_WAIT
        while not _track_posts(server, mark) and time.time() < deadline:
            time.sleep(0.1)
        assert _track_posts(server, mark), (
            "the inference server sent no telemetry after App Insights was enabled"
        )

        hook(appInsightsEnabled=False)
        assert (
            score(service, {"data": [FIRST_ROW]}, "off-2")[0] == 200
        )  # the old server has flushed and exited
        settled = _rows_of(server, "hooked")
        assert score(service, {"data": [FIRST_ROW]}, "off-3")[0] == 200
        assert score(witness, {"data": [FIRST_ROW]}, "witness-2")[0] == 200
        _wait_for_rows(server, "witness", "witness-2")
        assert _rows_of(server, "hooked") == settled, "nothing more once App Insights is off again"
        assert _rows_of(server, "hooked", "off-2") == _rows_of(server, "hooked", "off-3") == 0
    finally:
        server.close()
    assert processes_under(server.data_dir) == []
