"""v2 `amlmon stats EP/DEP --endpoint-logs` over 1M+ traffic-log rows vs one bare summarize (issue 16).

The rows: `POST /_emulator/endpoint-logs/seed` writes AmlOnlineEndpointTrafficLog rows for the
endpoint's deployments (the table's columns only), in the workspace's Log Analytics workspace, which
the endpoint's diagnostic setting (`amlmon diagnostics enable EP --endpoint-logs`) sends them to.
`blue` gets 1M+ rows, `green` a tenth of that (rows the deployment filter must skip).

Baseline, measured in the same run on the same emulator through a bare LogsQueryClient: the one
summarize a user would write by hand for the headline numbers `stats` shows for blue (count, 5xx,
4xx, p50/p95/p99 of the total duration). `stats` runs every section of its per-deployment report
(those, plus model failures, model p95, throttling, payload bytes, one row per response code) plus
the workspace resolution, and must stay within 2x. For scale, a line without a target compares with
the smallest summarize (count, failures, p95): the emulator's engine computes each exact percentile
apart (30-60 ms a percentile at 1M rows), which a real Log Analytics workspace does not.

Second check: platform metrics are read with one Metrics_List call per resource (`stats --metrics`
on EP/DEP: the endpoint and the deployment; on EP: the endpoint and each deployment), counted in the
emulator's request log.

AMLMON_BENCH_ROWS overrides blue's 1M rows (e.g. 100000 for a quick run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Any

from tests.bench.common import median_seconds, report, running_emulator
from tests.conftest import run_cli

ENDPOINT = "bench-ep"
HOURS = 23  # inside --since 1d however long the bench takes
TARGET = 2.0


def main() -> int:
    with running_emulator("v2stats") as (emulator, _):
        return _measure(emulator)


def _cli(args: list[str], env: dict[str, str]) -> str:
    result = run_cli(args, env)
    if result.exit_code != 0:
        raise RuntimeError(f"amlmon {' '.join(args[:3])} failed: {result.stderr.strip()[-400:]}")
    return result.stdout


def _seed(em: Any, ws: dict[str, Any], deployment: str, rows: int) -> dict[str, Any]:
    per_minute = rows / (HOURS * 60)
    status, seeded = em.admin(
        "POST",
        "/_emulator/endpoint-logs/seed",
        {
            "subscription": ws["subscription"],
            "resourceGroup": ws["resourceGroup"],
            "workspace": ws["name"],
            "endpoint": ENDPOINT,
            "deployments": [deployment],
            "hours": HOURS,
            "ratePerMinute": per_minute,
            "seed": 7 if deployment == "blue" else 8,
        },
        timeout=1800,
    )
    if status != 200:
        raise RuntimeError(f"seeding failed: {seeded}")
    print(f"(seeded {seeded['rows']} for {deployment} in {seeded['seconds']:.1f} s)", flush=True)
    return dict(seeded["truth"][f"{ENDPOINT}/{deployment}"])


def _measure(em: Any) -> int:
    from azure.monitor.query import LogsQueryClient, LogsQueryResult

    wanted = int(os.environ.get("AMLMON_BENCH_ROWS", "1000000"))
    ws = em.create_workspace(
        "bv2", deployments=[{"endpoint": ENDPOINT, "name": name} for name in ("blue", "green")]
    )
    env = em.env()
    os.environ.update(env)
    scope = [*ws["scope"], "-o", "json"]
    _cli(["diagnostics", "enable", ENDPOINT, "--endpoint-logs", *scope], env)
    truth = _seed(em, ws, "blue", wanted)
    _seed(em, ws, "green", wanted // 10)

    client = LogsQueryClient(em.credential(), endpoint=em.endpoint + "/v1", connection_verify=em.ca_path)
    end = dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(days=1)
    where = (
        f"AmlOnlineEndpointTrafficLog\n| where EndpointName == '{ENDPOINT}' and DeploymentName == 'blue'\n"
    )
    by_hand = where + (
        "| summarize n = count(), failures = countif(ResponseCode >= 500), "
        "clientErrors = countif(ResponseCode >= 400 and ResponseCode < 500), p50 = percentile(TotalDurationMs, 50), "
        "p95 = percentile(TotalDurationMs, 95), p99 = percentile(TotalDurationMs, 99)"
    )
    smallest = (
        where
        + "| summarize n = count(), failures = countif(ResponseCode >= 500), p95 = percentile(TotalDurationMs, 95)"
    )
    answer = client.query_workspace(ws["customerId"], by_hand, timespan=(start, end))
    assert isinstance(answer, LogsQueryResult), answer.partial_error  # a partial answer: no baseline
    bare_count = int(answer.tables[0].rows[0][0])
    window = ["--since", start.isoformat(), "--until", end.isoformat()]
    stats_args = ["stats", f"{ENDPOINT}/blue", "--endpoint-logs", *window, *scope]
    shown = json.loads(_cli(stats_args, env))["targets"][0]["requests"]
    ok = shown["count"] == bare_count == truth["requests"] and shown["failures"] == truth["failures"]
    if not ok:
        print(f"stats counted {shown}, the bare summarize {bare_count}, the seed {truth}", file=sys.stderr)

    base = median_seconds(
        lambda: client.query_workspace(ws["customerId"], by_hand, timespan=(start, end)), repeat=5
    )
    took = median_seconds(lambda: _cli(stats_args, env), repeat=5)
    least = median_seconds(
        lambda: client.query_workspace(ws["customerId"], smallest, timespan=(start, end)), repeat=5
    )
    print(f"(no target: vs the smallest summarize, count/failures/p95 only: {took / least:.2f}x)", flush=True)
    ok &= report(
        f"stats {ENDPOINT}/blue --endpoint-logs ({bare_count:,} rows) vs one summarize",
        took * 1000,
        base * 1000,
        "ms",
        TARGET,
    )
    # Where the time goes: amlmon's own KQL text through the bare client, and the CLI around it
    # (sign-in, the target's resolution, workspace → App Insights → Log Analytics workspace).
    same_text = _cli([*stats_args[:-2], "--print-query"], env)
    shape = median_seconds(
        lambda: client.query_workspace(ws["customerId"], same_text, timespan=(start, end)), repeat=5
    )
    print(
        f"(split, no target: amlmon's KQL run bare {shape * 1000:.4g} ms = {shape / base:.2f}x the summarize; "
        f"the CLI around it {max(0.0, took - shape) * 1000:.4g} ms)",
        flush=True,
    )
    ok &= _metrics_calls(em, env, scope, f"{ENDPOINT}/blue", resources=2)
    ok &= _metrics_calls(em, env, scope, ENDPOINT, resources=3)
    return 0 if ok and bare_count >= 1_000_000 else 1


def _metrics_calls(em: Any, env: dict[str, str], scope: list[str], target: str, resources: int) -> bool:
    """`stats TARGET --metrics`: Metrics_List requests in the emulator's log, one per resource."""
    before = em.last_seq()
    _cli(["stats", target, "--metrics", "--since", "1h", *scope], env)
    calls = [
        entry
        for entry in em.requests_since(before)
        if entry["path"].lower().endswith("/providers/microsoft.insights/metrics")
    ]
    per_resource: dict[str, int] = {}
    for entry in calls:
        resource = entry["path"].lower().rsplit("/providers/microsoft.insights/metrics", 1)[0]
        per_resource[resource] = per_resource.get(resource, 0) + 1
    ok = len(per_resource) == resources and set(per_resource.values()) == {1}
    print(
        f"stats {target} --metrics: {len(calls)} Metrics_List calls for {len(per_resource)} resources "
        f"(target: one per resource, {resources} resources)  {'ok' if ok else 'MISSED'}",
        flush=True,
    )
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
