"""`amlmon stats --since 7d` over 1M+ seeded requests vs one bare summarize query (issue 6).

Baseline, measured in the same run on the same emulator: a single `requests | summarize count(),
percentile(duration, 95)` through LogsQueryClient. `stats` runs three summarizing queries (requests,
dependencies, exceptions) that also read the 1.5.x custom dimensions, so it may cost a few times the
bare query; it must stay within the same order of magnitude (ratio <= 10).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import uuid

from tests.bench.common import median_seconds, report, running_emulator
from tests.conftest import run_cli

SERVICES = ["bench-a", "bench-b"]
RATE_PER_MINUTE = 50  # per service: 2 × 50 × 60 × 24 × 7 = 1,008,000 requests


def main() -> int:
    with running_emulator("stats") as (emulator, _):
        return _measure(emulator)


def _measure(emulator: object) -> int:
    from azure.monitor.query import LogsQueryClient

    em = emulator  # typed loosely: tests.conftest.Emulator
    suffix = uuid.uuid4().hex[:6]
    ws = {
        "subscription": str(uuid.uuid4()),
        "resourceGroup": f"rg-bench-{suffix}",
        "name": f"ws-bench-{suffix}",
    }
    services = [{"name": name, "computeType": "ACI"} for name in SERVICES]
    status, created = em.admin("POST", "/_emulator/workspaces", {**ws, "services": services})  # type: ignore[attr-defined]
    if status not in (200, 201):
        print(f"could not create the workspace: {status} {created}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    status, seeded = em.admin(  # type: ignore[attr-defined]
        "POST",
        "/_emulator/telemetry/seed",
        {
            "subscription": ws["subscription"],
            "resourceGroup": ws["resourceGroup"],
            "workspace": ws["name"],
            "services": SERVICES,
            "hours": 24 * 7,
            "ratePerMinute": RATE_PER_MINUTE,
            "generation": "mixed",
            "seed": 3,
        },
        timeout=1800,
    )
    if status not in (200, 201):
        print(f"could not seed: {status} {seeded}", file=sys.stderr)
        return 1
    counts = seeded["rows"]
    rows = int(counts.get("AppRequests", counts.get("requests", 0)))
    print(f"(seeded {rows:,} requests in {time.perf_counter() - started:.1f} s)", flush=True)

    client = LogsQueryClient(em.credential(), endpoint=em.endpoint + "/v1", connection_verify=em.ca_path)  # type: ignore[attr-defined]
    bare = "requests | summarize n = count(), p95 = percentile(duration, 95)"

    def baseline() -> None:
        client.query_resource(created["appInsightsId"], bare, timespan=dt.timedelta(days=7, hours=1))

    scope = ["--subscription", ws["subscription"], "-g", ws["resourceGroup"], "-w", ws["name"], "-o", "json"]
    env = em.env()  # type: ignore[attr-defined]

    def stats() -> None:
        result = run_cli(["stats", "--since", "7d", *scope], env)
        if result.exit_code != 0:
            raise RuntimeError(result.stderr)

    os.environ.update(env)
    base = median_seconds(baseline, repeat=5)
    took = median_seconds(stats, repeat=5)
    ok = report(f"stats --since 7d ({rows:,} requests)", took * 1000, base * 1000, "ms", 10.0)
    return 0 if ok and rows >= 1_000_000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
