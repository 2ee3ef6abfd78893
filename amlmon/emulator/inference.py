"""Real azureml-inference-server-http processes behind emulated v1 services, and the scoring routes.

A v1 service created with `"backend": "inference"` is served by a real `azmlinfsrv` child running the
sample scoring app shipped in `sample_model/`. Its App Insights switches follow the service: when
`appInsightsEnabled` or `dataCollection.storageEnabled` change (mms.py calls our service hook), the
child is restarted with the environment the Azure ML platform would give it, except that the
exporter's ingestion endpoint is the emulator itself. The telemetry it sends is therefore the real
server's own (AZURE-FACTS.md "What a deployed model actually sends"):

  AML_APP_INSIGHTS_ENABLED / AML_APP_INSIGHTS_KEY (lower-case GUID) switch App Insights on;
  AML_MDC_STORAGE_ENABLED=true turns on `model_data_collection` traces (the documented
  AML_MODEL_DC_STORAGE_ENABLED does not work in 1.5.1); SERVICE_NAME / WORKSPACE_NAME label rows;
  APPLICATIONINSIGHTS_CONNECTION_STRING carries the IngestionEndpoint (the server builds its own
  connection string from the key alone, and the exporter falls back to this variable for the
  endpoint); REQUESTS_CA_BUNDLE / SSL_CERT_FILE make the exporter's azure-core transport (requests)
  trust the emulator's CA.

The child is started through this module (`python -m amlmon.emulator.inference --entry_script ...`),
which runs the server's own CLI with two changes: it binds 127.0.0.1 instead of 0.0.0.0 (the emulator
listens on loopback only), and the export interval (5 s in the server) follows the emulator setting
`inferenceExportSeconds` so tests see telemetry within a second or two.

Routes (public, like a service's scoring URI):
  POST {endpoint}/api/v1/service/{name}/score    proxied to the child's /score, or answered in-process
                                                 by the same sample model for services without a child
  GET  {endpoint}/api/v1/service/{name}/swagger.json
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.tls import CA_FILE

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

SAMPLE_APP_DIR = Path(__file__).resolve().parent / "sample_model"
ENTRY_SCRIPT = SAMPLE_APP_DIR / "score.py"
MODEL_DIR = SAMPLE_APP_DIR / "azureml-models" / "sample-churn" / "1"
BACKEND = "inference"
SERVER_EXPORT_SECONDS = (
    5.0  # what azmlinfsrv uses; the emulator setting `inferenceExportSeconds` overrides it
)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
PROXY_TIMEOUT = 120.0
# Environment the platform controls: never inherited from the emulator's own environment.
_PLATFORM_VARIABLES = re.compile(
    r"^(AML_|AZUREML_|APPLICATIONINSIGHTS_|APPINSIGHTS_|OTEL_|SERVICE_|WORKSPACE_NAME$|SERVER_PORT$|HEALTH_PORT$"
    r"|WORKER_|GUNICORN_|AMLMON_INFERENCE_|HOSTNAME$)"
)
# Headers a scoring client sends that the server reads; and the server's answer headers worth passing on.
_FORWARDED_REQUEST_HEADERS = (
    "Content-Type",
    "x-ms-client-request-id",
    "x-ms-request-id",
    "x-request-id",
    "TraceId",
)
_FORWARDED_RESPONSE_HEADERS = (
    "Content-Type",
    "x-ms-request-id",
    "x-ms-client-request-id",
    "x-request-id",
    "x-ms-run-fn-exec-ms",
    "x-ms-run-function-failed",
    "x-ms-server-version",
    "TraceId",
)


class ChildStartError(RuntimeError):
    """The inference server did not come up; the message names its log file."""


@dataclass(frozen=True)
class ChildConfig:
    """Everything that decides a child's environment: a change means a restart."""

    service: str
    workspace: str
    app_insights: bool
    model_data: bool
    instrumentation_key: str | None
    ingestion_endpoint: str
    ca_path: str
    export_seconds: float

    @property
    def telemetry_on(self) -> bool:
        return self.app_insights and bool(self.instrumentation_key)


@dataclass
class ServiceEntry:
    """One emulated v1 service as the scoring routes know it."""

    key: tuple[str, str]  # (workspace resource id, service name), both lower-case
    name: str
    workspace_id: str
    backend: str | None
    app_insights: bool = False
    model_data: bool = False
    updated: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # serialises (re)starts
    child: InferenceChild | None = None


@dataclass
class InferenceChild:
    config: ChildConfig
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def child_environment(config: ChildConfig, base: dict[str, str], work_dir: Path) -> dict[str, str]:
    """The child's environment: the emulator's minus platform variables, plus what the platform would set."""
    env = {k: v for k, v in base.items() if not _PLATFORM_VARIABLES.match(k)}
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost,::1"]))
    env.update(
        {
            "SERVICE_NAME": config.service,
            "WORKSPACE_NAME": config.workspace,
            "HOSTNAME": f"{config.service}-emulated-0",
            "AML_APP_ROOT": str(SAMPLE_APP_DIR),
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": str(
                work_dir
            ),  # the exporter keeps unsent batches under the temp dir: keep them in the data dir
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            "AML_APP_INSIGHTS_ENABLED": "false",
        }
    )
    if config.telemetry_on:
        key = (
            config.instrumentation_key or ""
        ).lower()  # an upper-case key is rejected and App Insights stays off
        env.update(
            {
                "AML_APP_INSIGHTS_ENABLED": "true",
                "AML_APP_INSIGHTS_KEY": key,
                "APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={key};IngestionEndpoint={config.ingestion_endpoint}",
                "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                "REQUESTS_CA_BUNDLE": config.ca_path,
                "SSL_CERT_FILE": config.ca_path,
                "OTEL_BSP_SCHEDULE_DELAY": str(int(config.export_seconds * 1000)),
                "OTEL_BLRP_SCHEDULE_DELAY": str(int(config.export_seconds * 1000)),
                "AMLMON_INFERENCE_EXPORT_SECONDS": str(config.export_seconds),
            }
        )
        if config.model_data:
            env["AML_MDC_STORAGE_ENABLED"] = "true"
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Process ids below `pid` (gunicorn workers), read from /proc; empty where there is no /proc."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def stop_child(child: InferenceChild, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (the server flushes its telemetry), wait, then SIGKILL the server and its workers."""
    process = child.process
    if process.poll() is None:
        workers = descendants(process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for pid in [process.pid, *workers]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=5)
    # Workers left by a master that died first: they would keep the port and the telemetry open.
    for pid in descendants(process.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def wait_ready(child: InferenceChild, deadline: float) -> None:
    """Poll the server's liveness route until it answers; raise if it exits or the deadline passes."""
    while time.monotonic() < deadline:
        if not child.alive:
            raise ChildStartError(
                f"the inference server exited with code {child.process.returncode}; see {child.log_path}"
            )
        try:
            conn = http.client.HTTPConnection("127.0.0.1", child.port, timeout=2)
            conn.request("GET", "/")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ChildStartError(
        f"the inference server did not answer within {START_TIMEOUT:.0f} s; see {child.log_path}"
    )


class InferenceManager:
    """The services the scoring routes know, and the inference server children behind some of them."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.services: dict[tuple[str, str], ServiceEntry] = {}
        self.lock = threading.Lock()
        self.closed = False

    # -- service hook -------------------------------------------------------------------------------
    def on_service(self, state: EmulatorState, service: dict[str, Any]) -> None:
        """mms.py's service hook: record the service; restart its child in the background if its switches changed."""
        try:
            entry = self._record(service)
        except Exception as exc:  # a hook must not raise
            print(f"emulator: inference hook ignored a service: {exc!r}", file=sys.stderr)
            return
        if entry is not None and entry.backend == BACKEND:
            threading.Thread(target=self._ensure_quietly, args=(entry,), daemon=True).start()

    def _record(self, service: dict[str, Any]) -> ServiceEntry | None:
        name = str(service.get("name") or "")
        if not name:
            return None
        workspace_id = str(service.get("_workspaceResourceId") or "")
        key = (workspace_id.lower(), name.lower())
        data_collection = service.get("dataCollection") or {}
        with self.lock:
            entry = self.services.get(key)
            if entry is None:
                entry = self.services[key] = ServiceEntry(key, name, workspace_id, service.get("_backend"))
            entry.backend = service.get("_backend") or entry.backend
            entry.app_insights = bool(service.get("appInsightsEnabled"))
            entry.model_data = (
                bool(data_collection.get("storageEnabled")) if isinstance(data_collection, dict) else False
            )
            entry.updated = time.time()
        return entry

    def _ensure_quietly(self, entry: ServiceEntry) -> None:
        try:
            self.ensure_child(entry)
        except Exception as exc:  # the scoring route reports it; the emulator keeps serving
            print(f"emulator: inference server for {entry.name}: {exc}", file=sys.stderr)

    # -- children -----------------------------------------------------------------------------------
    def desired_config(self, entry: ServiceEntry) -> ChildConfig:
        key, _connection = self._component_key(entry.workspace_id)
        export = self.state.settings.get("inferenceExportSeconds", SERVER_EXPORT_SECONDS)
        return ChildConfig(
            service=entry.name,
            workspace=entry.workspace_id.rstrip("/").rsplit("/", 1)[-1] if entry.workspace_id else "",
            app_insights=entry.app_insights,
            model_data=entry.model_data,
            instrumentation_key=key if entry.app_insights else None,
            ingestion_endpoint=self.state.endpoint,
            ca_path=str(self.state.data_dir / CA_FILE),
            export_seconds=max(0.1, float(export)),
        )

    def _component_key(self, workspace_id: str) -> tuple[str | None, str | None]:
        """The linked App Insights component's instrumentation key (lower-case) and connection string."""

        if not workspace_id:
            return None, None
        store = self.state.resources
        workspace = store.get(workspace_id) or {}
        component_id = (workspace.get("properties") or {}).get("applicationInsights")
        component = store.get(component_id) if component_id else None
        if not component:
            return None, None
        properties = component.get("properties") or {}
        key = properties.get("InstrumentationKey")
        return (str(key).lower() if key else None), properties.get("ConnectionString")

    def ensure_child(self, entry: ServiceEntry) -> InferenceChild:
        """The running child with the service's current settings: started, or restarted after a change."""
        with entry.lock:
            if self.closed:
                raise ChildStartError("the emulator is shutting down")
            config = self.desired_config(entry)
            child = entry.child
            if child is not None and child.alive and child.config == config:
                return child
            if child is not None:
                stop_child(child)
                entry.child = None
            entry.child = self._start(config, entry)
            return entry.child

    def _start(self, config: ChildConfig, entry: ServiceEntry) -> InferenceChild:
        work_dir = (
            self.state.data_dir / "inference" / re.sub(r"[^a-z0-9._-]", "_", "-".join(entry.key)[-120:])
        )
        work_dir.mkdir(parents=True, exist_ok=True)
        log_path = work_dir / "server.log"
        last_error: ChildStartError | None = None
        for _attempt in range(3):  # a port picked free can be taken before the server binds it
            port = free_port()
            command = [
                sys.executable,
                "-m",
                "amlmon.emulator.inference",
                "--entry_script",
                str(ENTRY_SCRIPT),
                "--model_dir",
                str(MODEL_DIR),
                "--port",
                str(port),
            ]
            with open(
                log_path, "ab"
            ) as log:  # the server prints settings and user output: never the emulator's stdout
                log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting on port {port}\n".encode())
                log.flush()
                process = subprocess.Popen(
                    command,
                    cwd=work_dir,
                    env=child_environment(config, dict(os.environ), work_dir),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            child = InferenceChild(config, process, port, log_path)
            try:
                wait_ready(child, time.monotonic() + START_TIMEOUT)
                return child
            except ChildStartError as exc:
                stop_child(child, timeout=2)
                last_error = exc
        assert last_error is not None
        raise last_error

    def shutdown(self) -> None:
        """Stop every child (SIGTERM flushes their telemetry), in parallel; a start under way finishes first."""
        with self.lock:
            self.closed = True
            entries = list(self.services.values())
        threads = [threading.Thread(target=self._stop_entry, args=(entry,), daemon=True) for entry in entries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(START_TIMEOUT + STOP_TIMEOUT + 10)

    @staticmethod
    def _stop_entry(entry: ServiceEntry) -> None:
        with entry.lock:
            if entry.child is not None:
                stop_child(entry.child)
                entry.child = None

    # -- scoring ------------------------------------------------------------------------------------
    def find(self, name: str) -> ServiceEntry | None:
        """The service called `name`; among several workspaces' services, an inference-backed, most recent one."""
        self._learn_from_mms(name)
        with self.lock:
            matches = [entry for entry in self.services.values() if entry.key[1] == name.lower()]
        if not matches:
            return None
        return max(matches, key=lambda e: (e.backend == BACKEND, e.updated))

    def _learn_from_mms(self, name: str) -> None:
        """Services mms.py holds that no hook told us about (e.g. after an emulator restart)."""
        store = self.state.services
        with store.lock:
            records = list(store.services.values())
        for service in records:
            if str(service.get("name", "")).lower() != name.lower():
                continue
            key = (str(service.get("_workspaceResourceId") or "").lower(), name.lower())
            with self.lock:
                known = key in self.services
            if not known:
                self._record(service)


def _not_found(name: str) -> Response:
    return json_response(404, {"message": f"Service {name} not found."})


def _proxy(child: InferenceChild, method: str, path: str, request: Request) -> Response:
    headers = {
        name: value for name in _FORWARDED_REQUEST_HEADERS if (value := request.header(name)) is not None
    }
    conn = http.client.HTTPConnection("127.0.0.1", child.port, timeout=PROXY_TIMEOUT)
    try:
        conn.request(method, path, body=request.body if method == "POST" else None, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
    except OSError as exc:  # the server died or hung: a gateway error, as the service's front end answers
        return json_response(502, {"message": f"The service's inference server did not answer: {exc}"})
    finally:
        conn.close()
    kept = {
        name: value for name in _FORWARDED_RESPONSE_HEADERS if (value := answer.getheader(name)) is not None
    }
    return Response(answer.status, body, kept)


def _canned_score(request: Request) -> Response:
    from amlmon.emulator.sample_model.churn_model import canned_prediction

    status, body = canned_prediction(request.body)
    headers = {}
    for name in ("x-ms-client-request-id", "x-ms-request-id"):
        value = request.header(name)
        if value is not None:
            headers[name] = value
    return json_response(status, body, headers)


def _child_or_error(inference: InferenceManager, entry: ServiceEntry) -> InferenceChild | Response:
    try:
        return inference.ensure_child(entry)
    except ChildStartError as exc:
        return json_response(503, {"message": f"The service's inference server is not available: {exc}"})


def register(router: Router, state: EmulatorState) -> None:
    inference = state.inference
    state.service_hooks.append(inference.on_service)
    state.shutdown_hooks.append(inference.shutdown)

    def score(request: Request) -> Response:
        name = request.params["name"]
        entry = inference.find(name)
        if entry is None:
            return _not_found(name)
        if entry.backend != BACKEND:
            return _canned_score(request)
        child = _child_or_error(inference, entry)
        return child if isinstance(child, Response) else _proxy(child, "POST", "/score", request)

    def swagger(request: Request) -> Response:
        name = request.params["name"]
        entry = inference.find(name)
        if entry is None:
            return _not_found(name)
        if entry.backend != BACKEND:
            return json_response(404, {"message": "Swagger not found. The service has no schema."})
        child = _child_or_error(inference, entry)
        if isinstance(child, Response):
            return child
        query = request.raw_path.partition("?")[2]
        return _proxy(child, "GET", "/swagger.json" + (f"?{query}" if query else ""), request)

    router.add("POST", r"/api/v1/service/(?P<name>[^/]+)/score", score)
    router.add("GET", r"/api/v1/service/(?P<name>[^/]+)/swagger\.json", swagger)


# -- the child process: the server's own CLI, bound to loopback, with the emulator's export interval --
def _watch_parent(parent: int) -> None:
    """Stop the server (gracefully, flushing telemetry) when the emulator that started it is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def run_child(argv: list[str]) -> None:
    """`azmlinfsrv ARGS` step by step (as amlserver.run does it), bound to 127.0.0.1 instead of 0.0.0.0."""
    from azureml_inference_server_http import amlserver, amlserver_linux
    from azureml_inference_server_http.constants import ENV_PORT, ENV_WORKER_COUNT, PACKAGE_ROOT

    sys.argv = ["azmlinfsrv", *argv]
    args = amlserver.parse_arguments()
    amlserver.load_logging_config(PACKAGE_ROOT)
    amlserver.merge_configuration(args)
    amlserver.validate_environment_variables()
    amlserver.set_path_variable()
    amlserver.print_server_info()
    amlserver.print_server_settings()
    amlserver.print_routes()
    _set_export_interval()  # only now: the server's config module reads the environment merged above
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    amlserver_linux.run("127.0.0.1", int(os.environ[ENV_PORT]), int(os.environ[ENV_WORKER_COUNT]))


def _set_export_interval() -> None:
    """The log processor gets the server's 5 s interval explicitly, so OTEL_BLRP_SCHEDULE_DELAY cannot shorten
    it; patch the class here, before gunicorn forks its workers (which inherit it)."""
    export = os.environ.get("AMLMON_INFERENCE_EXPORT_SECONDS")
    if not export:
        return
    from azureml_inference_server_http.server.appinsights_client import AppInsightsClient

    AppInsightsClient.send_interval = float(export)


if __name__ == "__main__":
    run_child(sys.argv[1:])
