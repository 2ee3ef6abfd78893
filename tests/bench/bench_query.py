"""`amlmon query` and `amlmon traces` against the bare LogsQueryClient (issue 5).

Everything runs in this process: amlmon through its real entry point (`amlmon.cli.app.run`, the same
path the `cli` test fixture takes: argument parsing, a fresh AppContext, credential and workspace
resolution, the query, decoding and rendering into a discarded stream), the baseline through a
LogsQueryClient built once with a warm token that already knows the resource ID. Both are measured in
the same run against the same emulator and seeded data.

Lines (target: amlmon within 1.5x of the bare client):
- query: one KQL returning ~100k rows, -o jsonl, vs `query_resource` of the same text;
- traces --model-data --since 1d over ~1M seeded records, jsonl and pretty, vs the bare client
  fetching the same pages (same KQL text) — rows/s;
- traces --follow poll cost: one idle poll (nothing new, the overlap re-read) vs the same query bare;
- follow latency: event queryable → line printed, against the poll interval (budget: one interval
  plus one second).

AMLMON_BENCH_ROWS overrides the ~1M seeded records (e.g. 100000 for a quick run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from typing import Any

from tests.bench.common import median_seconds, report, report_budget, running_emulator, seeded_workspace
from tests.conftest import REPO_ROOT, run_cli

SERVICES = ["bench-a", "bench-b"]
TARGET = 1.5


def main() -> int:
    with running_emulator("query") as (emulator, _):
        return _measure(emulator)


def _seed(em: Any, rows: int) -> tuple[dict[str, Any], int]:
    """A workspace with ~`rows` model data records in the last day: (workspace, records)."""
    per_minute = max(1, round(rows / (len(SERVICES) * 24 * 60)))
    # 23 hours: inside --since 1d however long the bench takes
    ws, seeded = seeded_workspace(
        em, "bq", SERVICES, hours=23, ratePerMinute=per_minute, generation="mixed", seed=5
    )
    print(f"(seeded {seeded['rows']} in {seeded['wallSeconds']:.1f} s)", flush=True)
    return ws, sum(int(truth.get("modelData", 0)) for truth in seeded["truth"].values())


def _cli(args: list[str], env: dict[str, str]) -> str:
    result = run_cli(args, env)
    if result.exit_code != 0:
        raise RuntimeError(f"amlmon {' '.join(args[:3])} failed: {result.stderr.strip()[-400:]}")
    return result.stdout


def _measure(em: Any) -> int:
    from azure.monitor.query import LogsQueryClient

    from amlmon import traces as domain
    from amlmon.queries import traces as trace_queries

    wanted = int(os.environ.get("AMLMON_BENCH_ROWS", "1000000"))
    ws, records = _seed(em, wanted)
    print(f"({records:,} model data records in the seed)", flush=True)
    env = em.env()
    os.environ.update(env)
    scope = ws["scope"]
    client = LogsQueryClient(em.credential(), endpoint=em.endpoint + "/v1", connection_verify=em.ca_path)
    resource = ws["appInsightsId"]
    day = dt.timedelta(days=1)
    ok = True

    # --- query ------------------------------------------------------------------------------------
    kql = (
        'traces | where message == "model_data_collection" | project timestamp, message, severityLevel, '
        "cloud_RoleName, itemId | take 100000"
    )
    bare_rows = len(_tables(client.query_resource(resource, kql, timespan=day))[0].rows)
    base = median_seconds(lambda: client.query_resource(resource, kql, timespan=day), repeat=5)
    took = median_seconds(lambda: _cli(["query", kql, "--since", "1d", "-o", "jsonl", *scope], env), repeat=5)
    ok &= report(f"query, {bare_rows:,} rows, -o jsonl", took * 1000, base * 1000, "ms", TARGET)

    # --- traces --since 1d over the seeded records ----------------------------------------------
    end = dt.datetime.now(dt.UTC)
    start = end - day
    spec = domain.TraceFilter(start=start, end=end, model_data=True)

    def bare_pages() -> int:
        fetched, after, boundary = 0, None, 0
        while True:
            query = trace_queries.window_query(spec, "app-insights", after=after)
            table = _tables(client.query_resource(resource, query, timespan=(start, end)))[0]
            fetched += len(table.rows) - boundary
            if len(table.rows) < trace_queries.WINDOW_PAGE_ROWS:
                return fetched
            after = table.rows[-1][0]
            boundary = sum(1 for row in table.rows if row[0] == after)

    count = bare_pages()
    runs = 3 if count < 300_000 else 1  # at ~1M records one run takes minutes and varies little
    base = median_seconds(bare_pages, repeat=runs, warmup=0)
    window = ["--since", iso(start), "--until", iso(end)]
    for style in ("jsonl", "pretty"):
        printed = 0

        def traces_run(style: str = style) -> None:
            nonlocal printed
            printed = _cli(["traces", "--model-data", *window, "--format", style, *scope], env).count("\n")

        took = median_seconds(traces_run, repeat=runs, warmup=0)
        if printed != count:
            print(f"traces printed {printed} lines for {count} records", file=sys.stderr)
            ok = False
        ok &= report(
            f"traces --model-data --since 1d --format {style}, {count:,} records "
            f"({count / took:,.0f} rows/s vs bare {count / base:,.0f} rows/s)",
            took,
            base,
            "s",
            TARGET,
        )

    # --- follow: one idle poll ------------------------------------------------------------------
    ok &= _poll_cost(em, client, ws, env, scope)
    ok &= _follow_latency(em, ws, env, scope)
    return 0 if ok else 1


def _tables(response: Any) -> Any:
    if not hasattr(response, "tables"):
        raise RuntimeError(f"partial result from the bare client: {response.partial_error}")
    return response.tables


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _poll_cost(em: Any, client: Any, ws: dict[str, Any], env: dict[str, str], scope: list[str]) -> bool:
    """One poll of an idle stream, overlap re-read included, vs the bare client running that query."""
    from amlmon import follow
    from amlmon import traces as domain
    from amlmon.cli.common import set_app_context
    from amlmon.cli.options import split_global_options
    from amlmon.context import AppContext
    from amlmon.queries import traces as trace_queries

    now = dt.datetime.now(dt.UTC)
    ikey = ws["instrumentationKey"].lower()
    envelopes = [_trace(ikey, f"poll-{n}", now - dt.timedelta(seconds=n % 50)) for n in range(2000)]
    em.admin("POST", "/_emulator/telemetry/rows", {"instrumentationKey": ikey, "envelopes": envelopes})
    spec = domain.TraceFilter(start=now - dt.timedelta(minutes=5))
    options, _ = split_global_options(scope)
    ctx = AppContext(options)
    set_app_context(ctx)
    try:
        follower = follow.Follower(
            domain.service_fetch(ctx, "app-insights", retries=False),
            spec,
            "app-insights",
            interval=1,
            emit=lambda batch: None,
            status=lambda text: None,
        )
        follower.poll()  # the backlog; from here on every poll re-reads the overlap and prints nothing
        query = trace_queries.follow_query(spec, "app-insights", ingested_after=follower.state.lower_bound)
        timespan = (spec.start, now + dt.timedelta(hours=1))
        base = median_seconds(lambda: client.query_resource(ws["appInsightsId"], query, timespan=timespan))
        took = median_seconds(follower.poll)
        return report(
            "traces --follow, one idle poll (2,000 rows in the overlap)",
            took * 1000,
            base * 1000,
            "ms",
            TARGET,
        )
    finally:
        ctx.close()
        set_app_context(None)


def _trace(ikey: str, message: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": iso(at),
        "iKey": ikey,
        "tags": {"ai.cloud.role": "bench-follow", "ai.cloud.roleInstance": "h"},
        "data": {
            "baseType": "MessageData",
            "baseData": {"ver": 2, "message": message, "severityLevel": "Information"},
        },
    }


def _follow_latency(em: Any, ws: dict[str, Any], env: dict[str, str], scope: list[str]) -> bool:
    """An event becomes queryable → its line appears: at most one poll interval plus one second."""
    interval = 1.0
    ikey = ws["instrumentationKey"].lower()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amlmon",
            "traces",
            "bench-follow",
            "-f",
            "--since",
            "1m",
            "--interval",
            "1s",
            "--message",
            "latency-",
            "--format",
            "raw",
            *scope,
        ],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    latencies = []
    try:
        time.sleep(3)  # started and past its first poll
        assert process.stdout is not None
        for n in range(5):
            sent = time.perf_counter()
            em.admin(
                "POST",
                "/_emulator/telemetry/rows",
                {
                    "instrumentationKey": ikey,
                    "envelopes": [_trace(ikey, f"latency-{n}", dt.datetime.now(dt.UTC))],
                },
            )
            line = process.stdout.readline()
            if line.strip() != f"latency-{n}":
                raise RuntimeError(f"unexpected line {line!r}")
            latencies.append(time.perf_counter() - sent)
            time.sleep(0.37)  # land at a different point of the poll cycle each time
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
    worst = max(latencies)
    return report_budget("traces --follow, queryable → printed (worst of 5)", worst, interval, "s", 1.0)


if __name__ == "__main__":
    raise SystemExit(main())
