"""v2 `amlmon traces EP/DEP --follow` on the endpoint's console log: ingest-to-print latency (issue 16).

A follow runs as users run it (`python -m amlmon traces bench-ep/blue -f --format raw`, the console
log chosen because the endpoint's diagnostic setting sends it) while this process inserts one
AmlOnlineEndpointConsoleLog row at a time (`POST /_emulator/endpoint-logs/rows`: queryable when the
call returns) at random points of the poll cycle, and a reader thread stamps each line the follow
prints. Latency = printed - the moment the insert was sent. Target: the worst of ROWS rows within one
poll interval plus one second (the baseline is the interval itself), at the shortest interval the CLI
allows (200ms) and at its default (5s).

AMLMON_BENCH_FOLLOW_ROWS overrides the 20 rows per interval.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from tests.bench.common import report_budget, running_emulator
from tests.conftest import REPO_ROOT, run_cli

ENDPOINT = "bench-ep"
INTERVALS = (("200ms", 0.2), ("5s", 5.0))  # the CLI's shortest, and its default


def main() -> int:
    with running_emulator("v2follow") as (emulator, _):
        return _measure(emulator)


def _measure(em: Any) -> int:
    ws = em.create_workspace("bv2f", deployments=[{"endpoint": ENDPOINT, "name": "blue"}])
    env = em.env()
    enabled = run_cli(["diagnostics", "enable", ENDPOINT, "--endpoint-logs", *ws["scope"], "-o", "json"], env)
    if enabled.exit_code != 0:
        raise RuntimeError(enabled.stderr)
    resource_id = (
        f"/subscriptions/{ws['subscription']}/resourceGroups/{ws['resourceGroup']}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{ws['name']}/onlineEndpoints/{ENDPOINT}"
    ).upper()
    rows = int(os.environ.get("AMLMON_BENCH_FOLLOW_ROWS", "20"))
    ok = True
    for text, seconds in INTERVALS:
        latencies = _follow_latencies(em, ws, env, resource_id, text, seconds, rows)
        print(
            f"(--interval {text}: median {statistics.median(latencies):.3f} s, "
            f"max {max(latencies):.3f} s over {len(latencies)} rows)",
            flush=True,
        )
        ok &= report_budget(
            f"traces {ENDPOINT}/blue --follow --interval {text}, ingested → printed (worst of {len(latencies)})",
            max(latencies),
            seconds,
            "s",
            1.0,
        )
    return 0 if ok else 1


def _insert(em: Any, resource_id: str, message: str) -> None:
    status, answer = em.admin(
        "POST",
        "/_emulator/endpoint-logs/rows",
        {
            "table": "AmlOnlineEndpointConsoleLog",
            "rows": [
                {
                    "TimeGenerated": dt.datetime.now(dt.UTC).isoformat(),
                    "InstanceId": "blue-bench-0",
                    "DeploymentName": "blue",
                    "ContainerName": "inference-server",
                    "ContainerImageName": "bench/image:1",
                    "Message": message,
                    "_ResourceId": resource_id,
                }
            ],
        },
    )
    if status != 200:
        raise RuntimeError(f"inserting a console row failed: {answer}")


def _follow_latencies(
    em: Any, ws: dict[str, Any], env: dict[str, str], resource_id: str, text: str, seconds: float, rows: int
) -> list[float]:
    follow = ["traces", f"{ENDPOINT}/blue", "-f", "--since", "1m", "--interval", text, "--until", "10m"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amlmon",
            *follow,
            "--message",
            f"run-{text} ",
            "--format",
            "raw",
            *ws["scope"],
        ],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    printed: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            printed.put((time.perf_counter(), line.rstrip("\n")))

    threading.Thread(target=read, daemon=True).start()
    rng = random.Random(16)
    latencies = []
    try:
        # The follow is running and past its backlog when a row inserted now is printed.
        _insert(em, resource_id, f"run-{text} warmup")
        _wait_for(printed, f"run-{text} warmup", timeout=60)
        for n in range(rows):
            time.sleep(rng.uniform(0, seconds))  # land at a different point of the poll cycle each time
            message = f"run-{text} latency {n}"
            sent = time.perf_counter()
            _insert(em, resource_id, message)
            latencies.append(_wait_for(printed, message, timeout=seconds + 30) - sent)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
    return latencies


def _wait_for(printed: queue.Queue[tuple[float, str]], message: str, timeout: float) -> float:
    """When the follow printed `message` (it prints nothing else: every row of its run is ours)."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            at, line = printed.get(timeout=max(0.0, deadline - time.perf_counter()))
        except queue.Empty:
            raise RuntimeError(f"the follow did not print {message!r} within {timeout:g} s") from None
        if line == message:
            return at
        raise RuntimeError(f"the follow printed {line!r}, expected {message!r}")


if __name__ == "__main__":
    raise SystemExit(main())
