"""An azureml-inference-server-http child process: its configuration and environment (what the Azure ML
platform would give it), start-up wait, and stop (the process and its gunicorn workers). Used for v1
services (inference.py) and v2 deployments (online_inference.py) alike."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# The scoring app the emulator ships (score.py for v1 services, score_v2.py for v2 deployments).
SAMPLE_APP_DIR = Path(__file__).resolve().parent / "sample_model"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
# Environment the platform controls: never inherited from the emulator's own environment.
_PLATFORM_VARIABLES = re.compile(
    r"^(AML_|AZUREML_|APPLICATIONINSIGHTS_|APPINSIGHTS_|OTEL_|SERVICE_|WORKSPACE_NAME$|SERVER_PORT$|HEALTH_PORT$"
    r"|WORKER_|GUNICORN_|AMLMON_INFERENCE_|HOSTNAME$)"
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
