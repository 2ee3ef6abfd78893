"""Traces of deployed models: the KQL behind `amlmon traces`, row → event shaping, and the tail engine.

Why the tail polls by ingestion time: Application Insights makes an event queryable tens of seconds
to minutes after its own timestamp, and not in timestamp order. A tail that remembers the newest
*event* time it printed (aws logs tail, most `tail -f` clones) skips every event that arrives after
a newer one with an older timestamp. Here the watermark is the newest *ingestion* time seen
(`ingestion_time()`, stamped by the service, so no client clock is involved). Each poll asks again
for everything ingested after `watermark - overlap` — covering records that become visible a little
after their ingestion stamp — and a set of item ids seen inside that overlap drops the repeats.
Ids older than the overlap cannot come back (the query excludes them), so the set stays bounded.

The classic (App Insights: `traces`, `customDimensions`, …) and workspace (Log Analytics: `AppTraces`,
`Properties`, …) schemas are projected onto the same column names, so everything after the query is
source-blind. Every user value in the KQL goes through amlmon.kql.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from amlmon import kql
from amlmon.background import Background
from amlmon.errors import AmlmonError, UsageError
from amlmon.schema import APP, MODEL_DATA_MESSAGE, Source
from amlmon.targets import Kind, Target, telemetry_filter
from amlmon.telemetry import ModelDataRecord, decode_model_data, row_service

if TYPE_CHECKING:
    from amlmon.azure.logs import QueryResult
    from amlmon.context import AppContext

# App Insights severity levels (SeverityLevel enum of the classic SDKs and the exporter).
SEVERITIES = {"verbose": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
SEVERITY_NAMES = {level: name for name, level in SEVERITIES.items()}

# ingestion_time() is when a record became queryable; a record can still show up shortly after a
# newer one (parallel ingestion nodes, commit order). One minute of re-reading covers that generously.
DEFAULT_OVERLAP = dt.timedelta(minutes=1)
FOLLOW_PAGE_ROWS = 10_000  # rows per follow request; a full page is followed at once by the next
WINDOW_PAGE_ROWS = 50_000  # rows per request when reading a time window
MAX_ROWS = 500_000  # the query API's row limit per response
MIN_REQUEST_SPACING = 0.2  # seconds between requests: 150 per 30 s, under the API's 200 per 30 s
MAX_BACKOFF = 60.0
# With --follow, a row ingested after the follow started is printed whatever its event time (--since
# bounds the backlog, not what arrives later). The query API's timespan bounds event time, so the
# follow's timespan reaches this far back; Azure Monitor does not ingest records older than two days.
LATE_ARRIVAL_LIMIT = dt.timedelta(days=2)


TARGET_COLUMN = "targetName"  # with targets: the one a row was matched for
# The projected columns every query returns, in this order.
PROJECTED = (
    "timestamp",
    "ingested",
    "itemId",
    "message",
    "severityLevel",
    "role",
    "instance",
    "operationId",
    "properties",
)


@dataclass(frozen=True)
class TraceFilter:
    """What the user asked for. `start`/`end` bound the event time (end None: open, for --follow)."""

    start: dt.datetime
    end: dt.datetime | None = None
    targets: tuple[Target, ...] = ()
    message: str | None = None  # substring, case-sensitive
    grep: str | None = None  # regular expression (RE2, evaluated by the service)
    min_severity: int | None = None
    model_data: bool = False


def parse_severity(text: str | None) -> int | None:
    """`info`, `warning`, `error` … (the least severe level shown), or a number 0-4."""
    if text is None:
        return None
    key = text.strip().lower()
    key = {"information": "info", "warn": "warning", "debug": "verbose", "fatal": "critical"}.get(key, key)
    if key in SEVERITIES:
        return SEVERITIES[key]
    if key.isdigit() and int(key) in SEVERITY_NAMES:
        return int(key)
    raise UsageError(
        f"--severity {text!r} is not a severity",
        hint=f"use one of {', '.join(SEVERITIES)} (e.g. --severity warning)",
    )


def check_regex(pattern: str | None) -> str | None:
    """Refuse a --grep that cannot compile before it reaches the service."""
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UsageError(
            f"--grep {pattern!r} is not a regular expression: {exc}", hint="e.g. --grep 'timeout|refused'"
        ) from None
    kql.string(pattern)  # control characters are refused here too
    return pattern


# ---------------------------------------------------------------------------------------------------
# KQL
# ---------------------------------------------------------------------------------------------------
def _base(spec: TraceFilter, source: Source, *, arrived_from: dt.datetime | None = None) -> list[str]:
    """The filters every query shares. `arrived_from`: rows ingested from then on pass whatever their
    event time (a follow's late arrivals)."""
    c = APP[source]
    lines = [c.traces, f"| where {c.time} >= {kql.datetime(spec.start)}"]
    if arrived_from is not None:
        lines[-1] = (
            f"| where {c.time} >= {kql.datetime(spec.start)} or ingestion_time() >= {kql.datetime(arrived_from)}"
        )
    if spec.end is not None:
        lines[-1] += f" and {c.time} < {kql.datetime(spec.end)}"
    if spec.targets:
        kind: Kind = "modelData" if spec.model_data else "traces"
        lines.append(f"| where {telemetry_filter(spec.targets, source, kind)}")
    if spec.model_data:
        lines.append(f"| where {c.message} == {kql.string(MODEL_DATA_MESSAGE)}")
    else:
        lines.append(f"| where {c.message} != {kql.string(MODEL_DATA_MESSAGE)}")
    if spec.message is not None:
        lines.append(f"| where {c.message} contains_cs {kql.string(spec.message)}")
    if spec.grep is not None:
        lines.append(f"| where {c.message} matches regex {kql.string(spec.grep)}")
    if spec.min_severity is not None:
        lines.append(f"| where toint({c.severity}) >= {int(spec.min_severity)}")
    return lines


def _projection(source: Source, spec: TraceFilter) -> str:
    c = APP[source]
    sources = (c.time, "ingestion_time()", c.item_id, c.message, c.severity, c.role, c.instance, c.operation)
    parts = [
        name if name == source else f"{name} = {source}"
        for name, source in zip(PROJECTED, sources, strict=False)
    ]
    parts.append(f"properties = {c.properties}")
    if spec.targets:
        # A 1.4.x print line names no service, a v2 role is not the target's name: the target whose
        # filter matched the row labels it.
        kind: Kind = "modelData" if spec.model_data else "traces"
        cases = ", ".join(
            f"{telemetry_filter([t], source, kind)}, {kql.string(str(t))}" for t in spec.targets
        )
        parts.append(f"{TARGET_COLUMN} = case({cases}, {kql.string('')})")
    return "| project " + ", ".join(parts)


def window_query(
    spec: TraceFilter, source: Source, *, after: dt.datetime | None = None, page: int = WINDOW_PAGE_ROWS
) -> str:
    """A page of the window in event-time order, from `after` on (inclusive: ties are de-duplicated)."""
    lines = _base(spec, source)
    if after is not None:
        lines.append(f"| where {APP[source].time} >= {kql.datetime(after)}")
    lines += [_projection(source, spec), "| order by timestamp asc", f"| take {int(page)}"]
    return "\n".join(lines)


def latest_query(spec: TraceFilter, source: Source, limit: int) -> str:
    """The newest `limit` events of the window (printed oldest first)."""
    lines = [*_base(spec, source), _projection(source, spec), f"| top {int(limit)} by timestamp desc"]
    return "\n".join(lines)


def follow_query(
    spec: TraceFilter,
    source: Source,
    *,
    ingested_after: dt.datetime | None,
    inclusive: bool = False,
    page: int = FOLLOW_PAGE_ROWS,
    arrived_from: dt.datetime | None = None,
) -> str:
    """One follow request: events ingested after the bound, in ingestion order; with `arrived_from`
    (when the follow started) also those ingested since then with an event time before --since."""
    lines = _base(spec, source, arrived_from=arrived_from)
    if ingested_after is not None:
        op = ">=" if inclusive else ">"
        lines.append(f"| where ingestion_time() {op} {kql.datetime(ingested_after)}")
    lines += [_projection(source, spec), "| order by ingested asc", f"| take {int(page)}"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Rows → events
# ---------------------------------------------------------------------------------------------------
@dataclass
class TraceEvent:
    timestamp: dt.datetime
    ingested: dt.datetime | None
    item_id: str
    message: str
    severity_level: int | None
    target: str
    instance: str | None
    operation_id: str | None
    properties: dict[str, Any] = field(default_factory=dict)
    model_data: ModelDataRecord | None = None

    @property
    def severity(self) -> str:
        return SEVERITY_NAMES.get(self.severity_level, "") if self.severity_level is not None else ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "timestamp": iso(self.timestamp),
            "ingested": iso(self.ingested) if self.ingested else None,
            "target": self.target,
            "severity": self.severity,
            "message": self.message,
            "instance": self.instance,
            "operationId": self.operation_id,
            "itemId": self.item_id,
        }
        if self.model_data is not None:
            md = self.model_data
            data["modelData"] = {
                "requestId": md.request_id,
                "clientRequestId": md.client_request_id,
                "models": md.models,
                "input": md.input,
                "prediction": md.prediction,
                "truncated": md.truncated,
                "generation": md.generation,
            }
            if md.truncated:
                data["modelData"]["cut"] = md.cut  # the properties App Insights cut, or lost past the cut
                data["modelData"]["raw"] = md.raw
        else:
            data["properties"] = self.properties
        return data


def iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z, the way the portal shows times."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _properties(value: Any) -> dict[str, Any]:
    """Dynamic columns arrive as JSON text; anything else that is not an object becomes {}."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _severity(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def target_label(role: str | None, properties: dict[str, Any], model_data: ModelDataRecord | None) -> str:
    """The service the row names (telemetry.row_service), else its role (`azmlinfsrv`)."""
    return row_service(role, properties, model_data) or str(role or "")


def events_from(result: QueryResult, *, model_data: bool) -> list[TraceEvent]:
    table = result.primary
    index = {name: i for i, name in enumerate(table.columns)}
    missing = [name for name in PROJECTED if name not in index]
    if missing:
        raise AmlmonError(f"the query service answered without the columns {', '.join(missing)}")
    i_time, i_ing, i_id, i_msg, i_sev, i_role, i_inst, i_op, i_props = (index[name] for name in PROJECTED)
    i_target = index.get(TARGET_COLUMN)
    events = []
    for row in table.rows:
        timestamp = _as_datetime(row[i_time])
        if timestamp is None:
            continue
        props = _properties(row[i_props])
        record = decode_model_data(props) if model_data else None
        role = row[i_role]
        message = row[i_msg]
        item_id = row[i_id]
        events.append(
            TraceEvent(
                timestamp=timestamp,
                ingested=_as_datetime(row[i_ing]),
                item_id=str(item_id) if item_id else _synthetic_id(timestamp, message, role),
                message="" if message is None else str(message),
                severity_level=_severity(row[i_sev]),
                target=(i_target is not None and row[i_target]) or target_label(role, props, record),
                instance=row[i_inst] or None,
                operation_id=row[i_op] or None,
                properties=props,
                model_data=record,
            )
        )
    return events


def _synthetic_id(timestamp: dt.datetime, message: Any, role: Any) -> str:
    # Every App Insights record has an itemId; this only keeps a malformed row from breaking dedupe.
    return f"{timestamp.isoformat()}|{role}|{message}"


def event_order(event: TraceEvent) -> tuple[dt.datetime, dt.datetime, str]:
    return (event.timestamp, event.ingested or event.timestamp, event.item_id)


# ---------------------------------------------------------------------------------------------------
# The tail engine (pure)
# ---------------------------------------------------------------------------------------------------
class TailState:
    """Watermark on ingestion time + the ids seen inside the overlap window.

    `admit` takes every row a poll returned and gives back the ones not printed before, in event-time
    order. Memory is bounded by the rows ingested within `overlap` of the watermark.
    """

    def __init__(self, overlap: dt.timedelta = DEFAULT_OVERLAP) -> None:
        self.overlap = overlap
        self.watermark: dt.datetime | None = None
        self._seen: dict[str, dt.datetime] = {}

    @property
    def lower_bound(self) -> dt.datetime | None:
        """Query for events ingested strictly after this (None: from the start of the window)."""
        return None if self.watermark is None else self.watermark - self.overlap

    @property
    def remembered(self) -> int:
        return len(self._seen)

    def admit(self, events: Sequence[TraceEvent], *, advance: bool = True) -> list[TraceEvent]:
        fresh = []
        for event in events:
            if event.item_id in self._seen:
                continue
            stamp = event.ingested or event.timestamp
            self._seen[event.item_id] = stamp
            fresh.append(event)
        if advance:
            self._advance(events)
        fresh.sort(key=event_order)
        return fresh

    def _advance(self, events: Sequence[TraceEvent]) -> None:
        stamps = [e.ingested for e in events if e.ingested is not None]
        if not stamps:
            return
        newest = max(stamps)
        if self.watermark is not None and newest <= self.watermark:
            return
        self.watermark = newest
        bound = newest - self.overlap
        # Ids ingested at or before the bound cannot be returned again: the next query excludes them.
        self._seen = {item: stamp for item, stamp in self._seen.items() if stamp > bound}


# ---------------------------------------------------------------------------------------------------
# Talking to the query API
# ---------------------------------------------------------------------------------------------------
Fetch = Callable[[str, tuple[dt.datetime, dt.datetime]], "QueryResult"]


def service_fetch(ctx: AppContext, source: Source, *, retries: bool = True) -> Fetch:
    """Run a query on the source's route. `retries=False` leaves retrying to the follow loop."""
    from amlmon.azure.logs import run_query

    options: dict[str, Any] = {} if retries else {"retry_total": 0, "reasks": 0}

    def fetch(query: str, timespan: tuple[dt.datetime, dt.datetime]) -> QueryResult:
        return run_query(ctx, query, timespan=timespan, source=source, allow_partial=True, **options)

    return fetch


def _last_timestamp(answer: QueryResult) -> dt.datetime | None:
    table = answer.primary
    if not table.rows or "timestamp" not in table.columns:
        return None
    return _as_datetime(table.rows[-1][table.columns.index("timestamp")])


@dataclass
class WindowResult:
    events: Iterator[list[TraceEvent]]
    partial: list[str] = field(default_factory=list)  # partial-result errors met on the way


def read_window(
    fetch: Fetch, spec: TraceFilter, source: Source, *, limit: int | None, page: int = WINDOW_PAGE_ROWS
) -> WindowResult:
    """Events of [start, end) oldest first, in pages (printed as they come)."""
    assert spec.end is not None
    timespan = (spec.start, spec.end)
    result = WindowResult(iter(()))

    def latest() -> Iterator[list[TraceEvent]]:
        assert limit is not None
        answer = fetch(latest_query(spec, source, limit), timespan)
        if answer.partial_error:
            result.partial.append(answer.partial_error)
        events = events_from(answer, model_data=spec.model_data)
        events.sort(key=event_order)
        yield events

    def pages() -> Iterator[list[TraceEvent]]:
        size, after = page, None
        boundary: set[str] = set()  # ids at `after`, which the next page asks for again
        pending = Background(partial(fetch, window_query(spec, source, after=None, page=size), timespan))
        while True:
            answer = pending.result()
            if answer.partial_error:
                result.partial.append(answer.partial_error)
            rows = answer.primary.rows
            last = _last_timestamp(answer)
            more = len(rows) >= size and not answer.partial_error and last is not None
            if more:
                if last == after:
                    size *= 2  # a whole page shares one timestamp: widen rather than loop
                # Ask for the next page now; the service works on it while this one is printed.
                pending = Background(
                    partial(fetch, window_query(spec, source, after=last, page=size), timespan)
                )
            events = events_from(answer, model_data=spec.model_data)
            yield [e for e in events if e.item_id not in boundary]
            if not more:
                return
            at_last = {e.item_id for e in events if e.timestamp == last}
            boundary = boundary | at_last if last == after else at_last
            after = last

    result.events = latest() if limit is not None else pages()
    return result


# ---------------------------------------------------------------------------------------------------
# The follow loop
# ---------------------------------------------------------------------------------------------------
class Transient(Exception):
    """A poll failed in a way worth retrying; carries how long the service asked us to wait."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def classify(exc: BaseException) -> Transient | None:
    """Throttling, 5xx, timeouts, resets and one-off 401s are retried; anything else is final."""
    try:
        from azure.core import exceptions as core
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, core.HttpResponseError) and not isinstance(exc, core.ServiceRequestError):
        status = getattr(exc, "status_code", None)
        if status == 429 or status == 408 or status == 401 or (status is not None and status >= 500):
            return Transient(f"HTTP {status}", _retry_after(exc))
        return None
    if isinstance(exc, core.ServiceRequestError | core.ServiceResponseError):
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Transient(f"connection failed ({first[:80]})")
    return None


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class FollowClock:
    """Time and sleep, replaceable in tests of the loop."""

    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class FollowStats:
    polls: int = 0
    requests: int = 0
    failures: int = 0
    printed: int = 0


class Follower:
    """Poll, de-duplicate, hand each new batch to `emit`. Ends at `until` (if given) or on Ctrl-C."""

    def __init__(
        self,
        fetch: Fetch,
        spec: TraceFilter,
        source: Source,
        *,
        interval: float,
        emit: Callable[[list[TraceEvent]], None],
        status: Callable[[str], None],
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        backlog_limit: int | None = None,
        clock: FollowClock | None = None,
        page: int = FOLLOW_PAGE_ROWS,
    ) -> None:
        self.fetch, self.spec, self.source = fetch, spec, source
        self.interval = interval
        self.emit, self.status = emit, status
        self.state = TailState(overlap)
        self.backlog_limit = backlog_limit
        self.clock = clock or FollowClock()
        self.page = page
        self.stats = FollowStats()
        self._last_request = -1e9
        self.started = self.clock.now()  # rows ingested from now on are printed whatever their time

    def run(self, until: dt.datetime | None = None, max_polls: int | None = None) -> FollowStats:
        first = True
        while True:
            started = self.clock.now()
            batch = self._poll_with_retries()
            if first and self.backlog_limit is not None:
                batch = batch[-self.backlog_limit :] if self.backlog_limit else []
            first = False
            if batch:
                self.stats.printed += len(batch)
                self.emit(batch)
            self.stats.polls += 1
            if (until is not None and started >= until) or (
                max_polls is not None and self.stats.polls >= max_polls
            ):
                return self.stats
            pause = self.interval
            if until is not None:
                pause = min(pause, max(0.0, (until - self.clock.now()).total_seconds()))
            self.clock.sleep(pause)

    def _poll_with_retries(self) -> list[TraceEvent]:
        failures = 0
        unauthorized = 0
        while True:
            try:
                batch = self.poll()
            except AmlmonError:
                raise
            except Exception as exc:
                transient = classify(exc)
                if transient is None:
                    raise
                # A 401 is worth one retry with a fresh token (azure-core drops the cached one); a
                # second in a row is a real sign-in problem.
                unauthorized = unauthorized + 1 if transient.reason == "HTTP 401" else 0
                if unauthorized > 1:
                    raise
                self.stats.failures += 1
                failures += 1
                # 1 s for a blip, then doubling (2, 4, 8 … 60 s) while the service stays down.
                backoff = 2.0 ** max(0, failures - 2)
                wait = transient.retry_after if transient.retry_after is not None else backoff
                wait = min(max(wait, MIN_REQUEST_SPACING), MAX_BACKOFF)
                self.status(f"poll failed: {transient.reason}; retrying in {wait:g}s")
                self.clock.sleep(wait)
                continue
            if failures:  # whoever read "poll failed" learns that the gap is closed
                self.status(f"polling recovered after {failures} failed attempt{'s' if failures > 1 else ''}")
            return batch

    def _timespan(self) -> tuple[dt.datetime, dt.datetime]:
        # The query API's timespan bounds event time; late events keep their old timestamps, so the
        # window stays open at the start of --since and a little past now for clock skew.
        end = self.spec.end or (self.clock.now() + dt.timedelta(hours=1))
        return (min(self.spec.start, self.started - LATE_ARRIVAL_LIMIT), end)

    def _space_requests(self) -> None:
        gap = self.clock.monotonic() - self._last_request
        if gap < MIN_REQUEST_SPACING:
            self.clock.sleep(MIN_REQUEST_SPACING - gap)
        self._last_request = self.clock.monotonic()

    def poll(self) -> list[TraceEvent]:
        """One poll: pages until a page is not full. Nothing is admitted until every page succeeded."""
        bound, inclusive, page = self.state.lower_bound, False, self.page
        collected: list[TraceEvent] = []
        complete = True
        while True:
            self._space_requests()
            self.stats.requests += 1
            answer = self.fetch(
                follow_query(
                    self.spec,
                    self.source,
                    ingested_after=bound,
                    inclusive=inclusive,
                    page=page,
                    arrived_from=self.started,
                ),
                self._timespan(),
            )
            events = events_from(answer, model_data=self.spec.model_data)
            collected.extend(events)
            if answer.partial_error:
                self.status(f"partial result, asking again: {answer.partial_error}")
                complete = False
                break
            if len(answer.primary.rows) < page or not events:
                break
            newest = max((e.ingested for e in events if e.ingested is not None), default=None)
            if newest is None:
                break
            if inclusive and bound == newest:
                page *= 2  # a whole page shares one ingestion time: widen rather than loop
                continue
            bound, inclusive = newest, True
        # A partial answer may have left holes below its newest row: keep the watermark where it was.
        return self.state.admit(collected, advance=complete)
