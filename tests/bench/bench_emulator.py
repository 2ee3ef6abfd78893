"""Emulator telemetry store (issue 3): seeding time, ingestion rows/s, query latency on seeded rows.

Lines:
- seed: seconds to seed AMLMON_BENCH_ROWS requests (default 1,000,000; plus their traces, exceptions and
  dependencies), scaled to 1M trace rows, against the issue's budget of 60 s;
- ingest: seconds for 2,000 envelopes posted to /v2.1/track in batches of 500 against a plain DuckDB executemany of the same
  rows into a scratch table;
- query: a `summarize count(), avg(duration) by cloud_RoleName` over all seeded requests through the
  real LogsQueryClient, against the equivalent SQL on the same DuckDB file opened directly afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from tests.bench.common import median_seconds, report, report_budget
from tests.conftest import start_emulator, stop_emulator
from tests.helpers import logs_client, trace


def main() -> int:
    total = int(os.environ.get("AMLMON_BENCH_ROWS", "1000000"))
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "emulator"
        emulator = start_emulator(data)
        try:
            name = "bench" + uuid.uuid4().hex[:6]
            ws = {"subscription": str(uuid.uuid4()), "resourceGroup": "rg-bench"}
            services = ["svc-a", "svc-b", "ep/blue", "svc-c"]
            status, created = emulator.admin(
                "POST",
                "/_emulator/workspaces",
                {
                    **ws,
                    "name": name,
                    "services": [{"name": s, "computeType": "ACI"} for s in services if "/" not in s],
                    "deployments": [{"endpoint": "ep", "name": "blue", "endpointComputeType": "Managed"}],
                },
            )
            assert status in (200, 201), created
            hours = 24.0
            rate = total / len(services) / (hours * 60)
            started = time.perf_counter()
            status, seeded = emulator.admin(
                "POST",
                "/_emulator/telemetry/seed",
                {**ws, "workspace": name, "services": services, "hours": hours, "ratePerMinute": rate},
                timeout=900,
            )
            seconds = time.perf_counter() - started
            assert status == 200, seeded
            requests = seeded["rows"]["AppRequests"]
            traces = seeded["rows"]["AppTraces"]
            # The target: 1,000,000 trace rows in under a minute (each request also brings its
            # request row, a print() trace, a model-data trace or an exception, sometimes a dependency).
            ok &= report("seed 1M trace rows", seconds * 1_000_000 / traces, 60.0, "s", 1.0)
            print(f"(seeding 1M requests with all their rows: {seconds * 1_000_000 / requests:.1f} s)")

            key = created["instrumentationKey"]
            now = dt.datetime.now(dt.UTC)
            batches = [[trace(key, f"m{i}-{j}", at=now) for j in range(500)] for i in range(4)]
            context = ssl.create_default_context(cafile=emulator.ca_path)

            def ingest() -> None:
                for batch in batches:
                    request = urllib.request.Request(
                        emulator.endpoint + "/v2.1/track", data=json.dumps(batch).encode(), method="POST"
                    )
                    with urllib.request.urlopen(request, context=context, timeout=60) as response:
                        response.read()

            ingest_seconds = median_seconds(ingest, repeat=3)
            import duckdb

            scratch = duckdb.connect()
            scratch.execute(
                "create table t (TimeGenerated timestamp, Message varchar, Properties varchar, IKey varchar)"
            )
            rows = [(now, e["data"]["baseData"]["message"], "{}", key) for b in batches for e in b]

            def plain() -> None:
                scratch.executemany("insert into t values (?, ?, ?, ?)", rows)

            plain_seconds = median_seconds(plain, repeat=3)
            count = sum(len(b) for b in batches)
            print(
                f"ingest /v2.1/track: {count / ingest_seconds:.0f} rows/s, plain DuckDB {count / plain_seconds:.0f} rows/s"
            )
            # the same rows: HTTPS + JSON decoding + mapping may cost at most 10x a plain executemany
            ok &= report(f"ingest {count} envelopes", ingest_seconds, plain_seconds, "s", 10.0)
            client = logs_client(emulator)
            kql = "requests | summarize n=count(), avg(duration) by cloud_RoleName"

            def query() -> None:
                client.query_resource(created["appInsightsId"], kql, timespan=dt.timedelta(days=2))

            query_seconds = median_seconds(query, repeat=5)
        finally:
            stop_emulator(emulator)
        raw = duckdb.connect(str(data / "telemetry.duckdb"), read_only=True)
        sql = "select AppRoleName, count(*), avg(DurationMs) from store.AppRequests group by AppRoleName"
        raw_seconds = median_seconds(lambda: raw.execute(sql).fetchall(), repeat=5)
        # the HTTPS round trip, token check, KQL translation and JSON answer are a fixed cost: budget 0.5 s
        ok &= report_budget(f"query summarize over {requests} requests", query_seconds, raw_seconds, "s", 0.5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
