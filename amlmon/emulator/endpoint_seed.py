"""Bulk rows for a v2 endpoint's Log Analytics tables (benchmarks and tests), without a front door.

`POST /_emulator/endpoint-logs/seed` {"subscription","resourceGroup","workspace","endpoint",
"deployments":[name],"hours","ratePerMinute","seed"?,"failureRate"?,"clientErrorRate"?,"latencyMs"?}
→ {"rows":{"AmlOnlineEndpointTrafficLog": n},"truth":{"ep/dep":{requests, failures, clientErrors,
p50, p95, p99}},"seconds"}: traffic-log rows spread over the last `hours`, with the columns the
emulator's front door fills (online_scoring.py; the table's own columns only, endpoint_tables.py),
built column-wise with numpy (a million rows in seconds). A failure is answered 500 with the model's
500, a client error 429 (the front door's throttling answer) with no model status. Percentiles in the
truth are nearest-rank over TotalDurationMs.

`POST /_emulator/endpoint-logs/rows` {"table", "rows":[{column: value}]}: rows of one endpoint table
as given (times as ISO 8601 strings); every key must be a column of that table, `_ResourceId` (the
endpoint's ARM ID) is required, and the emulator stamps `_ItemId` and `_IngestionTime` as for rows the
inference child prints (now + `settings.ingestionDelay`). → {"inserted": n}.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from typing import TYPE_CHECKING, Any

from amlmon.emulator.endpoint_tables import ENDPOINT_TABLES
from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.mms_services import workspace_resource_id
from amlmon.emulator.store import arrow_table, utcnow

if TYPE_CHECKING:
    import numpy as np

    from amlmon.emulator.state import EmulatorState

TRAFFIC = "AmlOnlineEndpointTrafficLog"
MAX_SEED_ROWS = 5_000_000  # built in memory before it is stored
_STAMPED = ("_ItemId", "_IngestionTime")


def register(router: Router, state: EmulatorState) -> None:
    router.add("POST", r"/_emulator/endpoint-logs/seed", lambda r: _seed(state, r))
    router.add("POST", r"/_emulator/endpoint-logs/rows", lambda r: _rows(state, r))


def _bad(status: int, message: str) -> Response:
    code = "BadRequest" if status == 400 else "NotFound"
    return json_response(status, {"error": {"code": code, "message": message}})


# --- seed ------------------------------------------------------------------------------------------


def _seed(state: EmulatorState, request: Request) -> Response:
    started = time.perf_counter()
    body = request.json() or {}
    try:
        ws_id = workspace_resource_id(body["subscription"], body["resourceGroup"], body["workspace"])
        endpoint_name = str(body["endpoint"])
        deployments = [str(d) for d in body.get("deployments") or []]
        hours = float(body.get("hours", 24))
        rate = float(body.get("ratePerMinute", 10))
        rates = (float(body.get("failureRate", 0.02)), float(body.get("clientErrorRate", 0.01)))
        median_ms = float(body.get("latencyMs", 80))
    except (KeyError, TypeError, ValueError) as exc:
        return _bad(400, f"bad seed request: {exc}")
    total = len(deployments) * int(hours * 60 * rate)
    if not deployments or not 0 < hours < math.inf or not 0 < rate < math.inf or total > MAX_SEED_ROWS:
        return _bad(
            400,
            f"bad seed request: name deployments, hours and ratePerMinute over 0, at most {MAX_SEED_ROWS:,} rows",
        )
    workspace = state.resources.get(ws_id)
    endpoint = state.resources.get(f"{ws_id}/onlineEndpoints/{endpoint_name}")
    if workspace is None or endpoint is None:
        return _bad(404, f"online endpoint {endpoint_name} of workspace {ws_id} does not exist")
    import numpy as np

    rng = np.random.default_rng(int(body.get("seed", 1)))
    truth, count = {}, 0
    for deployment in deployments:
        columns = _traffic_columns(
            rng, workspace, endpoint, deployment, hours, int(hours * 60 * rate), rates, median_ms
        )
        truth[f"{endpoint_name}/{deployment}"] = _truth(columns)
        state.telemetry.insert_arrow(TRAFFIC, _arrow(columns))
        count += len(columns["TotalDurationMs"])
    _remember(state, str(endpoint["id"]), TRAFFIC)
    answer = {"rows": {TRAFFIC: count}, "truth": truth}
    return json_response(200, {**answer, "seconds": round(time.perf_counter() - started, 3)})


def _traffic_columns(
    rng: np.random.Generator,
    workspace: dict[str, Any],
    endpoint: dict[str, Any],
    deployment: str,
    hours: float,
    n: int,
    rates: tuple[float, float],
    median_ms: float,
) -> dict[str, Any]:
    """One deployment's `n` requests as column arrays (numpy) or per-table constants (plain values)."""
    import numpy as np

    now = np.datetime64(utcnow(), "us")
    at = now - (rng.uniform(0, hours * 3600, n) * 1e6).astype("timedelta64[us]")
    ingested = np.minimum(now, at + (rng.uniform(30, 180, n) * 1e6).astype("timedelta64[us]"))
    draw = rng.random(n)
    failed, client_error = draw < rates[0], (draw >= rates[0]) & (draw < rates[0] + rates[1])
    code = np.where(failed, 500, np.where(client_error, 429, 200)).astype(np.int32)
    total_ms = np.maximum(1, np.rint(median_ms * np.exp(rng.normal(0, 0.5, n)))).astype(np.int32)
    served = ~client_error  # a throttled request never reaches the model
    request_ms = rng.integers(0, 3, n, dtype=np.int32)
    properties = endpoint.get("properties") or {}
    return {
        "TimeGenerated": at,
        "_IngestionTime": ingested,
        "ResponseCode": code,
        "ResponseCodeReason": np.where(
            failed, "Internal Server Error", np.where(client_error, "Too Many Requests", "OK")
        ),
        "ModelStatusCode": np.where(served, code, 0).astype(np.int32),
        "ModelStatusReason": np.where(failed, "Internal Server Error", np.where(served, "OK", "")),
        "TotalDurationMs": total_ms,
        "RequestDurationMs": request_ms,
        "ResponseDurationMs": np.where(served, np.maximum(0, total_ms - request_ms - 1), 0).astype(np.int32),
        "RequestThrottlingDelayMs": np.where(client_error, rng.integers(1, 50, n, dtype=np.int32), 0).astype(
            np.int32
        ),
        "ResponseThrottlingDelayMs": np.zeros(n, dtype=np.int32),
        "RequestPayloadSize": rng.integers(60, 4000, n, dtype=np.int32),
        "ResponsePayloadSize": np.where(served, rng.integers(20, 400, n, dtype=np.int32), 80).astype(
            np.int32
        ),
        "XRequestId": [str(uuid.UUID(int=int(v))) for v in _random_128(rng, n)],
        "_ItemId": [str(uuid.UUID(int=int(v))) for v in _random_128(rng, n)],
        # the same for every row of the deployment
        "Method": "POST",
        "Path": "/score",  # the scoring URI's path on the endpoint's host
        "Protocol": "HTTP/1.1",
        "XMSClientRequestId": None,
        "EndpointName": endpoint.get("name"),
        "DeploymentName": deployment,
        "AuthType": properties.get("authMode"),
        "UserAgent": "python-requests/2.32.3",
        "Location": endpoint.get("location"),
        "AzureMLWorkspaceId": (workspace.get("properties") or {}).get("workspaceId"),
        "AzureMLWorkspaceName": workspace.get("name"),
        "_ResourceId": str(endpoint["id"]).upper(),
    }


def _random_128(rng: np.random.Generator, n: int) -> list[int]:
    import numpy as np

    high, low = rng.integers(0, 2**63, n, dtype=np.uint64), rng.integers(0, 2**63, n, dtype=np.uint64)
    return [(int(h) << 64) | int(lo) for h, lo in zip(high.tolist(), low.tolist(), strict=True)]


def _arrow(columns: dict[str, Any]) -> Any:
    """An Arrow table with exactly the traffic table's columns; absent ones (IdentityData,
    OperationName: the front door leaves them empty too) are nulls."""
    import numpy as np
    import pyarrow as pa

    n = len(columns["TotalDurationMs"])
    arrays = {}
    for name, _ in ENDPOINT_TABLES[TRAFFIC]:
        value = columns.get(name)
        if isinstance(value, np.ndarray | list):
            arrays[name] = pa.array(value)
        else:
            arrays[name] = pa.nulls(n) if value is None else pa.repeat(pa.scalar(value), n)
    return pa.table(arrays)


def _truth(columns: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    durations = np.sort(columns["TotalDurationMs"])
    n = len(durations)

    def rank(percent: float) -> int | None:
        return int(durations[max(1, math.ceil(percent / 100 * n)) - 1]) if n else None

    codes = columns["ResponseCode"]
    return {
        "requests": n,
        "failures": int((codes >= 500).sum()),
        "clientErrors": int(((codes >= 400) & (codes < 500)).sum()),
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
    }


# --- rows ------------------------------------------------------------------------------------------


def _rows(state: EmulatorState, request: Request) -> Response:
    from amlmon.emulator.ingestion import parse_time

    body = request.json() or {}
    table = str(body.get("table") or "")
    if table not in ENDPOINT_TABLES:
        return _bad(400, f"table must be one of {', '.join(ENDPOINT_TABLES)}")
    given = body.get("rows")
    if not isinstance(given, list) or not all(isinstance(row, dict) for row in given):
        return _bad(400, "rows must be a list of objects")
    columns = dict(ENDPOINT_TABLES[table])
    for row in given:
        unknown = sorted(set(row) - set(columns) | (set(row) & set(_STAMPED)))
        if unknown or not row.get("_ResourceId"):
            return _bad(400, f"{table} rows need _ResourceId and only its columns (not {unknown})")
    delay = dt.timedelta(seconds=state.number("ingestionDelay", 0.0))
    now = utcnow()
    rows = [
        {
            **{k: parse_time(v) if columns[k] == "TIMESTAMP" else v for k, v in row.items()},
            "_ItemId": str(uuid.uuid4()),
            "_IngestionTime": now + delay,
        }
        for row in given
    ]
    state.telemetry.insert_arrow(
        table, arrow_table(table, {name: [r.get(name) for r in rows] for name in columns})
    )
    for resource_id in {str(row["_ResourceId"]) for row in rows}:
        _remember(state, resource_id, table)
    return json_response(200, {"inserted": len(rows)})


def _remember(state: EmulatorState, endpoint_id: str, table: str) -> None:
    """Seeded rows count as ingested now: where the endpoint's settings send them now keeps them."""
    from amlmon.emulator.log_ledger import log_destinations, remember

    remember(state, endpoint_id, log_destinations(state, endpoint_id, table))
