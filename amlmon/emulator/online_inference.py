"""v2 online deployments backed by a real inference server: the children, their collector config, and the
endpoint's resource logs (console lines, container events). The scoring front door is online_scoring.py,
the collector's sidecar collector.py.

A deployment created through the admin API with `"backend": "inference"` is served by a real
`azmlinfsrv` child (started as for v1 services, see inference.py) running `sample_model/score_v2.py`,
which logs its inputs and outputs with the real `azureml-ai-monitoring` Collector.

The Collector (azureml-ai-monitoring 1.0.0, read from its source) is switched on by
`AZUREML_MDC_CONFIG_PATH`: a JSON file `{"collections": {NAME: {"enabled", "sampleRatePercentage"}},
"runMode"}`; it drops rows itself for a disabled collection or a missed sample. It posts each
DataFrame from a worker thread to `http://{AZUREML_MDC_HOST}:{AZUREML_MDC_PORT}/modeldata/log`
(default 127.0.0.1:50011) with body `df.to_json(orient="records")` and headers `trace-id` (the
payload id), `ce-type` (`azureml.inference.{collection}`), `ce-time` (epoch seconds),
`ce-collect-data-type`, `ce-agent`, `ce-x-request-id` (the correlation id), `ce-model-version`.
The emulator writes the config file from the deployment's `dataCollector` (mode, samplingRate as a
percentage) and runs one plain-HTTP sidecar per child on a free port. The sidecar turns each post into
a record of the documented schema and appends it as a line to an append blob
`modelDataCollector/{ep}/{dep}/{collection}/yyyy/MM/dd/HH/{instance}.jsonl` (rolling rate Day drops
`HH/`) in the workspace's default datastore container `azureml-blobstore-{workspace guid}`, on the
storage account given by `POST /_emulator/modeldata/storage {"connectionString"}` (kept in memory,
never echoed — Azurite's in tests). Setting `collectorBatchSeconds` > 0 makes the sidecar batch a
collection's posts that arrive within that many seconds into one record (the first post's id and
correlation id, rows of all), as the real collector does for requests close in time.

Front door (public, like the emulator's v1 scoring route):
  POST {endpoint}/api/v1/endpoint/{ep}/score — to the deployment named by the `azureml-model-deployment`
  header, else one chosen by the endpoint's traffic weights; a fresh `x-request-id` unless the client
  sent one. When the endpoint has a diagnostic setting with AmlOnlineEndpointTrafficLog (ConsoleLog,
  EventLog) to a Log Analytics workspace, each request becomes a traffic-log row (durations measured
  here, in whole milliseconds), each line the child prints a console-log row, and the child's start
  and stop the container events `Started` and `Killing`. A child starts with the first request and
  restarts (as Azure rolls the deployment) when the deployment's collector settings or its
  `appInsightsEnabled` change. With `appInsightsEnabled` true the child sends App Insights telemetry with
  the workspace's component key to the emulator, as v1 children do; SERVICE_NAME stays unset (its v2
  value is not documented), so the server's own default role name labels the rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.emulator.collector import CollectorConfig, Sidecar
from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.inference import SERVER_EXPORT_SECONDS, server_command
from amlmon.emulator.inference_process import (
    SAMPLE_APP_DIR,
    START_TIMEOUT,
    ChildConfig,
    ChildStartError,
    InferenceChild,
    child_environment,
    free_port,
    stop_child,
    wait_ready,
)
from amlmon.emulator.log_ledger import insert_row, log_destinations
from amlmon.emulator.resources import normalize_id
from amlmon.emulator.store import utcnow
from amlmon.emulator.tls import CA_FILE

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

ENTRY_SCRIPT = SAMPLE_APP_DIR / "score_v2.py"
BACKENDS = "/_online_backends"  # resources() key: {deployment id (lower-case): backend}
BACKEND = "inference"
ML_ENDPOINTS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
CONSOLE = "AmlOnlineEndpointConsoleLog"
TRAFFIC = "AmlOnlineEndpointTrafficLog"
EVENTS = "AmlOnlineEndpointEventLog"
CONTAINER_NAME = "inference-server"


# --- which deployments have an inference server ----------------------------------------------------


def mark_backend(state: EmulatorState, deployment_id: str, backend: str | None) -> None:
    """Remember (persisted beside the resources, not in the ARM body) that a deployment is backed."""
    if backend != BACKEND:
        return
    store = state.resources
    table = store.get(BACKENDS) or {}
    table[normalize_id(deployment_id)] = backend
    store.put(BACKENDS, table)


def inference_backed(state: EmulatorState, deployment_id: str) -> bool:
    return (state.resources.get(BACKENDS) or {}).get(normalize_id(deployment_id)) == BACKEND


# --- the child and its configuration ---------------------------------------------------------------


@dataclass
class OnlineChild:
    deployment_id: str
    collector: CollectorConfig
    child: InferenceChild
    sidecar: Sidecar
    instance: str
    reader: threading.Thread | None = None


class OnlineManager:
    """The inference-server children behind v2 deployments, their sidecars and the blobs they write."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.children: dict[str, OnlineChild] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.lock = threading.Lock()
        self.blob_locks: dict[str, threading.Lock] = {}
        self.connection_string: str | None = None
        self.said: set[str] = set()  # causes of lost records already said on stderr
        self.closed = False

    # -- storage ------------------------------------------------------------------------------------
    def container(self, deployment_id: str) -> str:
        """The default datastore's container: azureml-blobstore-{the workspace's guid}."""
        workspace = self.state.resources.get(deployment_id.split("/onlineEndpoints/")[0]) or {}
        guid = (workspace.get("properties") or {}).get("workspaceId") or "unknown"
        return f"azureml-blobstore-{guid}"

    def append(self, deployment_id: str, blob: str, records: list[dict[str, Any]]) -> bool:
        """Append JSON lines to an append blob (created on first write), one append per call; False
        when there is no storage to write to."""
        if not self.connection_string:
            self.lost(deployment_id, "no storage is configured (POST /_emulator/modeldata/storage)")
            return False
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        from azure.storage.blob import BlobServiceClient

        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode("utf-8")
        container = self.container(deployment_id)
        service = BlobServiceClient.from_connection_string(self.connection_string)
        client = service.get_blob_client(container, blob)
        with self.lock:
            blob_lock = self.blob_locks.setdefault(f"{container}/{blob}", threading.Lock())
        with blob_lock:
            try:
                client.append_block(data)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):
                    service.create_container(container)
                with contextlib.suppress(ResourceExistsError):
                    client.create_append_blob()
                client.append_block(data)
        return True

    def lost(self, deployment_id: str, cause: str | BaseException) -> None:
        """Say on stderr, once per cause, that the collector loses records (the real collector logs its
        failures to the console log; the emulator's own console is its stderr)."""
        text = cause if isinstance(cause, str) else storage_error(cause)
        with self.lock:
            if text in self.said:
                return
            self.said.add(text)
        ids = deployment_id.strip("/").split("/")
        print(
            f"emulator: the data collector of {ids[-3]}/{ids[-1]} cannot write to storage, its records "
            f"are lost: {text} (said once per cause)",
            file=sys.stderr,
            flush=True,
        )

    def upload(self, deployment_id: str, blob: str, data: bytes, content_type: str) -> str:
        """Write a whole block blob (a payload the collector keeps apart from its records); its URL as the
        workspace's datastore names the account: https://{account}.blob.core.windows.net/{container}/{blob}."""
        from urllib.parse import quote

        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient, ContentSettings

        assert self.connection_string, "append() refuses first when there is no storage"
        container = self.container(deployment_id)
        service = BlobServiceClient.from_connection_string(self.connection_string)
        with contextlib.suppress(ResourceExistsError):
            service.create_container(container)
        service.get_blob_client(container, blob).upload_blob(
            data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
        )
        account = service.account_name
        return f"https://{account}.blob.core.windows.net/{container}/{quote(blob)}"

    # -- children -----------------------------------------------------------------------------------
    def ensure(self, deployment: dict[str, Any]) -> OnlineChild:
        dep_id = str(deployment["id"])
        key = normalize_id(dep_id)
        with self.lock:
            lock = self.locks.setdefault(key, threading.Lock())
        with lock:
            if self.closed:
                raise ChildStartError("the emulator is shutting down")
            wanted = CollectorConfig.of(deployment)
            config = self.child_config(deployment)
            current = self.children.get(key)
            if (
                current is not None
                and current.child.alive
                and current.collector == wanted
                and current.child.config == config
            ):
                return current
            if current is not None:  # Azure rolls the deployment when its settings change
                self._stop(current)
            self.children[key] = self._start(deployment, wanted, config)
            return self.children[key]

    def child_config(self, deployment: dict[str, Any]) -> ChildConfig:
        """What decides the server's environment: App Insights on when the deployment's
        appInsightsEnabled is, with the workspace's App Insights component key (lower-case, as v1)
        and the emulator as the ingestion endpoint."""
        ids = str(deployment["id"]).strip("/").split("/")
        workspace_id = str(deployment["id"]).split("/onlineEndpoints/")[0]
        enabled = bool((deployment.get("properties") or {}).get("appInsightsEnabled"))
        key, _connection = self.state.inference.component_key(workspace_id) if enabled else (None, None)
        export = self.state.settings.get("inferenceExportSeconds", SERVER_EXPORT_SECONDS)
        return ChildConfig(
            service=ids[-1],
            workspace=ids[-5] if len(ids) >= 5 else "",
            app_insights=enabled,
            model_data=False,
            instrumentation_key=key,
            ingestion_endpoint=self.state.endpoint,
            ca_path=str(self.state.data_dir / CA_FILE),
            export_seconds=max(0.1, float(export)),
        )

    def _start(
        self, deployment: dict[str, Any], collector: CollectorConfig, base: ChildConfig
    ) -> OnlineChild:
        dep_id = str(deployment["id"])
        ids = dep_id.strip("/").split("/")
        work_dir = (
            self.state.data_dir / "online" / re.sub(r"[^a-z0-9._-]", "_", f"{ids[-3]}-{ids[-1]}".lower())
        )
        work_dir.mkdir(parents=True, exist_ok=True)
        config_path = work_dir / "mdc_config.json"
        config_path.write_text(json.dumps(collector.mdc_file()))
        instance = f"{ids[-1]}-{uuid.uuid4().hex[:10]}"
        sidecar = Sidecar(self, dep_id, collector, instance)
        sidecar.start()
        env = _online_environment(base, work_dir, instance, config_path, sidecar.port)
        last: ChildStartError | None = None
        for _attempt in range(3):
            online = OnlineChild(dep_id, collector, _spawn_child(base, work_dir, env), sidecar, instance)
            try:
                self._await_ready(online, deployment)
                return online
            except ChildStartError as exc:
                stop_child(online.child, timeout=2)
                last = exc
        sidecar.stop()
        assert last is not None
        raise last

    def _await_ready(self, online: OnlineChild, deployment: dict[str, Any]) -> None:
        """Drain the child's console from now on; once it answers, its container event `Started`."""
        online.reader = threading.Thread(target=self._read_console, args=(online, deployment), daemon=True)
        online.reader.start()
        wait_ready(online.child, time.monotonic() + START_TIMEOUT)
        self._event(online, "Started", f"Started container {CONTAINER_NAME}")

    def _read_console(self, online: OnlineChild, deployment: dict[str, Any]) -> None:
        """The child's stdout: to its log file, and to AmlOnlineEndpointConsoleLog where a setting sends it."""
        process = online.child.process
        assert process.stdout is not None
        endpoint_id = online.deployment_id.split("/deployments/")[0]
        image = str((deployment.get("properties") or {}).get("environmentId") or "")
        with open(online.child.log_path, "ab") as log:
            for raw in iter(process.stdout.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line or not log_destinations(self.state, endpoint_id, CONSOLE):
                    continue
                row = {
                    "TimeGenerated": utcnow(),
                    "InstanceId": online.instance,
                    "DeploymentName": online.deployment_id.rsplit("/", 1)[-1],
                    "ContainerName": CONTAINER_NAME,
                    "ContainerImageName": image,
                    "Message": line,
                    "_ResourceId": endpoint_id.upper(),
                }
                try:
                    insert_row(self.state, CONSOLE, row)
                except Exception:  # the store closes before the children at shutdown: keep draining
                    continue

    def _event(self, online: OnlineChild, name: str, message: str) -> None:
        """A container lifecycle row in AmlOnlineEndpointEventLog, where a setting sends that category."""
        endpoint_id = online.deployment_id.split("/deployments/")[0]
        if not log_destinations(self.state, endpoint_id, EVENTS):
            return
        row = {
            "TimeGenerated": utcnow(),
            "InstanceId": online.instance,
            "DeploymentName": online.deployment_id.rsplit("/", 1)[-1],
            "Name": name,
            "Message": message,
            "_ResourceId": endpoint_id.upper(),
        }
        with contextlib.suppress(Exception):  # the store may already be closed at shutdown
            insert_row(self.state, EVENTS, row)

    def _stop(self, online: OnlineChild) -> None:
        self._event(online, "Killing", f"Stopping container {CONTAINER_NAME}")
        stop_child(online.child)
        online.sidecar.stop()

    def shutdown(self) -> None:
        with self.lock:
            self.closed = True
            running = list(self.children.values())
            self.children.clear()
        for online in running:
            self._stop(online)


def _online_environment(
    base: ChildConfig, work_dir: Path, instance: str, config_path: Path, collector_port: int
) -> dict[str, str]:
    """A v1 child's environment plus what a v2 deployment's container has: its HOSTNAME (the instance)
    and the Collector's config and sidecar address."""
    env = child_environment(base, dict(os.environ), work_dir)
    # Its v2 value is not documented: unset, the server labels its telemetry with its own default
    # (azureml-inference-server-http 1.5.1: role and Service Name "ML service").
    env.pop("SERVICE_NAME", None)
    env.update(
        {
            "HOSTNAME": instance,
            "AZUREML_MDC_CONFIG_PATH": str(config_path),
            "AZUREML_MDC_HOST": "127.0.0.1",
            "AZUREML_MDC_PORT": str(collector_port),
        }
    )
    return env


def storage_error(exc: BaseException) -> str:
    """What the storage said, without the request (its URL or headers could carry a SAS or key)."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    said = " ".join(str(part) for part in (status and f"HTTP {status}", code) if part)
    return f"{type(exc).__name__}" + (f" ({said})" if said else "")


def _spawn_child(base: ChildConfig, work_dir: Path, env: dict[str, str]) -> InferenceChild:
    """azmlinfsrv with score_v2.py on a free port; its console (stdout and stderr) on one pipe."""
    port = free_port()
    process = subprocess.Popen(
        server_command(ENTRY_SCRIPT, port),
        cwd=work_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return InferenceChild(ChildConfig(**{**base.__dict__}), process, port, work_dir / "server.log")


def _storage(state: EmulatorState, request: Request) -> Response:
    body = request.json() or {}
    connection = body.get("connectionString") if isinstance(body, dict) else None
    if not connection:
        return json_response(400, {"message": "give connectionString"})
    state.online.connection_string = str(connection)
    state.online.said.clear()  # a new account: its failures are news
    return json_response(200, {"configured": True})


def register(router: Router, state: EmulatorState) -> None:
    online = state.online
    state.shutdown_hooks.append(online.shutdown)
    router.add("POST", r"/_emulator/modeldata/storage", lambda r: _storage(state, r))
