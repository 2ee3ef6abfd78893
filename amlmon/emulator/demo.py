"""`make demo`: the whole story offline — start the emulator, create a sample workspace with two v1
services (ACI and AKS) and one v2 deployment, then run what a new user would run.

Each step prints the command line and its real output. The emulator is stopped and its temporary
directory (certificates and their private key, telemetry, the pulled dataset) removed at the end,
whatever happened; a failed step fails the demo.

`--transcript FILE` also writes every amlmon command with its exit code, its stdout as a terminal 200
columns wide shows it (no colour) and its stderr as a log keeps it, as JSON: tests/e2e/test_readme.py checks the README's
console blocks against it. Commands run in the data directory, so paths they print are relative.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from amlmon.emulator.client import AdminClient, start_detached, stop

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the amlmon package

SUBSCRIPTION = "00000000-0000-0000-0000-00000000de00"  # a GUID, as every subscription ID is
RESOURCE_GROUP = "amlmon-demo"
WORKSPACE = "demo-ws"
# Every amlmon step of this run: {"args": [...], "exit": N, "stderr": "...", "stdout": "..."}.
TRANSCRIPT: list[dict[str, Any]] | None = None
TRANSCRIPT_COLUMNS = 200  # wide enough for every table of the story
BOLD, DIM, RESET = (
    ("\033[1m", "\033[2m", "\033[0m")
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    else ("", "", "")
)


def _banner(text: str) -> None:
    print(f"\n{BOLD}## {text}{RESET}", flush=True)


def amlmon(*args: str, env: dict[str, str], check: bool = True) -> int:
    """Run one amlmon command as a user would (a new process, in the data directory), showing the
    command line first; with a transcript, its output is captured (and shown) rather than inherited."""
    print(f"{DIM}$ amlmon {shlex.join(args)}{RESET}", flush=True)
    command = [sys.executable, "-m", "amlmon", *args]
    cwd = env["AMLMON_EMULATOR_DIR"]
    if TRANSCRIPT is None:
        code = subprocess.run(command, env=env, cwd=cwd, check=False).returncode
    else:
        code, stdout, stderr = run_on_a_terminal(command, env, cwd, TRANSCRIPT_COLUMNS)
        print(stderr + stdout, end="", flush=True)
        TRANSCRIPT.append({"args": list(args), "exit": code, "stderr": stderr, "stdout": stdout})
    if check and code != 0:
        raise SystemExit(f"demo step failed with exit code {code}: amlmon {shlex.join(args)}")
    return code


def run_on_a_terminal(
    command: list[str], env: dict[str, str], cwd: str, columns: int = 200
) -> tuple[int, str, str]:
    """Run `command` with stdout on a pseudo-terminal `columns` wide (no colour) and stderr on a pipe:
    its exit code, stdout exactly as a user's terminal shows it, and stderr as a log file keeps it
    (progress as plain lines rather than a live display)."""
    import pty
    import threading

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command,
        env={**env, "COLUMNS": str(columns), "NO_COLOR": "1"},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    reader.join()
    code = process.wait()
    stdout = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return code, stdout, b"".join(errors).decode(errors="replace")


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


def send_traffic(state: dict[str, Any], service: str, count: int = 8, *, endpoint: bool = False) -> None:
    """Score a few requests through the emulator's scoring URI (one of them fails on purpose); with
    `endpoint`, through a v2 endpoint's front door."""
    context = ssl.create_default_context(cafile=str(state["ca_path"]))
    url = f"{state['endpoint']}/api/v1/{'endpoint' if endpoint else 'service'}/{service}/score"
    sent = failed = 0
    for index in range(count):
        payload = {"data": [[index, index * 0.5, 1.0, 2.0]]} if index != 3 else {"oops": True}
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=60):
                sent += 1
        except urllib.error.HTTPError:
            failed += 1
    print(f"sent {sent + failed} scoring requests to {service} ({failed} failed on purpose)")


def main(argv: list[str] | None = None) -> int:
    global TRANSCRIPT
    arguments = list(sys.argv[1:] if argv is None else argv)
    transcript = Path(arguments[1]) if arguments[:1] == ["--transcript"] and len(arguments) == 2 else None
    if arguments and transcript is None:
        print("usage: python -m amlmon.emulator.demo [--transcript FILE]", file=sys.stderr)
        return 2
    TRANSCRIPT = [] if transcript else None
    data_dir = Path(tempfile.mkdtemp(prefix="amlmon-demo-"))
    try:
        return _run(data_dir)
    finally:
        _remove(data_dir)
        if transcript is not None:
            transcript.write_text(json.dumps(TRANSCRIPT, indent=1) + "\n")


def _remove(data_dir: Path) -> None:
    """Leave nothing behind: the directory holds the emulator's CA private key and megabytes of data.
    A server still closing its files may recreate one while the tree is removed, hence the retries."""
    for _ in range(20):
        shutil.rmtree(data_dir, ignore_errors=True)
        if not data_dir.exists():
            print(f"removed {data_dir}")
            return
        time.sleep(0.25)
    print(f"warning: could not remove {data_dir}; delete it yourself", file=sys.stderr)


def _run(data_dir: Path) -> int:
    _banner(f"Starting the local Azure emulator (data: {data_dir})")
    try:
        state = start_detached(data_dir)
    except BaseException:
        stop(data_dir)  # it may have started before failing to answer
        raise
    print(f"emulator listening on {state['endpoint']}")
    env = {
        **os.environ,
        # The commands run in the data directory: this checkout's amlmon stays first on their path.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
        "AMLMON_CLOUD": "local",
        "AMLMON_EMULATOR_DIR": str(data_dir),
        "AMLMON_SUBSCRIPTION": SUBSCRIPTION,
        "AMLMON_RESOURCE_GROUP": RESOURCE_GROUP,
        "AMLMON_WORKSPACE": WORKSPACE,
        "AMLMON_OUTPUT": os.environ.get("AMLMON_OUTPUT", "table"),
    }
    try:
        admin = AdminClient(state)
        # The real inference server exports every 5 s; 1 s keeps the demo brisk.
        admin.call("PUT", "/_emulator/settings", {"inferenceExportSeconds": 1, "operationSeconds": 0.5})
        create_workspace(admin)
        print(
            f"created workspace {WORKSPACE}: services churn-aci (ACI), fraud-aks (AKS); deployment credit-ep/blue (v2)"
        )
        run_story(admin, state, env)
    finally:
        _banner("Stopping the emulator")
        stop(data_dir)
        print("stopped")
    return 0


def wait_for_telemetry(env: dict[str, str], service: str, timeout: float = 60.0) -> None:
    """App Insights ingestion lags; wait (quietly) until the service's requests are queryable."""
    query = f'requests | where cloud_RoleName == "{service}" | count'
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = subprocess.run(
            [sys.executable, "-m", "amlmon", "query", query, "--since", "1h", "-o", "tsv"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0 and result.stdout.strip() not in ("", "0"):
            print(f"{service}: {result.stdout.strip()} requests ingested")
            return
        time.sleep(1.0)
    raise SystemExit(f"demo: no telemetry from {service} after {timeout:.0f}s")


def run_story(admin: AdminClient, state: dict[str, Any], env: dict[str, str]) -> None:
    _banner("1. Which workspace am I talking to?")
    amlmon("workspace", "show", env=env)

    _banner("2. Every deployed model in the workspace")
    amlmon("services", "list", env=env)

    _banner("3. Turn on App Insights diagnostics (and model data collection) — first a dry run")
    v1 = ("diagnostics", "enable", "--all", "--kind", "ACI,AKS", "--model-data")
    amlmon(*v1, "--dry-run", env=env)
    amlmon(*v1, env=env)
    amlmon("diagnostics", "enable", "churn-aci", "--model-data", env=env)  # idempotent: unchanged
    amlmon("diagnostics", "enable", "churn-ac", env=env, check=False)  # a typo: "did you mean"
    _banner("   ... and every pipe of the v2 deployment: payloads (half of them) and endpoint logs too")
    v2 = ("diagnostics", "enable", "credit-ep", "--model-data")
    amlmon(*v2, "--sampling-rate", "0.5", "--endpoint-logs", "--dry-run", "-o", "table", env=env)
    amlmon(*v2, "--payloads", "--sampling-rate", "0.5", "--endpoint-logs", "-o", "table", env=env)
    amlmon(*v2, "--payloads", "--sampling-rate", "0.5", "--endpoint-logs", "-o", "table", env=env)
    amlmon("services", "list", "-o", "table", env=env)
    amlmon("diagnostics", "disable", "credit-ep", "--payloads", "--no-app-insights", "-o", "table", env=env)
    amlmon("diagnostics", "status", env=env)

    _banner("4. Real traffic to churn-aci (a real azureml-inference-server-http behind the emulator)")
    send_traffic(state, "churn-aci")
    wait_for_telemetry(env, "churn-aci")
    _banner("   ... and a day of history for the others")
    seed_history(admin)

    _banner("   ... and to credit-ep (v2: a real inference server with the azureml-ai-monitoring Collector)")
    send_traffic(state, "credit-ep", endpoint=True)
    amlmon("stats", "credit-ep", "--endpoint-logs", "--since", "1h", env=env)
    amlmon(
        "query",
        "AmlOnlineEndpointConsoleLog | where Message has 'scored' | project TimeGenerated, InstanceId, Message | take 3",
        "--log-analytics",
        "--since",
        "1h",
        env=env,
    )

    _banner("5. The scoring script's print() lines and the model's inputs and predictions")
    amlmon("traces", "churn-aci", "--since", "1h", env=env)
    amlmon("traces", "churn-aci", "--model-data", "--since", "1h", env=env)

    _banner("6. Any KQL")
    amlmon(
        "query",
        "requests | summarize requests = count() by cloud_RoleName | order by cloud_RoleName asc",
        "--since",
        "1d",
        env=env,
    )

    _banner("7. Health numbers, and the CI gate")
    amlmon("stats", "--since", "24h", env=env)
    gate_args = ("check", "fraud-aks", "--since", "24h", "--max-p95", "2s")
    amlmon(*gate_args, "--max-failure-rate", "3%", env=env)  # passes: the demo fails if it does not
    strict = amlmon(*gate_args, "--max-failure-rate", "1%", env=env, check=False)
    print(f"(the stricter gate exited {strict}: a pipeline step would fail here)")

    _banner("8. Long retention: export to a storage account (continuous export is retired)")
    amlmon("export", "enable", "--storage-account", "amlmondemostore", "--dry-run", env=env)
    amlmon("export", "enable", "--storage-account", "amlmondemostore", env=env)
    amlmon("export", "show", env=env)

    _banner("9. Model data as a dataset")
    out = "churn-aci-model-data.parquet"  # in the data directory, where the commands run
    amlmon("data", "pull", "churn-aci", "--since", "1h", "--out", out, env=env)
    print(f"wrote {out} ({(Path(env['AMLMON_EMULATOR_DIR']) / out).stat().st_size} bytes)")

    _banner("10. Why is there no data? `doctor` on a healthy service, then on one broken on purpose")
    amlmon("doctor", "churn-aci", env=env)  # healthy: exits 0 (the demo fails if it does not)
    amlmon("diagnostics", "disable", "fraud-aks", env=env)
    broken = amlmon("doctor", "fraud-aks", env=env, check=False)
    print(f"(doctor exited {broken}: App Insights is off for fraud-aks; the fix is printed under the FAIL)")
    drift_story(admin, env)


def drift_story(admin: AdminClient, env: dict[str, str]) -> None:
    """churn-aci's model inputs of 3h..2h ago vs 2h..1h ago, where monthly_charges moved up by 25 on
    purpose: `drift` names exactly that feature and exits 1, as a pipeline gate would."""
    import random

    _banner("11. Did the model's inputs drift? An hour of churn-aci's inputs vs the hour before")
    status, answer = admin.call(  # the existing workspace's answer: its App Insights key
        "POST",
        "/_emulator/workspaces",
        {"subscription": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "name": WORKSPACE},
    )
    if status >= 400:
        raise SystemExit(f"could not read the demo workspace (HTTP {status}): {answer}")
    ikey = answer["instrumentationKey"]
    rng = random.Random(18)
    now = time.time()
    envelopes = []
    for index in range(2000):
        recent = index % 2 == 1
        at = now - rng.uniform(65, 115) * 60 if recent else now - rng.uniform(125, 175) * 60
        features = [rng.randint(1, 72), round(rng.uniform(20, 120), 2), rng.randint(0, 6), rng.randint(0, 3)]
        if recent:
            features[1] = round(features[1] + 25, 2)  # the shift on purpose
        envelopes.append(_model_data_trace(ikey, at, f"drift-{index}", features))
    status, answer = admin.call("POST", "/_emulator/telemetry/rows", {"envelopes": envelopes}, timeout=120)
    if status >= 400:
        raise SystemExit(f"could not post the demo's model data (HTTP {status}): {answer}")
    print("posted 1000 model-data records for each hour (monthly_charges +25 in the later one)")
    cache = {**env, "AMLMON_CACHE_DIR": str(Path(env["AMLMON_EMULATOR_DIR"]) / "drift-cache")}
    drifted = amlmon(
        "drift", "churn-aci", "--baseline", "3h..2h", "--current", "2h..1h",
        "--features", "tenure_months,monthly_charges,support_calls,contract_years",
        "--threshold", "out_of_bounds_rate=0.02", env=cache, check=False,
    )  # fmt: skip
    if drifted != 1:
        raise SystemExit(f"demo: drift exited {drifted}, not 1 (monthly_charges was shifted on purpose)")
    print(f"(drift exited {drifted}: monthly_charges drifted; a pipeline step would fail here)")


def _model_data_trace(ikey: str, at: float, request_id: str, features: list[float]) -> dict[str, Any]:
    """A model_data_collection trace as azureml-inference-server-http 1.5 exports it (v1 model data)."""
    import datetime as dt

    inner = {
        "Container Id": "demo-container",
        "Request Id": request_id,
        "Client Request Id": "",
        "Workspace Name": WORKSPACE,
        "Service Name": "churn-aci",
        "Models": ("sample-churn:1",),
        "Input": json.dumps(json.dumps({"data": [features]})),
        "Prediction": json.dumps([0.5]),
    }
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "iKey": ikey,
        "tags": {
            "ai.cloud.role": "churn-aci",
            "ai.cloud.roleInstance": "demo-host",
            "ai.operation.id": "0" * 32,
        },
        "data": {
            "baseType": "MessageData",
            "baseData": {
                "ver": 2,
                "message": "model_data_collection",
                "properties": {"custom_dimensions": repr(inner)},
            },
        },
    }


if __name__ == "__main__":
    start = time.time()
    code = main()
    print(f"\ndemo finished in {time.time() - start:.0f}s")
    sys.exit(code)
