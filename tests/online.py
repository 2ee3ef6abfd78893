"""A v2 deployment backed by the real inference server and Collector, with Azurite for its blobs:
fixtures and helpers shared by the v2 tests (tests/e2e/test_online_inference.py, test_drift_v2.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from amlmon.emulator.sample_model.churn_model import ChurnModel
from tests.azurite import Azurite, start_azurite, stop_azurite
from tests.helpers import arm, http, make_workspace

WAIT = 60.0  # seconds a v2 test waits for records, rows or metrics to appear
MODEL = ChurnModel.load()
FEATURES = list(MODEL.features)


@dataclass
class Deployment:
    ws: dict[str, Any]
    endpoint: str
    container: str
    scoring_uri: str


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    handle = start_azurite(tmp_path_factory.mktemp("azurite-mdc"))
    try:
        yield handle
    finally:
        stop_azurite(handle)


@pytest.fixture(scope="module")
def deployment(emulator: Any, azurite: Azurite) -> Deployment:
    status, answer = emulator.admin(
        "POST", "/_emulator/modeldata/storage", {"connectionString": azurite.connection_string}
    )
    assert status == 200 and "AccountKey" not in json.dumps(answer)
    endpoint = f"ep{uuid.uuid4().hex[:8]}"
    ws = make_workspace(
        emulator, deployments=[{"endpoint": endpoint, "name": "blue", "backend": "inference"}]
    )
    _, body, _ = arm(emulator, "GET", ws["id"])
    _, ep_body, _ = arm(emulator, "GET", f"{ws['id']}/onlineEndpoints/{endpoint}")
    return Deployment(
        ws,
        endpoint,
        f"azureml-blobstore-{body['properties']['workspaceId']}",
        ep_body["properties"]["scoringUri"],
    )


def score(
    emulator: Any, dep: Deployment, rows: list[list[float]], client_id: str
) -> tuple[int, dict[str, str], Any]:
    status, headers, body = http(
        emulator,
        "POST",
        dep.scoring_uri,
        raw=json.dumps({"data": rows}).encode(),
        headers={"Content-Type": "application/json", "x-ms-client-request-id": client_id},
    )
    return status, headers, json.loads(body) if body else None


def blob_records(azurite: Azurite, container: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every whole JSON line under `prefix`, by blob name."""
    client = azurite.service().get_container_client(container)
    if not client.exists():
        return {}
    found: dict[str, list[dict[str, Any]]] = {}
    for blob in client.list_blobs(name_starts_with=prefix):
        text = client.download_blob(blob.name).readall().decode()
        whole = text.split("\n")[:-1]  # a line not yet ended by a newline is still being written
        found[blob.name] = [json.loads(line) for line in whole if line.strip()]
    return found


def send_blue(emulator: Any, dep: Deployment, bodies: list[Any]) -> dict[str, int]:
    """Score each body on the endpoint's `blue` deployment (by header); answered status codes, counted."""
    codes: dict[str, int] = {}
    for index, body in enumerate(bodies):
        status, headers, _ = http(
            emulator,
            "POST",
            dep.scoring_uri,
            raw=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "azureml-model-deployment": "blue",
                "x-ms-client-request-id": f"m{index}",
            },
        )
        assert headers["azureml-model-deployment"] == "blue"
        codes[str(status)] = codes.get(str(status), 0) + 1
    return codes
