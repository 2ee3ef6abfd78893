"""v1 services as model management keeps them: the store (persisted as JSON), the body of a new service,
its public view, and the hooks told of every change (inference.py starts and stops servers on them)."""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.emulator.resources import at_address

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

SERVICES_FILE = "mms_services.json"


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


def workspace_resource_id(sub: str, rg: str, ws: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"


class ServiceStore:
    """v1 services keyed by (workspace ID, name), lower-cased; persisted as JSON, written atomically."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.path: Path = state.data_dir / SERVICES_FILE
        self.lock = threading.RLock()
        self.services: dict[str, dict[str, Any]] = (
            json.loads(self.path.read_text()) if self.path.exists() else {}
        )
        self.operations: dict[str, dict[str, Any]] = {}
        self.fail_next: dict[str, str] = {}

    @staticmethod
    def key(workspace_id: str, name: str) -> str:
        return f"{workspace_id.lower()}|{name.lower()}"

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.services))
            tmp.replace(self.path)

    def in_workspace(self, workspace_id: str) -> list[dict[str, Any]]:
        prefix = workspace_id.lower() + "|"
        with self.lock:
            return [copy.deepcopy(s) for k, s in self.services.items() if k.startswith(prefix)]

    def get(self, workspace_id: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.services.get(self.key(workspace_id, name))
            return copy.deepcopy(found) if found is not None else None

    def put(self, service: dict[str, Any]) -> None:
        with self.lock:
            self.services[self.key(service["_workspaceResourceId"], service["name"])] = copy.deepcopy(service)
            self.save()


def run_hooks(state: EmulatorState, service: dict[str, Any]) -> None:
    for hook in list(state.service_hooks):
        try:
            hook(state, copy.deepcopy(service))
        except Exception as exc:  # a hook must never break the API
            print(f"emulator: service hook failed: {exc!r}")


def create_services(state: EmulatorState, workspace_id: str, specs: list[dict[str, Any]]) -> list[str]:
    """Create the v1 services of POST /_emulator/workspaces (existing ones are kept)."""
    store = state.services
    names = []
    for spec in specs:
        name = spec["name"]
        names.append(name)
        if store.get(workspace_id, name) is not None:
            continue
        service = _service_body(state, workspace_id, spec)
        store.put(service)
        run_hooks(state, service)
    return names


def _service_body(state: EmulatorState, workspace_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    name, compute = spec["name"], spec.get("computeType", "ACI").upper()
    created = now_text()
    body: dict[str, Any] = {
        "id": name,
        "name": name,
        "description": spec.get("description", ""),
        "kvTags": spec.get("kvTags", {}),
        "properties": {"hasInferenceSchema": "False", "hasHttps": "False"},
        "operationId": None,
        "state": spec.get("state", "Healthy"),
        "createdTime": created,
        "updatedTime": created,
        "error": None,
        "computeType": compute,
        "environmentImageRequest": None,
        "models": [{"name": "sample-model", "version": 1, "id": "sample-model:1"}],
        "imageId": None,
        "imageDetails": None,
        "createdBy": {"userName": "amlmon-emulator"},
        "scoringUri": f"{state.endpoint}/api/v1/service/{name}/score",
        "swaggerUri": f"{state.endpoint}/api/v1/service/{name}/swagger.json",
        "appInsightsEnabled": bool(spec.get("appInsightsEnabled", False)),
        "dataCollection": {
            "eventHubEnabled": False,
            "storageEnabled": bool(spec.get("storageEnabled", False)),
        },
        "containerResourceRequirements": {"cpu": 0.1, "memoryInGB": 0.5, "gpu": 0},
        "_workspaceResourceId": workspace_id,
        "_backend": spec.get("backend"),
    }
    if compute == "AKS":
        body.update(
            {
                "computeName": "aks-cluster",
                "authEnabled": True,
                "aadAuthEnabled": False,
                "autoScaler": {"autoscaleEnabled": True, "minReplicas": 1, "maxReplicas": 10},
                "numReplicas": None,
                "maxConcurrentRequestsPerContainer": 1,
                "namespace": "azureml-" + workspace_id.rsplit("/", 1)[-1].lower(),
            }
        )
    else:
        body.update({"authEnabled": False, "sslEnabled": False, "location": "westeurope", "publicIp": None})
    return body


def public(service: dict[str, Any], endpoint: str | None = None) -> dict[str, Any]:
    """The API view: no private keys; scoring URIs on the current endpoint (the port changes on restart)."""
    view = {k: v for k, v in service.items() if not k.startswith("_")}
    return at_address(view, endpoint) if endpoint else view
