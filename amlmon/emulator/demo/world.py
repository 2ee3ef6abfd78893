"""The demo's sample world: one workspace with two v1 services and one v2 deployment, a day of history,
real scoring traffic through the emulator, and Azurite for the v2 collector's blobs when installed."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlmon.emulator.azurite import Azurite, start_azurite
from amlmon.emulator.client import AdminClient
from amlmon.emulator.demo.shell import quietly

SUBSCRIPTION = "00000000-0000-0000-0000-00000000de00"  # a GUID, as every subscription ID is
RESOURCE_GROUP = "amlmon-demo"
WORKSPACE = "demo-ws"


@dataclass
class Demo:
    """What every step of the story needs: the emulator, the commands' environment, the blob storage."""

    admin: AdminClient
    state: dict[str, Any]  # the emulator's state file: endpoint, CA path
    env: dict[str, str]  # the environment of every amlmon command (AMLMON_*, PYTHONPATH)
    data_dir: Path
    azurite: Azurite | None = None

    @property
    def storage_env(self) -> dict[str, str]:
        """`env` with the connection string of the collector's storage, as a user would export it for the
        commands that read blobs (only those: `doctor` would read the export account through it too)."""
        assert self.azurite is not None
        return {**self.env, "AZURE_STORAGE_CONNECTION_STRING": self.azurite.connection_string}


def create_workspace(admin: AdminClient) -> dict[str, Any]:
    body = {
        "subscription": SUBSCRIPTION,
        "resourceGroup": RESOURCE_GROUP,
        "name": WORKSPACE,
        "location": "westeurope",
        "services": [
            {"name": "churn-aci", "computeType": "ACI", "backend": "inference"},
            {"name": "fraud-aks", "computeType": "AKS"},
        ],
        "deployments": [
            {
                "endpoint": "credit-ep",
                "name": "blue",
                "endpointComputeType": "Managed",
                "backend": "inference",
            }
        ],
        "storageAccounts": [{"name": "amlmondemostore", "location": "westeurope"}],
    }
    status, answer = admin.call("POST", "/_emulator/workspaces", body)
    if status >= 400:
        raise SystemExit(f"could not create the demo workspace (HTTP {status}): {answer}")
    return dict(answer or {})


def start_storage(demo: Demo) -> None:
    """Azurite as the storage account the v2 collector writes to, when `make install` installed it; the
    demo says so and goes on without the collector's blobs when it did not."""
    try:
        demo.azurite = start_azurite(demo.data_dir / "azurite")
    except RuntimeError as exc:
        print(f"skipping the v2 collector's blobs: {exc}")
        return
    status, answer = demo.admin.call(
        "POST", "/_emulator/modeldata/storage", {"connectionString": demo.azurite.connection_string}
    )
    if status >= 400:
        raise SystemExit(f"could not give the emulator its blob storage (HTTP {status}): {answer}")
    print(f"Azurite (blob storage for the v2 collector) listening on {demo.azurite.blob_endpoint}")


def seed_history(admin: AdminClient) -> None:
    body = {
        "subscription": SUBSCRIPTION,
        "resourceGroup": RESOURCE_GROUP,
        "workspace": WORKSPACE,
        "services": ["fraud-aks", "credit-ep/blue"],
        "hours": 24,
        "ratePerMinute": 10,
        "generation": "mixed",
    }
    status, answer = admin.call("POST", "/_emulator/telemetry/seed", body, timeout=600)
    if status >= 400:
        raise SystemExit(f"could not seed telemetry (HTTP {status}): {answer}")


def send_traffic(state: dict[str, Any], service: str, count: int = 8, *, endpoint: bool = False) -> list[str]:
    """Score a few requests through the emulator's scoring URI (one of them fails on purpose); with
    `endpoint`, through a v2 endpoint's front door. The x-request-id of each answered request."""
    context = ssl.create_default_context(cafile=str(state["ca_path"]))
    url = f"{state['endpoint']}/api/v1/{'endpoint' if endpoint else 'service'}/{service}/score"
    answered: list[str] = []
    failed = 0
    for index in range(count):
        payload = {"data": [[index, index * 0.5, 1.0, 2.0]]} if index != 3 else {"oops": True}
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=60) as answer:
                answered.append(str(answer.headers.get("x-request-id") or ""))
        except urllib.error.HTTPError:
            failed += 1
    print(f"sent {count} scoring requests to {service} ({failed} failed on purpose)")
    return answered


def wait_for_telemetry(env: dict[str, str], service: str, timeout: float = 60.0) -> None:
    """App Insights ingestion lags; wait (quietly) until the service's requests are queryable."""
    query = f'requests | where cloud_RoleName == "{service}" | count'
    counted = [""]

    def ingested() -> bool:
        result = quietly("query", query, "--since", "1h", "-o", "tsv", env=env)
        counted[0] = result.stdout.strip() if result.returncode == 0 else ""
        return counted[0] not in ("", "0")

    wait_until(f"no telemetry from {service}", ingested, timeout)
    print(f"{service}: {counted[0]} requests ingested")


def wait_until(what: str, ready: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll `ready()` (quietly) until it is true; the demo fails after `timeout` seconds."""
    deadline = time.time() + timeout
    while not ready():
        if time.time() > deadline:
            raise SystemExit(f"demo: {what} after {timeout:.0f}s")
        time.sleep(0.5)
