"""A v2 deployment backed by the real inference server and Collector, with Azurite for its blobs:
fixtures and helpers shared by the v2 tests (tests/e2e/test_online_inference.py, test_drift_v2.py)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from amlmon.emulator.sample_model.churn_model import ChurnModel
from tests.azurite import Azurite, start_azurite, stop_azurite
from tests.helpers import arm, deployment_path, http, make_workspace, wait_succeeded

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


def send_to(
    emulator: Any, dep: Deployment, deployment: str, bodies: list[Any], prefix: str = "m"
) -> dict[str, int]:
    """Score each body on one deployment of the endpoint (chosen by the azureml-model-deployment header,
    as a client pins one); the answered status codes, counted."""
    codes: dict[str, int] = {}
    for index, body in enumerate(bodies):
        status, headers, _ = http(
            emulator,
            "POST",
            dep.scoring_uri,
            raw=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "azureml-model-deployment": deployment,
                "x-ms-client-request-id": f"{prefix}{index}",
            },
        )
        assert headers["azureml-model-deployment"] == deployment
        codes[str(status)] = codes.get(str(status), 0) + 1
    return codes


def send_blue(emulator: Any, dep: Deployment, bodies: list[Any]) -> dict[str, int]:
    """Score each body on the endpoint's `blue` deployment (by header); answered status codes, counted."""
    return send_to(emulator, dep, "blue", bodies)


def score_each(emulator: Any, dep: Deployment, batches: list[list[list[float]]], prefix: str) -> list[str]:
    """Score each batch of rows (client request ids `{prefix}-{i}`), every one answered 200; the
    x-request-id of each answer, in order (what the collector records as correlationid)."""
    request_ids = []
    for index, rows in enumerate(batches):
        status, headers, _ = score(emulator, dep, rows, f"{prefix}-{index}")
        assert status == 200
        request_ids.append(headers["x-request-id"])
    return request_ids


def enable_blue(cli: Any, emulator: Any, dep: Deployment, *pipes: str) -> Any:
    """`amlmon diagnostics enable EP/blue PIPES…` succeeded (its CliResult) and the deployment has
    settled (its server restarted with the new collector configuration)."""
    on = cli("diagnostics", "enable", f"{dep.endpoint}/blue", *pipes, *dep.ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    wait_succeeded(emulator, deployment_path(dep.ws, dep.endpoint, "blue"))
    return on


def add_deployment(emulator: Any, dep: Deployment, name: str) -> None:
    """A second deployment of the fixture's endpoint (no traffic weight: reached by header only)."""
    status, answer = emulator.admin(
        "POST",
        "/_emulator/workspaces",
        {
            "subscription": dep.ws["subscription"],
            "resourceGroup": dep.ws["rg"],
            "name": dep.ws["ws"],
            "deployments": [{"endpoint": dep.endpoint, "name": name}],
        },
    )
    assert status in (200, 201), answer


class Followed:
    """`amlmon ARGS` following (-f, JSON lines) in a child process; a thread collects its lines as they
    arrive. `until` waits for a marker's count, `interrupt` is the user's Ctrl-C (its stderr back)."""

    def __init__(self, emulator: Any, args: list[str]) -> None:
        from tests.conftest import spawn_amlmon

        self.process = spawn_amlmon(args, emulator.env())
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for text in iter(self.process.stdout.readline, ""):
            self.lines.append(json.loads(text))

    def count(self, marker: str) -> int:
        return sum(marker in row["message"] for row in list(self.lines))

    def until(self, marker: str, count: int) -> None:
        deadline = time.time() + WAIT
        while self.count(marker) < count and time.time() < deadline:
            assert self.process.poll() is None, self.process.communicate()
            time.sleep(0.2)

    def interrupt(self) -> str:
        from tests.helpers import interrupt

        _, stderr = interrupt(self.process, timeout=30)
        self._reader.join(timeout=5)
        return stderr
