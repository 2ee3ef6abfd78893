"""Bulk synthetic telemetry with the real inference server's layouts, and its ground truth.

`POST /_emulator/telemetry/seed` {"subscription","resourceGroup","workspace","services":[name | "ep/dep"],
"hours","ratePerMinute","generation":"1.5"|"1.4"|"mixed","seed"?,"failureRate"?:{name: rate},
"latencyMs"?:{name: median},"kinds"?:[requests|prints|exceptions|modelData|dependencies],"digest"?:bool,
"roles"?:{name: SERVICE_NAME}}
→ {"rows":{table: n},"truth":{name:{requests, failures, p50, p95, p99, exceptions, modelData}},
"modelDataDigest"?, "seconds"}. An emulator that begins to shut down (SIGTERM/SIGINT) stops a seed at
once: 503 ServiceUnavailable; nothing is stored when it was still building rows, tables already
inserted stay when it was storing them.

Every row has exactly the tags and property keys of the real server's envelope of its kind and
generation (reference/inference-server-telemetry/); a v2 deployment writes what the same server writes
with SERVICE_NAME = `roles[target]` (the platform's value is undocumented; default: the deployment name).
Layouts (AZURE-FACTS.md): 1.5.x requests carry placeholders (success true, duration 0, resultCode "0")
and the real values in properties; model data is one `custom_dimensions` Python-literal string (Input
JSON-encoded twice, cut at 8,192 characters). 1.4.x sends role `azmlinfsrv`, result code and success
placeholders too (its duration is real), and separate model-data properties. Percentiles in the truth are nearest-rank over the real durations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.mms_services import workspace_resource_id
from amlmon.emulator.resources import normalize_id
from amlmon.emulator.seed_rows import (
    SeedColumns,
    dependency_row,
    exception_row,
    guid,
    model_data_digest,
    model_data_row,
    print_row,
    request_row,
)
from amlmon.emulator.store import TABLES, StoreClosing, utcnow

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

# Requests a seed simulates between looks at whether the emulator is shutting down (about 0.1 s of work).
STOP_CHECK_EVERY = 2_000


class SeedInterrupted(Exception):
    """The emulator began to shut down while a seed was being built: nothing of it is stored."""


# What a seed writes per simulated request (the body's `kinds` picks some; default all).
ROW_KINDS = frozenset({"requests", "prints", "exceptions", "modelData", "dependencies"})


def register(router: Router, state: EmulatorState) -> None:
    router.add("POST", r"/_emulator/telemetry/seed", lambda r: _seed(state, r))


def _bad(status: int, message: str) -> Response:
    return json_response(
        status, {"error": {"code": "BadRequest" if status == 400 else "NotFound", "message": message}}
    )


def nearest_rank(sorted_values: list[float], percent: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


# The most requests one seed writes: a seed is built in memory before it is stored, and a request
# brings up to five rows (the benchmarks seed about 1,000,000). Larger histories: seed in pieces.
MAX_SEED_REQUESTS = 2_000_000


def _seed_problem(hours: float, rate: float, targets: list[str], generation: str) -> str | None:
    """What makes a seed request meaningless or too large for the emulator's memory, or None."""
    if not 0 < hours < float("inf"):
        return f"hours {hours} must be more than 0"
    if not 0 < rate < float("inf"):
        return f"ratePerMinute {rate} must be more than 0"
    if not targets:
        return "services is empty: name at least one service or endpoint/deployment"
    if len(targets) * hours * 60 * rate > MAX_SEED_REQUESTS:
        return (
            f"{len(targets)} targets x {hours:g} h x {rate:g}/min is more than {MAX_SEED_REQUESTS:,} requests "
            "in one seed: seed fewer hours or a lower rate, in several requests"
        )
    if generation not in ("1.4", "1.5", "mixed"):
        return f"generation {generation!r} is not one of 1.4, 1.5, mixed"
    return None


def _seed(state: EmulatorState, request: Request) -> Response:
    started = time.perf_counter()
    body = request.json() or {}
    try:
        ws_id = workspace_resource_id(body["subscription"], body["resourceGroup"], body["workspace"])
        targets = [str(t) for t in body.get("services") or []]
        hours = float(body.get("hours", 24))
        rate = float(body.get("ratePerMinute", 10))
        kinds = frozenset(body.get("kinds") or ROW_KINDS)
        roles = {str(k): str(v) for k, v in (body.get("roles") or {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        return _bad(400, f"bad seed request: {exc}")
    problem = _seed_problem(hours, rate, targets, str(body.get("generation", "mixed")))
    if problem:
        return _bad(400, f"bad seed request: {problem}")
    if not kinds <= ROW_KINDS:
        return _bad(400, f"bad seed request: kinds must be among {', '.join(sorted(ROW_KINDS))}")
    workspace = state.resources.get(ws_id)
    if workspace is None:
        return _bad(404, f"workspace {ws_id} does not exist")
    component_id = workspace.get("properties", {}).get("applicationInsights")
    component = state.resources.get(component_id) if component_id else None
    if component is None:
        return _bad(400, f"workspace {body['workspace']} has no Application Insights resource")
    digest_lines: list[str] | None = [] if body.get("digest") else None
    columns = SeedColumns()
    try:
        truth = _seed_targets(
            columns,
            body,
            targets,
            component,
            hours=hours,
            rate=rate,
            kinds=kinds,
            roles=roles,
            digest_lines=digest_lines,
            stopping=state.stopping,
        )
        counts = _store_seed(state, columns)
    except (SeedInterrupted, StoreClosing):
        return json_response(
            503,
            {
                "error": {
                    "code": "ServiceUnavailable",
                    "message": "the emulator is shutting down: the seed was cut short",
                }
            },
        )
    answer: dict[str, Any] = {"rows": counts, "truth": truth}
    if digest_lines is not None:
        answer["modelDataDigest"] = model_data_digest(digest_lines)
    return json_response(200, {**answer, "seconds": round(time.perf_counter() - started, 3)})


def _seed_targets(
    columns: SeedColumns,
    body: dict[str, Any],
    targets: list[str],
    component: dict[str, Any],
    *,
    hours: float,
    rate: float,
    kinds: frozenset[str],
    roles: dict[str, str],
    digest_lines: list[str] | None,
    stopping: threading.Event,
) -> dict[str, Any]:
    """Every target's rows into `columns`; the truth per target. `mixed` alternates 1.5 and 1.4."""
    rng = random.Random(body.get("seed", 1))
    truth: dict[str, Any] = {}
    generation = str(body.get("generation", "mixed"))
    for index, target in enumerate(targets):
        layout = generation if generation in ("1.4", "1.5") else ("1.5" if index % 2 == 0 else "1.4")
        truth[target] = _seed_target(
            columns,
            rng,
            target=target,
            layout=layout,
            workspace=str(body["workspace"]),
            component=component,
            hours=hours,
            rate=rate,
            failure_rate=float((body.get("failureRate") or {}).get(target, 0.02)),
            median_ms=float((body.get("latencyMs") or {}).get(target, rng.uniform(40, 200))),
            kinds=kinds,
            digest_lines=digest_lines,
            role_name=roles.get(target),
            stopping=stopping,
        )
    return truth


def _store_seed(state: EmulatorState, columns: SeedColumns) -> dict[str, int]:
    """Rows per table, stored table by table; an emulator shutting down stops it between columns of the
    Arrow table being built or interrupts the insert in progress (that table is rolled back)."""
    counts = {table: columns.count(table) for table in TABLES}

    def batches() -> Iterator[tuple[str, Any]]:
        for table in TABLES:
            if counts[table]:
                batch = columns.arrow(table, between=lambda: _stop_if(state.stopping))
                _stop_if(state.stopping)
                yield table, batch
                del batch  # one table's Arrow copy in memory at a time

    _stop_if(state.stopping)  # before opening the store: shutdown may be closing it already
    state.telemetry.insert_tables(batches())
    return counts


def _stop_if(stopping: threading.Event | None) -> None:
    if stopping is not None and stopping.is_set():
        raise SeedInterrupted


def _seed_target(
    columns: SeedColumns,
    rng: random.Random,
    *,
    target: str,
    layout: str,
    workspace: str,
    component: dict[str, Any],
    hours: float,
    rate: float,
    failure_rate: float,
    median_ms: float,
    kinds: frozenset[str] = ROW_KINDS,
    digest_lines: list[str] | None = None,
    role_name: str | None = None,
    stopping: threading.Event | None = None,
) -> dict[str, Any]:
    service, _, deployment = target.partition("/")
    # The server labels its telemetry with SERVICE_NAME: a v1 service's name; on a v2 deployment the
    # platform's value is not documented (AZURE-FACTS.md), so the seed body says it (`roles`).
    service = role_name or (deployment or service)
    now = utcnow()
    total = max(0, int(hours * 60 * rate))
    span = hours * 3600
    columns.begin({**_target_columns(component, service, layout, rng), "Measurements": "{}"})
    labels = {"Service Name": service, "Workspace Name": workspace}
    # Request ids are unique like the server's uuid4s, also between seeds of the same `seed` number:
    # a 1.4.x exception is attributed through its request id.
    id_salt = int(hashlib.sha256(target.encode()).hexdigest()[:32], 16)
    durations: list[float] = []
    failures = model_data = 0
    sigma = 0.5
    for number in range(total):
        if number % STOP_CHECK_EVERY == 0:
            _stop_if(stopping)
        at = now - dt.timedelta(seconds=rng.uniform(0, span))
        ingested = min(now, at + dt.timedelta(seconds=rng.uniform(2, 40)))
        duration = median_ms * math.exp(rng.gauss(0, sigma))
        failed = rng.random() < failure_rate
        durations.append(duration)
        request_id = guid(rng.getrandbits(128) ^ id_salt)
        base = {
            "TimeGenerated": at,
            "_IngestionTime": ingested,
            "OperationId": request_id.replace("-", ""),
        }
        if "requests" in kinds:
            request_row(columns, base, layout, labels, request_id, duration, failed)
        if "prints" in kinds:
            print_row(columns, base, layout, labels, request_id)
        if failed:
            failures += 1
            if "exceptions" in kinds:
                exception_row(columns, base, layout, labels, request_id)
        elif "modelData" in kinds:
            model_data += 1
            line = model_data_row(columns, base, layout, labels, request_id, rng, service)
            if digest_lines is not None:
                digest_lines.append(line)
        if rng.random() < 0.2 and "dependencies" in kinds:
            dependency_row(columns, base, rng)
    return _target_truth(sorted(durations), failures, model_data, layout)


def _target_columns(
    component: dict[str, Any], service: str, layout: str, rng: random.Random
) -> dict[str, Any]:
    """The columns every row of one target shares: its component's key and id, role, instance, SDK."""
    ikey = str(component.get("properties", {}).get("InstrumentationKey", "")).lower()
    return {
        "IKey": ikey,
        "_ResourceId": normalize_id(component["id"]),
        "AppRoleName": service if layout == "1.5" else "azmlinfsrv",
        "AppRoleInstance": f"{service}-{rng.randrange(16**6):06x}",
        "SDKVersion": "ulm_py3.11.7:otel1.33.0:ext1.0.0b40"
        if layout == "1.5"
        else "py3.11.7:oc0.11.4:ext1.1.15",
        "ClientType": "PC",
        "ItemCount": 1,
    }


def _target_truth(ordered: list[float], failures: int, model_data: int, layout: str) -> dict[str, Any]:
    """What a KQL summarize over one target's seeded rows finds (`ordered`: its request durations)."""
    return {
        "requests": len(ordered),
        "failures": failures,
        "p50": nearest_rank(ordered, 50),
        "p95": nearest_rank(ordered, 95),
        "p99": nearest_rank(ordered, 99),
        "exceptions": failures,
        "modelData": model_data,
        "generation": layout,
    }
