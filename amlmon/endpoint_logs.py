"""`amlmon logs TARGET --source endpoint-logs [--events] [-f]`: a v2 endpoint's resource logs.

`AmlOnlineEndpointConsoleLog` holds the containers' stdout (score.py `print` and `logging`), one row
per line, and `AmlOnlineEndpointEventLog` the container events (Pulled, Started, Killing, BackOff,
LivenessProbeFailed, …). Neither has an endpoint column: the endpoint is the last segment of
`_ResourceId` (`…/ONLINEENDPOINTS/{ep}`, upper-case as Azure writes it — `endswith` in KQL ignores
case). `DeploymentName`, `InstanceId` and (console) `ContainerName` are columns. Both tables live in
the Log Analytics workspace the endpoint's diagnostic setting sends them to.

`--follow` polls by ingestion time with the tail engine of `amlmon traces` (amlmon.follow.TailState:
a watermark on `ingestion_time()` re-read with an overlap, `_ItemId`s seen inside it dropped), so a
row that is ingested late is printed once, and none twice. Every user value goes through amlmon.kql.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlmon import kql
from amlmon.redact import redact
from amlmon.targets import Target

if TYPE_CHECKING:
    from amlmon.azure.logs import QueryResult
    from amlmon.context import AppContext
    from amlmon.telemetry import TraceEvent

CONSOLE = "AmlOnlineEndpointConsoleLog"
EVENTS = "AmlOnlineEndpointEventLog"
PAGE_ROWS = 10_000
LATE_ARRIVAL = dt.timedelta(days=2)  # the follow's timespan reaches back this far (as traces' follow)


@dataclass(frozen=True)
class LogFilter:
    targets: tuple[Target, ...]
    start: dt.datetime
    end: dt.datetime | None
    events: bool = False

    @property
    def table(self) -> str:
        return EVENTS if self.events else CONSOLE


def _target_filter(targets: Sequence[Target]) -> str:
    clauses = []
    for target in targets:
        clause = f"_ResourceId endswith {kql.string('/onlineEndpoints/' + target.name)}"
        if target.deployment:
            clause += f" and DeploymentName == {kql.string(target.deployment)}"
        clauses.append(f"({clause})")
    return " or ".join(clauses)


def _projection(spec: LogFilter) -> str:
    detail = "Name" if spec.events else "ContainerName"
    return (
        "| project TimeGenerated, ingested = ingestion_time(), itemId = _ItemId, "
        f"endpointId = _ResourceId, DeploymentName, InstanceId, detail = {detail}, Message"
    )


def query(
    spec: LogFilter, *, ingested_after: dt.datetime | None = None, follow_from: dt.datetime | None = None
) -> str:
    """The window (oldest first), or one follow poll (rows ingested after the bound, in ingestion order;
    from `follow_from` on also rows whose event time is before --since: late arrivals)."""
    when = f"TimeGenerated >= {kql.datetime(spec.start)}"
    if follow_from is not None:
        when = f"({when} or ingestion_time() >= {kql.datetime(follow_from)})"
    if spec.end is not None:
        when += f" and TimeGenerated < {kql.datetime(spec.end)}"
    lines = [spec.table, f"| where {when}"]
    wanted = _target_filter(spec.targets)
    if wanted:
        lines.append(f"| where {wanted}")
    if ingested_after is not None:
        lines.append(f"| where ingestion_time() > {kql.datetime(ingested_after)}")
    lines.append(_projection(spec))
    order = "ingested" if follow_from is not None else "TimeGenerated"
    lines += [f"| order by {order} asc", f"| take {PAGE_ROWS}"]
    return "\n".join(lines)


def _endpoint_of(resource_id: Any) -> str:
    """`…/ONLINEENDPOINTS/CREDIT-EP` → the endpoint's segment (as Azure wrote it)."""
    return str(resource_id or "").rstrip("/").rsplit("/", 1)[-1]


def events_from(result: QueryResult, spec: LogFilter) -> list[TraceEvent]:
    """Rows as the tail engine's events (item id, ingestion time, event time)."""
    from amlmon.telemetry import TraceEvent

    table = result.primary
    found = []
    for row in table.records():
        stamp = _moment(row.get("TimeGenerated"))
        if stamp is None:
            continue
        endpoint = _endpoint_of(row.get("endpointId"))
        names = {t.name.lower(): t.name for t in spec.targets}
        endpoint = names.get(endpoint.lower(), endpoint.lower())
        found.append(
            TraceEvent(
                timestamp=stamp,
                ingested=_moment(row.get("ingested")),
                item_id=str(
                    row.get("itemId") or f"{stamp.isoformat()}|{row.get('InstanceId')}|{row.get('Message')}"
                ),
                message=redact(str(row.get("Message") or "")),  # a printed secret is never echoed
                severity_level=None,
                target=f"{endpoint}/{row.get('DeploymentName') or ''}",
                instance=str(row.get("InstanceId") or "") or None,
                operation_id=None,
                properties={"detail": str(row.get("detail") or "")},
            )
        )
    return found


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def as_dict(event: TraceEvent, spec: LogFilter) -> dict[str, Any]:
    from amlmon.timeparse import iso_utc

    detail = event.properties.get("detail", "")
    return {
        "timestamp": iso_utc(event.timestamp, "milliseconds"),
        "ingested": iso_utc(event.ingested, "milliseconds") if event.ingested else None,
        "target": event.target,
        "instance": event.instance,
        ("name" if spec.events else "container"): detail,
        "message": event.message,
    }


def line(event: TraceEvent, spec: LogFilter) -> str:
    from amlmon.timeparse import iso_utc

    return f"{iso_utc(event.timestamp, 'milliseconds')} {event.target} {event.instance or '-'} {event.properties.get('detail', '')}: {event.message}"


def _fetch(
    ctx: AppContext, retries: bool = True
) -> Callable[[str, tuple[dt.datetime, dt.datetime]], QueryResult]:
    from amlmon.azure.logs import run_query

    options: dict[str, Any] = {} if retries else {"retry_total": 0, "reasks": 0}

    def fetch(text: str, timespan: tuple[dt.datetime, dt.datetime]) -> QueryResult:
        return run_query(ctx, text, timespan=timespan, source="log-analytics", allow_partial=False, **options)

    return fetch


def read_window(ctx: AppContext, spec: LogFilter) -> list[TraceEvent]:
    """The window's rows, oldest first (one page: up to PAGE_ROWS)."""
    assert spec.end is not None
    answer = _fetch(ctx)(query(spec), (spec.start, spec.end))
    return events_from(answer, spec)


def follow(
    ctx: AppContext,
    spec: LogFilter,
    *,
    interval: float,
    emit: Callable[[list[TraceEvent]], None],
    status: Callable[[str], None],
    max_polls: int | None = None,
) -> int:
    """Poll until Ctrl-C (or `max_polls`); each new row is emitted once. Returns how many were."""
    from amlmon.follow import TailState, classify

    state = TailState()
    fetch = _fetch(ctx, retries=False)
    started = dt.datetime.now(dt.UTC)
    printed = polls = failures = 0
    while max_polls is None or polls < max_polls:
        timespan = (min(spec.start, started - LATE_ARRIVAL), dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        try:
            answer = fetch(query(spec, ingested_after=state.lower_bound, follow_from=started), timespan)
        except Exception as exc:
            transient = classify(exc)
            if transient is None:
                raise
            failures += 1
            wait = transient.retry_after if transient.retry_after is not None else min(2.0**failures, 60.0)
            status(f"poll failed: {transient.reason}; retrying in {wait:g}s")
            time.sleep(wait)
            continue
        if failures:
            status(f"polling recovered after {failures} failed attempt{'s' if failures > 1 else ''}")
            failures = 0
        fresh = state.admit(events_from(answer, spec))
        if fresh:
            printed += len(fresh)
            emit(fresh)
        polls += 1
        time.sleep(interval)
    return printed
