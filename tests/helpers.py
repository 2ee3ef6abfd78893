"""Helpers the test files share (fixtures live in conftest.py): workspaces built on the one factory
(`Emulator.create_workspace`), the tests' own ARM and ingestion calls, App Insights envelopes, the real
SDK's query client, the reference telemetry, and amlmon on a pseudo-terminal. Tests import from here,
never from each other."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, Emulator, shared_reference

ARM_API = "2024-04-01"
# Usage errors must come before any call to Azure: run them against the real cloud with no sign-in.
OFFLINE = {"AMLMON_CLOUD": "AzureCloud"}
OFFLINE_SCOPE = ["--subscription", "00000000-0000-0000-0000-000000000000", "-g", "rg", "-w", "ws"]
SEVERITY_NAMES = {0: "Verbose", 1: "Information", 2: "Warning", 3: "Error", 4: "Critical"}
# Streams (interruptible at once), ~10 s to the end: long past a 1-second `Prefer: wait`.
SLOW_KQL = (
    'range x from 1 to 3000000 step 1 | extend s = strrep(tostring(x), 300) | where s contains "zz" | count'
)


# --- workspaces -----------------------------------------------------------------------------------------
def one_deployment_workspace(emulator: Emulator, compute: str = "Managed") -> dict[str, Any]:
    """make_workspace with one v2 deployment, ep/blue (App Insights, model data, endpoint logs all off)."""
    return make_workspace(
        emulator, deployments=[{"endpoint": "ep", "name": "blue", "endpointComputeType": compute}]
    )


def make_workspace(
    emulator: Emulator,
    *,
    services: list[dict[str, Any]] | None = None,
    deployments: list[dict[str, Any]] | None = None,
    app_insights: bool = True,
) -> dict[str, Any]:
    """Emulator.create_workspace with services and v2 deployments, plus the short keys the diagnostics
    tests use: `args` (the scope flags), `rg`, `ws` and `id` (the workspace's ARM ID)."""
    ws = emulator.create_workspace(
        "diag", appInsights=app_insights, services=services or [], deployments=deployments or []
    )
    workspace_id = (
        f"/subscriptions/{ws['subscription']}/resourceGroups/{ws['resourceGroup']}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{ws['name']}"
    )
    return {**ws, "args": ws["scope"], "rg": ws["resourceGroup"], "ws": ws["name"], "id": workspace_id}


def mixed_workspace(emulator: Emulator, *, aks_enabled: bool = True, **kwargs: Any) -> dict[str, Any]:
    """churn-aci (ACI, off), fraud-aks (AKS, on unless aks_enabled=False), credit-ep/blue (Managed),
    credit-ep/green (Kubernetes), both off."""
    return make_workspace(
        emulator,
        services=[
            {"name": "churn-aci", "computeType": "ACI"},
            {"name": "fraud-aks", "computeType": "AKS", "appInsightsEnabled": aks_enabled},
        ],
        deployments=[
            {"endpoint": "credit-ep", "name": "blue", "endpointComputeType": "Managed"},
            {"endpoint": "credit-ep", "name": "green", "endpointComputeType": "Kubernetes"},
        ],
        **kwargs,
    )


def telemetry_workspace(emulator: Emulator, label: str, **extra: Any) -> dict[str, Any]:
    """Emulator.create_workspace, plus `ikey`: the instrumentation key envelopes carry (lower case)."""
    created = emulator.create_workspace(label, **extra)
    return {**created, "ikey": created["instrumentationKey"].lower()}


def deployment_path(ws: dict[str, Any], endpoint: str, name: str) -> str:
    return f"{ws['id']}/onlineEndpoints/{endpoint}/deployments/{name}"


# --- the tests' own calls -------------------------------------------------------------------------------
def _send(request: urllib.request.Request, ca_path: str, timeout: float) -> tuple[int, bytes, dict[str, str]]:
    context = ssl.create_default_context(cafile=ca_path)
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def arm(
    emulator: Emulator, method: str, path: str, body: Any = None, version: str = ARM_API
) -> tuple[int, Any, dict[str, str]]:
    """The test's own ARM call (its own token, at api-version `version`), e.g. to change a deployment
    behind amlmon's back."""
    token = emulator.credential().get_token(emulator.endpoint + "/.default").token
    request = urllib.request.Request(
        f"{emulator.endpoint}{path}?api-version={version}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    status, raw, headers = _send(request, emulator.ca_path, timeout=60)
    return status, json.loads(raw) if raw else None, headers


def wait_succeeded(emulator: Emulator, path: str, timeout: float = 20) -> None:
    """Until the ARM resource at `path` has settled (provisioningState Succeeded, or none)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, body, _ = arm(emulator, "GET", path)
        if body["properties"].get("provisioningState") in ("Succeeded", None):
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} never settled")


def http(
    emulator: Emulator,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Any HTTPS call to the emulator (a scoring request, a blob of bytes): (status, lower-case headers, body)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    status, answer, answer_headers = _send(request, emulator.ca_path, timeout=60)
    return status, {k.lower(): v for k, v in answer_headers.items()}, answer


def post(
    emulator: Emulator, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """A POST to the emulator as a sender would make it (e.g. an exporter to /v2.1/track): (status, JSON)."""
    request = urllib.request.Request(
        emulator.endpoint + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    status, raw, _ = _send(request, emulator.ca_path, timeout=30)
    return status, json.loads(raw or b"null")


def logs_client(emulator: Emulator) -> Any:
    """The real SDK's LogsQueryClient against the emulator."""
    from azure.monitor.query import LogsQueryClient

    return LogsQueryClient(
        emulator.credential(),
        endpoint=emulator.endpoint + "/v1",
        audience=emulator.endpoint,
        connection_verify=emulator.ca_path,
        retry_backoff_factor=0.05,
    )


# --- App Insights envelopes -----------------------------------------------------------------------------
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def trace(
    ikey: str,
    message: str,
    *,
    at: dt.datetime,
    role: str = "churn",
    severity: int = 1,
    properties: dict[str, Any] | None = None,
    instance: str = "host-1",
) -> dict[str, Any]:
    """A MessageData envelope as the Azure Monitor exporter posts it to /v2.1/track."""
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": iso(at),
        "iKey": ikey,
        "tags": {"ai.cloud.role": role, "ai.cloud.roleInstance": instance, "ai.operation.id": "0" * 32},
        "data": {
            "baseType": "MessageData",
            "baseData": {
                "ver": 2,
                "message": message,
                "severityLevel": SEVERITY_NAMES[severity],
                "properties": properties or {},
            },
        },
    }


def insert(
    emulator: Emulator, ikey: str, envelopes: list[dict[str, Any]], ingested_at: dt.datetime | None = None
) -> None:
    """Rows straight into the telemetry store (POST /_emulator/telemetry/rows), optionally back-dated."""
    body: dict[str, Any] = {"instrumentationKey": ikey, "envelopes": envelopes}
    if ingested_at is not None:
        body["ingestedAt"] = iso(ingested_at)
    status, answer = emulator.admin("POST", "/_emulator/telemetry/rows", body)
    assert status in (200, 201), answer


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- reference telemetry (what the real inference server posted) ----------------------------------------
def reference_telemetry_dir() -> Path:
    """../shared/reference/inference-server-telemetry beside the checkout (or one of its parents), or where
    AMLMON_TELEMETRY_REFERENCE points; the test is skipped, saying so, when it is not there."""
    path = shared_reference("inference-server-telemetry", "AMLMON_TELEMETRY_REFERENCE")
    if not path.is_dir():
        pytest.skip(f"reference telemetry not found at {path} (set AMLMON_TELEMETRY_REFERENCE)")
    return path


def reference_telemetry(name: str) -> dict[str, Any]:
    """One real envelope of the reference tree, by file name."""
    return dict(json.loads((reference_telemetry_dir() / name).read_text(encoding="utf-8")))


# --- amlmon on a terminal -------------------------------------------------------------------------------
def on_a_terminal(args: list[str], env: dict[str, str], columns: int) -> str:
    """amlmon's stdout when it is a terminal `columns` wide (a pseudo-terminal, as the demo's transcript
    runs it); the command must succeed."""
    from amlmon.emulator.demo import run_on_a_terminal

    code, stdout, stderr = run_on_a_terminal(
        [sys.executable, "-m", "amlmon", *args], {**os.environ, **env}, str(REPO_ROOT), columns
    )
    assert code == 0, stderr
    return stdout


# --- amlmon interrupted -----------------------------------------------------------------------------------
def interrupt(process: subprocess.Popen[str], timeout: float = 20) -> tuple[str, str]:
    """The user's Ctrl-C to a child from spawn_amlmon: SIGINT, then what it printed to the end (stdout,
    stderr); killed if it outlives `timeout`, so no test leaves it behind."""
    process.send_signal(signal.SIGINT)
    return finish(process, timeout)


def stop_once_asked(
    process: subprocess.Popen[str], asked: threading.Event, signum: int, control: str
) -> tuple[str, str]:
    """Send `signum` once the child reached the endpoint (`asked`, e.g. silent_blob_endpoint's; `control`
    says what failed if it never did) while it still runs; what it printed to its end (finish)."""
    try:
        assert asked.wait(60), control
        assert process.poll() is None, process.communicate()
        process.send_signal(signum)
    except BaseException:
        finish(process, 5)
        raise
    return finish(process, 60)


def finish(process: subprocess.Popen[str], timeout: float = 20) -> tuple[str, str]:
    """What a child printed to its end (stdout, stderr); killed if it outlives `timeout`, so no test
    leaves it behind."""
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- `make demo` ----------------------------------------------------------------------------------------
def exporting_since(emulator: Emulator, ws: dict[str, Any], name: str, hours: float) -> None:
    """Test-world setup: the component's setting `name` has exported since `hours` ago (before a seed)."""
    since = now() - dt.timedelta(hours=hours)
    body = {"resourceId": ws["appInsightsId"], "name": name, "since": since.isoformat()}
    status, answer = emulator.admin("POST", "/_emulator/export/started", body)
    assert status == 200 and answer["categories"], answer


def deliver_export(emulator: Emulator, ws: dict[str, Any], **destination: str) -> dict[str, Any]:
    """The emulator delivers the workspace's export (`directory=` a folder, or `accountKey=` to its
    storage account); its report."""
    scope = {
        "subscription": ws["subscription"],
        "resourceGroup": ws["resourceGroup"],
        "workspace": ws["name"],
    }
    status, report = emulator.admin("POST", "/_emulator/export/deliver", {**scope, **destination})
    assert status == 200, report
    return dict(report)


def parts_done(out: Path) -> int:
    """How many parts a resumable pull to `out` has saved (its checkpoint), 0 before the first."""
    try:
        checkpoint = json.loads(
            out.with_name(f".{out.name}.amlmon-parts").joinpath("checkpoint.json").read_text()
        )
    except (OSError, ValueError):
        return 0
    return len(checkpoint.get("parts", {}))


def kill_once_parts_saved(
    args: list[str], out: Path, env: dict[str, str], parts: int, timeout: float
) -> list[str]:
    """Run `amlmon ARGS --out OUT` and SIGKILL it once `parts` parts are saved (no clean-up: as a crash).
    The pull gets a TMPDIR of its own (inside env's TMPDIR, else the tests'), deleted once it is dead: a
    killed pull cannot delete its temp files (a Parquet pull's staging folder, amlmon-collector-*), which
    were left in /tmp run after run. Returns the names that were in it."""
    own_tmp = Path(tempfile.mkdtemp(prefix="killed-pull-", dir=env.get("TMPDIR")))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "amlmon", *args, "--out", str(out)],
            env={**os.environ, **env, "TMPDIR": str(own_tmp)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + timeout
            while parts_done(out) < parts and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            assert process.poll() is None, "the pull ended before it could be killed"
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
        return sorted(path.name for path in own_tmp.iterdir())
    finally:
        shutil.rmtree(own_tmp, ignore_errors=True)


def demo_process(tmp: Path, *args: str) -> subprocess.Popen[str]:
    """The demo as `make demo` runs it, with its temporary files under `tmp` (TMPDIR), for its children too;
    stdout and stderr in one pipe."""
    env = {**os.environ, "TMPDIR": str(tmp), "NO_COLOR": "1"}
    for name in [k for k in env if k.startswith("AMLMON_")]:
        del env[name]
    return subprocess.Popen(
        [sys.executable, "-m", "amlmon.emulator.demo", *args],
        env=env,
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def collector_record(collection: str, when: dt.datetime, correlation: str, data: Any, source: str) -> str:
    """One line of a collector blob as the data collector writes it (AZURE-FACTS.md "Collector output"),
    without the model's fields (`modelversion`, …) the tests do not read."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"id-{correlation}-{collection}",
            "source": source,
            "type": f"azureml.inference.{collection}",
            "datacontenttype": "application/json",
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
            "correlationid": correlation,
            "xrequestid": correlation,
        },
        separators=(",", ":"),
    )


@contextlib.contextmanager
def silent_blob_endpoint() -> Iterator[tuple[str, threading.Event]]:
    """A blob endpoint that accepts connections and never answers: a command reading it waits in its
    first request, so a signal sent once `accepted` is set lands before anything was read. Yields (the
    connection string of Azurite's development account on it, accepted)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    listener.settimeout(0.1)  # the accepting thread sees `done` between waits
    accepted, done = threading.Event(), threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not done.is_set():
            try:
                connection, _peer = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    from tests.azurite import ACCOUNT, DEV_ACCOUNT_KEY

    try:
        yield (
            (
                f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
                f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
            ),
            accepted,
        )
    finally:
        done.set()
        thread.join()
        listener.close()
        for connection in held:
            connection.close()
