"""v2 online deployments backed by a real inference server: the scoring front door, the data
collector's sidecar, and the endpoint's resource logs.

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
  restarts when the deployment's collector settings change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.inference import (
    MODEL_DIR,
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
from amlmon.emulator.resources import normalize_id
from amlmon.emulator.store import utcnow

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
PROXY_TIMEOUT = 120.0
_FORWARDED = ("Content-Type", "x-ms-client-request-id", "x-request-id")
_ANSWER_HEADERS = ("Content-Type", "x-request-id", "x-ms-client-request-id", "x-ms-request-id")


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


# --- diagnostic settings of an endpoint ------------------------------------------------------------


def _sends(setting: dict[str, Any], category: str) -> bool:
    for log in (setting.get("properties") or {}).get("logs") or []:
        if log.get("enabled") and (
            str(log.get("category") or "").lower() == category.lower()
            or log.get("categoryGroup") == "allLogs"
        ):
            return True
    return False


def log_destinations(state: EmulatorState, resource_id: str, category: str) -> list[str]:
    """Log Analytics workspace ids a resource's diagnostic settings send `category` to."""
    found = []
    for setting in state.diagnostic_settings.settings(resource_id):
        workspace = (setting.get("properties") or {}).get("workspaceId")
        if workspace and _sends(setting, category):
            found.append(str(workspace))
    return found


def diagnostic_sources(state: EmulatorState, la_id: str) -> list[dict[str, Any]]:
    """Online endpoints whose diagnostic settings send logs to this Log Analytics workspace: their rows
    are in the workspace (logs_api adds them to a workspace query's scope)."""
    wanted = normalize_id(la_id)
    return [
        {"id": resource_id}
        for resource_id, settings in state.diagnostic_settings.items()
        if "/onlineendpoints/" in resource_id
        and any(
            normalize_id(str((s.get("properties") or {}).get("workspaceId") or "x")) == wanted
            for s in settings
        )
    ]


def _insert(state: EmulatorState, table: str, row: dict[str, Any]) -> None:
    delay = state.number("ingestionDelay", 0.0)
    row["_ItemId"] = str(uuid.uuid4())
    row["_IngestionTime"] = utcnow() + dt.timedelta(seconds=delay)
    state.telemetry.insert_rows(table, [row])


# --- the child and its configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class CollectorConfig:
    """What the deployment's dataCollector decides: a change restarts the child with a new config file."""

    collections: tuple[tuple[str, bool, float], ...]  # (name, enabled, samplingRate 0..1)
    rolling_rate: str

    @classmethod
    def of(cls, deployment: dict[str, Any]) -> CollectorConfig:
        collector = (deployment.get("properties") or {}).get("dataCollector") or {}
        collections = []
        for name, spec in sorted((collector.get("collections") or {}).items()):
            spec = spec or {}
            enabled = str(spec.get("dataCollectionMode") or "").lower() == "enabled"
            rate = spec.get("samplingRate")
            collections.append((name.lower(), enabled, 1.0 if rate is None else float(rate)))
        return cls(tuple(collections), str(collector.get("rollingRate") or "Hour"))

    def mdc_file(self) -> dict[str, Any]:
        """The file the Collector reads from AZUREML_MDC_CONFIG_PATH (keys from its config.py)."""
        return {
            "runMode": "cloud",
            "collections": {
                name: {"enabled": enabled, "sampleRatePercentage": rate * 100}
                for name, enabled, rate in self.collections
            },
        }

    def enabled(self, name: str) -> bool:
        return any(n == name.lower() and on for n, on, _ in self.collections)


@dataclass
class OnlineChild:
    deployment_id: str
    collector: CollectorConfig
    child: InferenceChild
    sidecar: Sidecar
    instance: str
    reader: threading.Thread | None = None


@dataclass
class _Pending:
    record: dict[str, Any]
    rows: list[Any]
    blob: str
    due: float


@dataclass
class Sidecar:
    """The collector's local endpoint for one child: plain HTTP on loopback, `POST /modeldata/log`."""

    manager: OnlineManager
    deployment_id: str
    collector: CollectorConfig
    instance: str
    server: ThreadingHTTPServer | None = None
    pending: dict[str, _Pending] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> None:
        sidecar = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.split("?")[0] != "/modeldata/log":
                    self.send_response(404)
                    self.end_headers()
                    return
                status = sidecar.receive({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.flush(force=True)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        kind = headers.get("ce-type", "")
        collection = kind.removeprefix("azureml.inference.")
        if not kind.startswith("azureml.inference.") or not collection:
            return 400
        if not self.collector.enabled(collection):
            return 200  # the collection is off: the platform drops its data
        try:
            data = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            self._count(collection, "InvalidPayload")
            return 400
        when = dt.datetime.fromtimestamp(int(float(headers.get("ce-time") or time.time())), dt.UTC)
        record = self._record(headers, collection, kind, when, data, len(body))
        blob = self._blob_name(collection, when)
        batch = self.manager.state.number("collectorBatchSeconds", 0.0)
        if batch <= 0 or not isinstance(data, list):
            try:
                stored = self.manager.append(self.deployment_id, blob, [record])
            except Exception as exc:  # the storage refused the write: the record is lost
                print(f"emulator: model data dropped: {type(exc).__name__}", file=sys.stderr)
                self._count(collection, "StorageWriteFailed")
                return 500
            self._count(collection, None if stored else "StorageUnavailable")
            return 200
        self._batch(collection, record, data, blob, batch)
        self._count(collection, None if self.manager.connection_string else "StorageUnavailable")
        return 200

    def _count(self, collection: str, error: str | None) -> None:
        """The post in the platform metrics DataCollectionEvents/ErrorsPerMinute."""
        from amlmon.emulator.platform_metrics import record_collection

        record_collection(self.manager.state, self.deployment_id, self.instance, collection, error)

    def _record(
        self,
        headers: dict[str, str],
        collection: str,
        kind: str,
        when: dt.datetime,
        data: Any,
        size: int,
    ) -> dict[str, Any]:
        """A record in the documented schema (AZURE-FACTS.md "Collector output")."""
        correlation = headers.get("ce-x-request-id")
        record: dict[str, Any] = {
            "specversion": "1.0",
            "id": headers.get("trace-id") or str(uuid.uuid4()),
            "source": self.deployment_id,
            "type": kind,
            "datacontenttype": headers.get("content-type", "application/json").split(";")[0],
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
            "correlationid": correlation,
            "xrequestid": correlation,
            "contentrange": f"bytes 0-{max(size - 1, 0)}/{size}",
        }
        if collection not in ("request", "response"):
            record["modelversion"] = headers.get("ce-model-version")
            record["collectdatatype"] = headers.get("ce-collect-data-type")
            record["agent"] = headers.get("ce-agent")
        return record

    def _blob_name(self, collection: str, when: dt.datetime) -> str:
        ids = self.deployment_id.strip("/").split("/")
        endpoint, deployment = ids[-3], ids[-1]
        # Hour is the default and what model monitoring reads; Day drops the hour folder. The other
        # rolling rates' layouts are not documented: written hourly.
        folder = f"{when:%Y/%m/%d}" if self.collector.rolling_rate.lower() == "day" else f"{when:%Y/%m/%d/%H}"
        return f"modelDataCollector/{endpoint}/{deployment}/{collection}/{folder}/{self.instance}.jsonl"

    def _batch(
        self, collection: str, record: dict[str, Any], rows: list[Any], blob: str, wait: float
    ) -> None:
        with self.lock:
            pending = self.pending.get(collection)
            if pending is not None and pending.blob == blob:
                pending.rows.extend(rows)
                return
            if pending is not None:
                self._write(pending)
            self.pending[collection] = _Pending(record, list(rows), blob, time.monotonic() + wait)
        timer = threading.Timer(wait, self.flush)
        timer.daemon = True
        timer.start()

    def flush(self, force: bool = False) -> None:
        with self.lock:
            due = [c for c, p in self.pending.items() if force or p.due <= time.monotonic() + 0.01]
            batches = [self.pending.pop(c) for c in due]
        for pending in batches:
            self._write(pending)

    def _write(self, pending: _Pending) -> None:
        text = json.dumps(pending.rows, separators=(",", ":"))
        size = len(text.encode("utf-8"))
        record = {
            **pending.record,
            "data": pending.rows,
            "contentrange": f"bytes 0-{max(size - 1, 0)}/{size}",
        }
        self.manager.append(self.deployment_id, pending.blob, [record])


class OnlineManager:
    """The inference-server children behind v2 deployments, their sidecars and the blobs they write."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.children: dict[str, OnlineChild] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.lock = threading.Lock()
        self.blob_locks: dict[str, threading.Lock] = {}
        self.connection_string: str | None = None
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
            print(
                "emulator: model data dropped: no storage (POST /_emulator/modeldata/storage)",
                file=sys.stderr,
            )
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
            current = self.children.get(key)
            if current is not None and current.child.alive and current.collector == wanted:
                return current
            if current is not None:
                self._stop(current)
            self.children[key] = self._start(deployment, wanted)
            return self.children[key]

    def _start(self, deployment: dict[str, Any], collector: CollectorConfig) -> OnlineChild:
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
        base = ChildConfig(
            service=ids[-1],
            workspace=ids[-5] if len(ids) >= 5 else "",
            app_insights=False,
            model_data=False,
            instrumentation_key=None,
            ingestion_endpoint=self.state.endpoint,
            ca_path="",
            export_seconds=5.0,
        )
        env = child_environment(base, dict(os.environ), work_dir)
        env.pop("SERVICE_NAME", None)  # its v2 value is not documented
        env.update(
            {
                "HOSTNAME": instance,
                "AZUREML_MDC_CONFIG_PATH": str(config_path),
                "AZUREML_MDC_HOST": "127.0.0.1",
                "AZUREML_MDC_PORT": str(sidecar.port),
            }
        )
        log_path = work_dir / "server.log"
        last: ChildStartError | None = None
        for _attempt in range(3):
            port = free_port()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "amlmon.emulator.inference",
                    "--entry_script",
                    str(ENTRY_SCRIPT),
                    "--model_dir",
                    str(MODEL_DIR),
                    "--port",
                    str(port),
                ],
                cwd=work_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            child = InferenceChild(ChildConfig(**{**base.__dict__}), process, port, log_path)
            online = OnlineChild(dep_id, collector, child, sidecar, instance)
            online.reader = threading.Thread(
                target=self._read_console, args=(online, deployment), daemon=True
            )
            online.reader.start()
            try:
                wait_ready(child, time.monotonic() + START_TIMEOUT)
                self._event(online, "Started", f"Started container {CONTAINER_NAME}")
                return online
            except ChildStartError as exc:
                stop_child(child, timeout=2)
                last = exc
        sidecar.stop()
        assert last is not None
        raise last

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
                    _insert(self.state, CONSOLE, row)
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
            _insert(self.state, EVENTS, row)

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


# --- the front door --------------------------------------------------------------------------------


def _endpoint(state: EmulatorState, name: str) -> dict[str, Any] | None:
    """The endpoint called `name` (the most recently created one if several workspaces have one)."""
    found = [
        e for e in state.resources.list(type=ML_ENDPOINTS) if str(e.get("name", "")).lower() == name.lower()
    ]
    if not found:
        return None
    return max(found, key=lambda e: str((e.get("systemData") or {}).get("createdAt") or ""))


def _pick_deployment(
    state: EmulatorState, endpoint: dict[str, Any], request: Request
) -> dict[str, Any] | None:
    asked = request.header("azureml-model-deployment")
    deployments = {
        str(d.get("name", "")).lower(): d
        for d in state.resources.list(prefix=f"{endpoint['id']}/deployments")
    }
    if asked:
        return deployments.get(asked.lower())
    traffic = {
        k.lower(): float(v) for k, v in ((endpoint.get("properties") or {}).get("traffic") or {}).items()
    }
    weighted = [(name, weight) for name, weight in traffic.items() if weight > 0 and name in deployments]
    if not weighted:
        return None
    names, weights = zip(*weighted, strict=True)
    return deployments[random.choices(names, weights=weights)[0]]


def _forward(
    online: OnlineChild, request: Request, request_id: str
) -> tuple[int, str, dict[str, str], bytes, float]:
    """POST /score to the child; (status, reason, headers, body, seconds to the first response byte)."""
    headers = {name: value for name in _FORWARDED if (value := request.header(name)) is not None}
    headers["x-request-id"] = request_id
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", online.child.port, timeout=PROXY_TIMEOUT)
    try:
        conn.request("POST", "/score", body=request.body, headers=headers)
        answer = conn.getresponse()
        first_byte = time.monotonic() - started
        body = answer.read()
    finally:
        conn.close()
    kept = {name: value for name in _ANSWER_HEADERS if (value := answer.getheader(name)) is not None}
    return answer.status, answer.reason, kept, body, first_byte


def _traffic_row(
    state: EmulatorState,
    endpoint: dict[str, Any],
    deployment: str,
    request: Request,
    request_id: str,
    outcome: dict[str, Any],
) -> dict[str, Any]:
    ws_id = str(endpoint["id"]).split("/onlineEndpoints/")[0]
    workspace = state.resources.get(ws_id) or {}
    return {
        "TimeGenerated": outcome["start"],
        "Method": request.method,
        "Path": request.path,
        "Protocol": "HTTP/1.1",
        "ResponseCode": outcome["status"],
        "ResponseCodeReason": outcome["reason"],
        "ModelStatusCode": outcome["model_status"],
        "ModelStatusReason": outcome["model_reason"],
        "TotalDurationMs": outcome["total_ms"],
        "RequestDurationMs": 0,  # the emulator's HTTP server has the whole body before the route runs
        "ResponseDurationMs": outcome["first_byte_ms"],
        "RequestThrottlingDelayMs": 0,
        "ResponseThrottlingDelayMs": 0,
        "RequestPayloadSize": len(request.body),
        "ResponsePayloadSize": outcome["size"],
        "XRequestId": request_id,
        "XMSClientRequestId": request.header("x-ms-client-request-id"),
        "EndpointName": endpoint.get("name"),
        "DeploymentName": deployment,
        "AuthType": (endpoint.get("properties") or {}).get("authMode"),
        "UserAgent": request.header("User-Agent"),
        "Location": endpoint.get("location"),
        "AzureMLWorkspaceId": (workspace.get("properties") or {}).get("workspaceId"),
        "AzureMLWorkspaceName": workspace.get("name"),
        "_ResourceId": str(endpoint["id"]).upper(),
    }


def score(state: EmulatorState, request: Request) -> Response:
    name = request.params["name"]
    endpoint = _endpoint(state, name)
    if endpoint is None:
        return json_response(404, {"message": f"Endpoint {name} not found."})
    started, start_time = time.monotonic(), utcnow()
    request_id = request.header("x-request-id") or str(uuid.uuid4())
    deployment = _pick_deployment(state, endpoint, request)
    model_status, model_reason, first_byte = 0, "", 0.0
    if deployment is None:
        response = json_response(404, {"message": "No valid deployments to route to."})
        dep_name = request.header("azureml-model-deployment") or ""
    else:
        dep_name = str(deployment.get("name"))
        response, model_status, model_reason, first_byte = _serve(state, deployment, request, request_id)
    response.headers.setdefault("x-request-id", request_id)
    response.headers["azureml-model-deployment"] = dep_name
    total_ms = round((time.monotonic() - started) * 1000)
    from amlmon.emulator.platform_metrics import record_request

    record_request(state, str(endpoint["id"]), dep_name, response.status, model_status, total_ms)
    if log_destinations(state, str(endpoint["id"]), TRAFFIC):
        outcome = {
            "start": start_time,
            "status": response.status,
            "reason": http.client.responses.get(response.status, ""),
            "model_status": model_status,
            "model_reason": model_reason,
            "total_ms": total_ms,
            "first_byte_ms": round(first_byte * 1000),
            "size": len(response.body),
        }
        _insert(state, TRAFFIC, _traffic_row(state, endpoint, dep_name, request, request_id, outcome))
    return response


def _serve(
    state: EmulatorState, deployment: dict[str, Any], request: Request, request_id: str
) -> tuple[Response, int, str, float]:
    """The deployment's answer, the model's own status and reason, and seconds to its first byte."""
    if not inference_backed(state, str(deployment["id"])):
        from amlmon.emulator.sample_model.churn_model import canned_prediction

        canned_status, canned = canned_prediction(request.body)
        reason = http.client.responses.get(canned_status, "")
        return json_response(canned_status, canned), canned_status, reason, 0.0
    try:
        online = state.online.ensure(deployment)
        status, reason, headers, body, first_byte = _forward(online, request, request_id)
    except ChildStartError as exc:
        message = f"The deployment's inference server is not available: {exc}"
        return json_response(503, {"message": message}), 0, "", 0.0
    except OSError as exc:
        message = f"The deployment's inference server did not answer: {exc}"
        return json_response(502, {"message": message}), 0, "", 0.0
    return Response(status, body, headers), status, reason, first_byte


def _storage(state: EmulatorState, request: Request) -> Response:
    body = request.json() or {}
    connection = body.get("connectionString") if isinstance(body, dict) else None
    if not connection:
        return json_response(400, {"message": "give connectionString"})
    state.online.connection_string = str(connection)
    return json_response(200, {"configured": True})


def register(router: Router, state: EmulatorState) -> None:
    online = state.online
    state.shutdown_hooks.append(online.shutdown)
    router.add("POST", r"/api/v1/endpoint/(?P<name>[^/]+)/score", lambda r: score(state, r))
    router.add("POST", r"/_emulator/modeldata/storage", lambda r: _storage(state, r))
