"""Real azureml-inference-server-http processes behind emulated v1 services (their scoring routes are
v1_scoring.py; the process itself is inference_process.py).

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
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Router
from amlmon.emulator.inference_process import (
    SAMPLE_APP_DIR,
    START_TIMEOUT,
    STOP_TIMEOUT,
    ChildConfig,
    ChildStartError,
    InferenceChild,
    child_environment,
    free_port,
    stop_child,
    wait_ready,
)
from amlmon.emulator.tls import CA_FILE

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

ENTRY_SCRIPT = SAMPLE_APP_DIR / "score.py"
MODEL_DIR = SAMPLE_APP_DIR / "azureml-models" / "sample-churn" / "1"


def server_command(entry_script: Path, port: int) -> list[str]:
    """The real inference server (azmlinfsrv, through this module's entry point) for `entry_script`
    and the sample model, on `port`."""
    return [
        sys.executable,
        "-m",
        "amlmon.emulator.inference",
        "--entry_script",
        str(entry_script),
        "--model_dir",
        str(MODEL_DIR),
        "--port",
        str(port),
    ]


BACKEND = "inference"
SERVER_EXPORT_SECONDS = (
    5.0  # what azmlinfsrv uses; the emulator setting `inferenceExportSeconds` overrides it
)


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
        key, _connection = self.component_key(entry.workspace_id)
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

    def component_key(self, workspace_id: str) -> tuple[str | None, str | None]:
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
            command = server_command(ENTRY_SCRIPT, port)
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


def register(router: Router, state: EmulatorState) -> None:
    inference = state.inference
    state.service_hooks.append(inference.on_service)
    state.shutdown_hooks.append(inference.shutdown)


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
