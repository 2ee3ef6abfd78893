"""`amlmon data pull` of ~1,000,000 model data records to Parquet (issue 7).

Targets:
- time within 1.5× of fetching the same time slices with a bare LogsQueryClient (same query text,
  rows only materialized, nothing decoded or written), both run as fresh processes;
- peak memory (RSS of the amlmon process) under 300 MB, and flat in row count: the full pull may
  use at most 1.5× the peak of a pull of a quarter of the rows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.bench.common import report, running_emulator, seeded_workspace

SERVICES = ["bench-a", "bench-b"]
RATE_PER_MINUTE = 50  # per service: 2 × 50 × 60 × 24 × 7 = 1,008,000 requests, one model data record each
HOURS = 24 * 7
MEMORY_LIMIT_MB = 300.0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--baseline":
        return _baseline(json.loads(sys.argv[2]))
    with running_emulator("data") as (emulator, tmp):
        return _measure(emulator, tmp)


def _run_measured(
    args: list[str], env: dict[str, str], stderr: list[str] | None = None
) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of a child process, RSS sampled every 20 ms; its stderr is
    appended to `stderr` when given."""
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    out, err = process.communicate()
    if stderr is not None:
        stderr.append(err)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{args[3:6]} failed ({process.returncode}): {err.strip()[-500:]}")
    return elapsed, peak / 1e6, out


def _measure(em: Any, tmp: Path) -> int:
    ws, seeded = seeded_workspace(
        em, "bench-data", SERVICES, hours=HOURS, ratePerMinute=RATE_PER_MINUTE, generation="mixed", seed=1
    )
    expected = sum(int(t.get("modelData", 0)) for t in seeded["truth"].values())
    print(f"   seeded {expected} model data records in {seeded['wallSeconds']:.0f} s", flush=True)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = end - dt.timedelta(hours=HOURS + 1)
    env = {**os.environ, **em.env(), "PYTHONDONTWRITEBYTECODE": "1"}
    common = [*ws["scope"], "-o", "json"]

    def pull(since: dt.datetime, out: Path) -> tuple[float, float, dict[str, Any]]:
        args = [sys.executable, "-m", "amlmon", "data", "pull", *common, "--out", str(out)]
        args += ["--since", since.isoformat(), "--until", end.isoformat()]
        seconds, peak, stdout = _run_measured(args, env)
        return seconds, peak, json.loads(stdout)

    _, quarter_peak, quarter = pull(end - (end - start) / 4, tmp / "quarter.parquet")
    seconds, peak, summary = pull(start, tmp / "all.parquet")
    if summary["rows"] != expected:
        print(f"data pull wrote {summary['rows']} rows, the seed made {expected}", file=sys.stderr)
        return 1
    plan = {
        "appInsightsId": ws["appInsightsId"],
        "start": start.isoformat(),
        "end": end.isoformat(),
        "slices": summary["slices"],
        "endpoint": em.endpoint,
        "ca": em.ca_path,
        "token_url": em.token_url,
    }
    base_seconds, _, _ = _run_measured(
        [sys.executable, "-m", "tests.bench.bench_data", "--baseline", json.dumps(plan)], env
    )
    print(
        f"   {summary['rows']} rows in {summary['slices']} slices; quarter: {quarter['rows']} rows",
        flush=True,
    )
    ok = report("data pull 1M rows → parquet", seconds, base_seconds, "s", 1.5)
    ok &= _report_memory(peak, quarter_peak)
    return 0 if ok else 1


def _report_memory(peak: float, quarter_peak: float) -> bool:
    ratio = peak / quarter_peak if quarter_peak else float("inf")
    ok = peak <= MEMORY_LIMIT_MB and ratio <= 1.5
    print(
        f"data pull peak memory: {peak:.0f} MB  baseline {quarter_peak:.0f} MB (a quarter of the rows)  "
        f"ratio {ratio:.2f}  target <= 1.5 and <= {MEMORY_LIMIT_MB:.0f} MB  {'ok' if ok else 'MISSED'}",
        flush=True,
    )
    return ok


def _baseline(plan: dict[str, Any]) -> int:
    """Fetch the same range in the same number of equal slices with a bare LogsQueryClient (same route)."""
    from azure.monitor.query import LogsQueryClient, LogsQueryResult

    from amlmon.azure.credentials import EmulatorCredential
    from amlmon.queries.model_data import rows_query

    client = LogsQueryClient(
        EmulatorCredential(plan["token_url"], plan["ca"]),
        endpoint=plan["endpoint"] + "/v1",
        audience=plan["endpoint"],
        connection_verify=plan["ca"],
    )
    start, end = dt.datetime.fromisoformat(plan["start"]), dt.datetime.fromisoformat(plan["end"])
    step = (end - start) / int(plan["slices"])
    rows = 0
    for index in range(int(plan["slices"])):
        left = start + step * index
        right = end if index == int(plan["slices"]) - 1 else left + step
        query = rows_query([], "app-insights", left, right)
        response = client.query_resource(plan["appInsightsId"], query, timespan=(left, right))
        if not isinstance(response, LogsQueryResult):  # a partial answer is a failed baseline
            raise RuntimeError(f"the baseline's query {index} answered in part: {response.partial_error}")
        rows += sum(len(table.rows) for table in response.tables)
    print(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
