"""The emulator's fidelity contract: every row the seeder writes has exactly the tags and property keys of
the real inference server's envelope of its kind and generation (values may differ).

Ground truth: ../shared/reference/inference-server-telemetry/ (envelopes the real
azureml-inference-server-http 1.5.1 and 1.4.1 posted). The seeded rows are read back through the real
LogsQueryClient, as amlmon reads them, and compared key by key.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import json
import re
from typing import Any

import pytest

from tests.conftest import Emulator
from tests.helpers import logs_client, reference_telemetry

# Tags the service turns into columns of every table (the classic names). Device tags
# (ai.device.*, ai.internal.nodeName) become client_* columns the emulator does not keep.
TAG_COLUMNS = {
    "ai.cloud.role": "cloud_RoleName",
    "ai.cloud.roleInstance": "cloud_RoleInstance",
    "ai.operation.id": "operation_Id",
    "ai.operation.name": "operation_Name",
    "ai.operation.parentId": "operation_ParentId",
    "ai.session.id": "session_Id",
    "ai.user.id": "user_Id",
    "ai.application.ver": "application_Version",
    "ai.internal.sdkVersion": "sdkVersion",
}
DEVICE_TAGS = {
    "ai.device.id",
    "ai.device.locale",
    "ai.device.osVersion",
    "ai.device.type",
    "ai.internal.nodeName",
}
_LITERAL_KEY = re.compile(r"'([A-Za-z][A-Za-z ]*)': ")


def expected_columns(envelope: dict[str, Any]) -> set[str]:
    tags = set(envelope["tags"])
    unknown = tags - set(TAG_COLUMNS) - DEVICE_TAGS
    assert not unknown, f"a real tag this test does not know how to map: {unknown}"
    return {TAG_COLUMNS[tag] for tag in tags if tag in TAG_COLUMNS}


def filled_columns(row: dict[str, Any]) -> set[str]:
    return {column for column in TAG_COLUMNS.values() if row.get(column) not in (None, "")}


def properties(envelope: dict[str, Any]) -> dict[str, Any]:
    return dict(envelope["data"]["baseData"]["properties"])


def literal_keys(text: str) -> list[str]:
    """Keys of a 1.5.x `custom_dimensions` literal in order (whole or cut: the keys before the cut)."""
    parsed = None
    with contextlib.suppress(ValueError, SyntaxError):
        parsed = ast.literal_eval(text)
    if isinstance(parsed, dict):
        return list(parsed)
    return _LITERAL_KEY.findall(text.split("'Input': ")[0]) + (["Input"] if "'Input': " in text else [])


def mismatches(kind: str, rows: list[dict[str, Any]], example: dict[str, Any]) -> list[str]:
    """What differs between each seeded row and the real example: tag columns, property keys and types,
    and the keys inside the 1.5.x literal."""
    want_columns = expected_columns(example)
    want_props = properties(example)
    problems = []
    for row in rows:
        got_columns = filled_columns(row)
        if got_columns != want_columns:
            problems.append(
                f"{kind}: tag columns extra {sorted(got_columns - want_columns)}, "
                f"missing {sorted(want_columns - got_columns)}"
            )
        got_props = json.loads(row["customDimensions"])
        if set(got_props) != set(want_props):
            problems.append(
                f"{kind}: properties extra {sorted(set(got_props) - set(want_props))}, "
                f"missing {sorted(set(want_props) - set(got_props))}"
            )
            continue
        for key, value in want_props.items():
            if type(got_props[key]) is not type(value):
                problems.append(
                    f"{kind}: property {key!r} is {type(got_props[key]).__name__}, real {type(value).__name__}"
                )
        if "custom_dimensions" in want_props:
            got_keys = literal_keys(got_props["custom_dimensions"])
            want_keys = literal_keys(want_props["custom_dimensions"])
            if got_keys != want_keys:
                problems.append(f"{kind}: custom_dimensions keys {got_keys}, real {want_keys}")
    return sorted(set(problems))


def _rows(emulator: Emulator, ws: dict[str, Any], query: str) -> list[dict[str, Any]]:
    result = logs_client(emulator).query_resource(ws["appInsightsId"], query, timespan=dt.timedelta(hours=2))
    table = result.tables[0]
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


COLUMNS = "customDimensions, " + ", ".join(TAG_COLUMNS.values())


@pytest.fixture(scope="module", params=["1.5", "1.4"])
def seeded(request: pytest.FixtureRequest, emulator: Emulator) -> dict[str, Any]:
    generation = request.param
    ws = emulator.create_workspace(
        "fidelity",
        services=[{"name": "svc", "computeType": "ACI"}],
        deployments=[{"endpoint": "ep", "name": "blue", "endpointComputeType": "Managed"}],
    )
    seeded = emulator.seed(
        ws,
        ["svc", "ep/blue"],
        hours=1,
        ratePerMinute=10,
        generation=generation,
        seed=7,
        failureRate={"svc": 0.3, "ep/blue": 0.3},
        roles={"ep/blue": "platform-role"},
    )
    return {"ws": ws, "generation": generation, "truth": seeded["truth"]}


def _kinds(emulator: Emulator, ws: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    traces = _rows(emulator, ws, f"traces | project message, {COLUMNS}")
    return {
        "request": _rows(
            emulator, ws, f"requests | project resultCode = tostring(customDimensions.resultCode), {COLUMNS}"
        ),
        "print": [r for r in traces if r["message"] != "model_data_collection"],
        "model_data_collection": [r for r in traces if r["message"] == "model_data_collection"],
        "exception": _rows(emulator, ws, f"exceptions | project {COLUMNS}"),
    }


def test_every_seeded_record_has_exactly_the_real_keys(emulator: Emulator, seeded: dict[str, Any]) -> None:
    version = "v1.5.1" if seeded["generation"] == "1.5" else "v1.4.1"
    kinds = _kinds(emulator, seeded["ws"])
    examples = {
        "request": reference_telemetry(f"{version}-request-200.json"),
        "print": reference_telemetry(f"{version}-message-print-run.json"),
        "model_data_collection": reference_telemetry(f"{version}-message-model_data_collection.json"),
        "exception": reference_telemetry(f"{version}-exception.json"),
    }
    # the 500 example has the same keys as the 200 one: one contract for every request
    assert set(properties(reference_telemetry(f"{version}-request-500.json"))) == set(
        properties(examples["request"])
    )
    problems: list[str] = []
    for kind, example in examples.items():
        rows = kinds[kind]
        assert rows, f"the seed wrote no {kind} rows"
        if kind == "model_data_collection" and seeded["generation"] == "1.5":
            cut = [r for r in rows if len(json.loads(r["customDimensions"])["custom_dimensions"]) >= 8192]
            whole = [r for r in rows if r not in cut]
            assert cut, "the seed wrote no record cut at 8,192 characters"
            problems += mismatches(kind, whole, example)
            truncated = reference_telemetry("v1.5.1-message-model_data_collection-large-input-truncated.json")
            problems += mismatches(kind + " (truncated)", cut, truncated)
        else:
            problems += mismatches(kind, rows, example)
    assert problems == []
    # both generations' failures appear as properties the real server sends, never as invented ones
    assert {r["resultCode"] for r in kinds["request"]} == {"200", "500"}


def test_a_v2_deployment_writes_what_the_server_writes_for_its_service_name(
    emulator: Emulator, seeded: dict[str, Any]
) -> None:
    """No real v2 example exists: the same server with SERVICE_NAME = the platform's (unknown) value."""
    requests = _rows(
        emulator,
        seeded["ws"],
        "requests | project cloud_RoleName, svc = tostring(customDimensions['Service Name'])",
    )
    generic = seeded["generation"] == "1.4"
    pairs = {(r["cloud_RoleName"], r["svc"]) for r in requests}
    assert pairs == (
        {("azmlinfsrv", "svc"), ("azmlinfsrv", "platform-role")}
        if generic
        else {("svc", "svc"), ("platform-role", "platform-role")}
    )


def test_the_contract_catches_an_added_or_a_lost_key() -> None:
    """Positive control: the comparison itself fails on one key more or one key fewer."""
    example = reference_telemetry("v1.4.1-message-print-run.json")
    row = {
        "customDimensions": json.dumps(properties(example)),
        "cloud_RoleName": "azmlinfsrv",
        "cloud_RoleInstance": "vm",
        "operation_Id": "0" * 32,
        "operation_ParentId": "|0.",
        "sdkVersion": "py3",
    }
    assert mismatches("print", [row], example) == []
    added = {**row, "customDimensions": json.dumps({**properties(example), "Service Name": "svc"})}
    assert mismatches("print", [added], example) == ["print: properties extra ['Service Name'], missing []"]
    lost = {**row, "operation_ParentId": None}
    assert mismatches("print", [lost], example) == [
        "print: tag columns extra [], missing ['operation_ParentId']"
    ]
