"""`amlmon stats --since 7d` over 1M+ seeded requests vs one bare summarize query (issue 6).

Baseline, measured in the same run on the same emulator through a bare LogsQueryClient: the single
summarize a user would write by hand for the headline request numbers (count, failures, p95) — one
that is right on 1.5.x telemetry, whose standard columns are placeholders, so it reads the duration
and result code from the custom dimensions (AZURE-FACTS.md). `stats` runs three such sections
(requests with bins and result codes, dependencies by type and target, exceptions with the user's
real types) and must stay within the same order of magnitude: ratio <= 10.

For scale, a second line compares with a summarize over the standard columns only (wrong numbers on
1.5.x telemetry; no target): it shows what reading custom dimensions costs the emulator's engine.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

from tests.bench.common import median_seconds, report, running_emulator, seeded_workspace
from tests.conftest import run_cli

SERVICES = ["bench-a", "bench-b"]
RATE_PER_MINUTE = 50  # per service: 2 × 50 × 60 × 24 × 7 = 1,008,000 requests


def main() -> int:
    with running_emulator("stats") as (emulator, _):
        return _measure(emulator)


def _measure(emulator: object) -> int:
    from azure.monitor.query import LogsQueryClient

    em: Any = emulator  # tests.conftest.Emulator
    ws, seeded = seeded_workspace(
        em, "bench-stats", SERVICES, hours=24 * 7, ratePerMinute=RATE_PER_MINUTE, generation="mixed", seed=3
    )
    rows = int(seeded["rows"]["AppRequests"])
    print(f"(seeded {rows:,} requests in {seeded['wallSeconds']:.1f} s)", flush=True)

    client = LogsQueryClient(em.credential(), endpoint=em.endpoint + "/v1", connection_verify=em.ca_path)

    def bare(kql: str) -> Callable[[], object]:
        return lambda: client.query_resource(ws["appInsightsId"], kql, timespan=dt.timedelta(days=7, hours=1))

    by_hand = bare(
        "requests\n"
        '| extend d = tostring(customDimensions["duration"]), c = tostring(customDimensions["resultCode"])\n'
        "| extend ms = iff(isnotempty(d), totimespan(d) / 1ms, duration), "
        "failed = iff(isnotempty(c), toint(c) >= 400, not(success))\n"
        "| summarize n = count(), failures = countif(failed), p95 = percentile(ms, 95)"
    )
    standard_only = bare("requests | summarize n = count(), p95 = percentile(duration, 95)")
    scope = [*ws["scope"], "-o", "json"]
    env = em.env()

    def stats() -> None:
        result = run_cli(["stats", "--since", "7d", *scope], env)
        if result.exit_code != 0:
            raise RuntimeError(result.stderr)

    os.environ.update(env)
    base = median_seconds(by_hand, repeat=5)
    floor = median_seconds(standard_only, repeat=5)
    took = median_seconds(stats, repeat=5)
    ok = report(
        f"stats --since 7d ({rows:,} requests) vs one summarize", took * 1000, base * 1000, "ms", 10.0
    )
    ratio = took / floor if floor else float("inf")
    print(
        f"(for scale: a summarize of the standard columns only takes {floor * 1000:.4g} ms; "
        f"stats is {ratio:.1f}x that; no target)",
        flush=True,
    )
    return 0 if ok and rows >= 1_000_000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
