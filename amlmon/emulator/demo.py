"""`make demo`: the whole story offline — start the emulator, create a sample workspace with two v1
services (ACI and AKS) and one v2 deployment, then run what a new user would run.

Each step prints the command line and its real output. The emulator is stopped at the end, whatever
happened; a failed step fails the demo.
"""

from __future__ import annotations

import json
import os
import shlex
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from amlmon.emulator.client import AdminClient, start_detached, stop

SUBSCRIPTION = "00000000-0000-0000-0000-00000000d3m0"
RESOURCE_GROUP = "amlmon-demo"
WORKSPACE = "demo-ws"
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else ("", "", "")


def _banner(text: str) -> None:
    print(f"\n{BOLD}## {text}{RESET}", flush=True)


def amlmon(*args: str, env: dict[str, str], check: bool = True) -> int:
    """Run one amlmon command as a user would (a new process), showing the command line first."""
    print(f"{DIM}$ amlmon {shlex.join(args)}{RESET}", flush=True)
    result = subprocess.run([sys.executable, "-m", "amlmon", *args], env=env, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"demo step failed with exit code {result.returncode}: amlmon {shlex.join(args)}")
    return result.returncode


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
        "deployments": [{"endpoint": "credit-ep", "name": "blue", "endpointComputeType": "Managed"}],
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
        "services": ["churn-aci", "fraud-aks"],
        "hours": 24,
        "ratePerMinute": 10,
        "generation": "mixed",
    }
    status, answer = admin.call("POST", "/_emulator/telemetry/seed", body, timeout=600)
    if status >= 400:
        raise SystemExit(f"could not seed telemetry (HTTP {status}): {answer}")


def send_traffic(state: dict[str, Any], service: str, count: int = 8) -> None:
    """Score a few requests through the emulator's scoring URI (one of them fails on purpose)."""
    context = ssl.create_default_context(cafile=str(state["ca_path"]))
    url = f"{state['endpoint']}/api/v1/service/{service}/score"
    sent = failed = 0
    for index in range(count):
        payload = {"data": [[index, index * 0.5, 1.0, 2.0]]} if index != 3 else {"oops": True}
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=60):
                sent += 1
        except urllib.error.HTTPError:
            failed += 1
    print(f"sent {sent + failed} scoring requests to {service} ({failed} failed on purpose)")


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="amlmon-demo-"))
    _banner(f"Starting the local Azure emulator (data: {data_dir})")
    state = start_detached(data_dir)
    print(f"emulator listening on {state['endpoint']}")
    env = {
        **os.environ,
        "AMLMON_CLOUD": "local",
        "AMLMON_EMULATOR_DIR": str(data_dir),
        "AMLMON_SUBSCRIPTION": SUBSCRIPTION,
        "AMLMON_RESOURCE_GROUP": RESOURCE_GROUP,
        "AMLMON_WORKSPACE": WORKSPACE,
        "AMLMON_OUTPUT": os.environ.get("AMLMON_OUTPUT", "table"),
    }
    try:
        admin = AdminClient(state)
        create_workspace(admin)
        print(f"created workspace {WORKSPACE}: services churn-aci (ACI), fraud-aks (AKS); deployment credit-ep/blue")
        run_story(admin, state, env)
    finally:
        _banner("Stopping the emulator")
        stop(data_dir)
        print("stopped")
    return 0


def run_story(admin: AdminClient, state: dict[str, Any], env: dict[str, str]) -> None:
    _banner("Which workspace am I talking to?")
    amlmon("workspace", "show", env=env)


if __name__ == "__main__":
    start = time.time()
    code = main()
    print(f"\ndemo finished in {time.time() - start:.0f}s")
    sys.exit(code)
