"""`amlmon traces` as one domain call: the filter from option values, then a window read or a follow.

The KQL is in amlmon.queries.traces, rows → events in amlmon.telemetry, the tail engine in
amlmon.follow; this module parses what the user typed, binds the engine to the query service, and
says why a read came back empty.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlmon import kql
from amlmon.errors import UsageError
from amlmon.follow import Fetch, FollowClock, Follower, FollowStats, WindowResult, read_window
from amlmon.queries.traces import TraceFilter
from amlmon.schema import Source, source_of
from amlmon.targets import Target
from amlmon.telemetry import SEVERITIES, SEVERITY_NAMES, TraceEvent

if TYPE_CHECKING:
    from amlmon.azure.logs import QueryResult
    from amlmon.context import AppContext
    from amlmon.v2_logs import ContainerLog

__all__ = [
    "TraceFilter",
    "TracePlan",
    "check_regex",
    "container_logs",
    "endpoint_choice",
    "explain",
    "follow",
    "parse_severity",
    "plan",
    "query_text",
    "read",
    "resolve",
    "service_fetch",
]

_SEVERITY_ALIASES = {"information": "info", "warn": "warning", "debug": "verbose", "fatal": "critical"}


def parse_severity(text: str | None) -> int | None:
    """`info`, `warning`, `error` … (the least severe level shown), or a number 0-4."""
    if text is None:
        return None
    key = text.strip().lower()
    key = _SEVERITY_ALIASES.get(key, key)
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


def service_fetch(ctx: AppContext, source: Source, *, retries: bool = True) -> Fetch:
    """Run a query on the source's route. `retries=False` leaves retrying to the follow loop."""
    from amlmon.azure.logs import run_query

    options: dict[str, Any] = {} if retries else {"retry_total": 0, "reasks": 0}

    def fetch(query: str, timespan: tuple[dt.datetime, dt.datetime]) -> QueryResult:
        return run_query(
            ctx.query_api, query, timespan=timespan, source=source, allow_partial=True, **options
        )

    return fetch


def read(ctx: AppContext, spec: TraceFilter, source: Source, *, limit: int | None) -> WindowResult:
    """The events of the window [start, end) oldest first, in pages (or only the newest `limit`)."""
    window = read_window(service_fetch(ctx, source), spec, source, limit=limit)
    if spec.endpoint_log is not None:
        from amlmon.endpoint_logs import redacted

        window.events = (redacted(batch) for batch in window.events)
    return window


def follow(
    ctx: AppContext,
    spec: TraceFilter,
    source: Source,
    *,
    emit: Callable[[list[TraceEvent]], None],
    status: Callable[[str], None],
    interval: float,
    overlap: dt.timedelta,
    backlog_limit: int | None,
    until: dt.datetime | None,
    sleep: Callable[[float], None],
    empty: Callable[[str], None] | None = None,
) -> FollowStats:
    """Poll until `until` (or Ctrl-C), handing each batch of new events to `emit`. Endpoint logs whose
    first poll finds nothing are explained once on `empty` (the window's note of `traces`/`logs`)."""
    first_poll = None
    if spec.endpoint_log is not None:
        from amlmon.endpoint_logs import empty_note, redacted

        shown = emit
        emit = lambda batch: shown(redacted(batch))  # noqa: E731

        def first_poll(found: int) -> None:
            if not found and empty is not None:
                empty(empty_note(spec.targets, spec.events, spec.start, None, spec.text_filters))

    follower = Follower(
        service_fetch(ctx, source, retries=False),
        spec,
        source,
        interval=interval,
        emit=emit,
        status=status,
        backlog_limit=backlog_limit,
        overlap=overlap,
        clock=FollowClock(sleep=sleep),
        first_poll=first_poll,
    )
    return follower.run(until=until)


def explain(ctx: AppContext, spec: TraceFilter, source: Source, printed: int) -> list[str]:
    """Why nothing was found, and 1.4.x print lines amlmon could not attribute (lines for stderr)."""
    from amlmon import evidence
    from amlmon.evidence import Section

    assert spec.end is not None
    timespan = (spec.start, spec.end)
    section: Section = "modelData" if spec.model_data else "traces"
    command = "traces --model-data" if spec.model_data else "traces"
    notes: list[str | None] = []
    if not printed and spec.text_filters:  # the target's lines may be there: the filter kept none
        names = ", ".join(str(target) for target in spec.targets) or "any service"
        return [
            f"no {evidence.WHAT[section]} of {names} in the window matched {spec.text_filters}: without "
            "them every line is shown; or try a longer --since"
        ]
    if not printed:
        for target in spec.targets or (None,):
            notes.append(evidence.explain_empty(ctx, target, source, timespan, section, command))
    if not spec.model_data:
        notes += [evidence.attribution_note(ctx, target, source, timespan) for target in spec.targets]
    return [note for note in notes if note]


# ------------------------------------------------------------------------------------------------
# What the user typed → a plan; the plan's targets resolved against the workspace
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TracePlan:
    """One `traces` run: the filter, the source it reads, and how (a window, the newest N, a follow)."""

    spec: TraceFilter
    source: Source
    follow: bool
    until: dt.datetime | None  # with follow: when to stop (None: Ctrl-C)
    limit: int | None
    interval: float
    overlap: dt.timedelta


def endpoint_choice(
    source: str | None, events: bool, log_analytics: bool, model_data: bool, severity: str | None
) -> bool:
    """Whether the endpoint log tables were asked for (False: decided per target once resolved)."""
    if source not in (None, "app-insights", "endpoint-logs"):
        raise UsageError(f"--source {source!r} is not a source", hint="use app-insights or endpoint-logs")
    if events and source == "app-insights":
        raise UsageError(
            "--events reads AmlOnlineEndpointEventLog",
            hint="use --source endpoint-logs (or leave --source out)",
        )
    wanted = source == "endpoint-logs" or events
    if wanted and log_analytics:
        raise UsageError(
            "--log-analytics reads AppTraces, not the endpoint log tables", hint="drop one of the two"
        )
    if wanted and model_data:
        raise UsageError(
            "v2 model data is in the collector's blobs, not the endpoint log tables",
            hint="use amlmon data pull ENDPOINT/DEPLOYMENT",
        )
    if wanted and severity is not None:
        raise UsageError(
            "the endpoint log tables have no severity", hint="use --grep to pick lines, e.g. --grep ERROR"
        )
    return wanted


def plan(
    targets: list[str],
    *,
    role: str | None,
    since: str,
    until: str | None,
    follow: bool,
    limit: int | None,
    interval: str,
    overlap: str,
    message: str | None,
    grep: str | None,
    severity: str | None,
    model_data: bool,
    log_analytics: bool,
    endpoint_log: bool,
    events: bool,
) -> TracePlan:
    """Check the option values (in the order the user meets them) and build the plan."""
    from amlmon.targets import parse_targets, with_role
    from amlmon.timeparse import parse_duration

    if limit is not None and limit < 1:
        raise UsageError(
            f"--limit {limit} would print nothing",
            hint="leave --limit out for every event; to follow only new events use -f --since 1s",
        )
    start, end = _bounds(since, until, follow)
    poll_every = _interval(interval)
    spec = TraceFilter(
        start=start,
        end=None if follow else end,
        targets=tuple(with_role(parse_targets(targets), role)),
        message=_checked_text(message, "--message"),
        grep=check_regex(grep),
        min_severity=parse_severity(severity),
        model_data=model_data,
        endpoint_log="events" if endpoint_log and events else ("console" if endpoint_log else None),
    )
    look_back = parse_duration(overlap, option="--overlap")
    source: Source = "log-analytics" if endpoint_log else source_of(log_analytics)
    return TracePlan(spec, source, follow, end, limit, poll_every, look_back)


def _bounds(since: str, until: str | None, follow: bool) -> tuple[dt.datetime, Any]:
    """(start, end): with --follow, --until is when to stop (None: Ctrl-C)."""
    from amlmon.timeparse import parse_instant, parse_until, time_range

    if not follow:
        return time_range(since, until, default_since="10m")
    start = parse_instant(since, option="--since")
    end = parse_until(until, option="--until") if until else None
    if end is not None and end <= start:
        raise UsageError(
            f"--until ({end.isoformat()}) is not after --since ({start.isoformat()})",
            hint="with --follow, --until is when to stop: a later time, or a duration from now (--until 10m)",
        )
    return start, end


def _interval(text: str) -> float:
    from amlmon.follow import MIN_REQUEST_SPACING
    from amlmon.timeparse import parse_duration

    seconds = parse_duration(text, option="--interval").total_seconds()
    if seconds < MIN_REQUEST_SPACING:
        raise UsageError(f"--interval {text!r} is shorter than 200ms", hint="e.g. --interval 5s")
    return seconds


def _checked_text(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    if value == "":
        raise UsageError(f"{option} is empty", hint=f"give the text to look for, e.g. {option} timeout")
    kql.string(value)  # refuses control characters with a clear message
    return value


def resolve(
    ctx: AppContext, planned: TracePlan, *, source_chosen: bool, warn: Callable[[str], None]
) -> tuple[TracePlan, bool]:
    """The plan with its targets known (a name that matches nothing is exit 3, not silence; an endpoint
    learns its deployments) and, for v2 targets with no source chosen, the endpoint log tables when a
    diagnostic setting sends them. True beside it: fall back to the containers' getLogs tail when the
    window has nothing (only without a filter, which that tail could not honour)."""
    spec = planned.spec
    if spec.targets:
        from amlmon.evidence import known_targets

        spec = dataclasses.replace(spec, targets=tuple(known_targets(ctx, list(spec.targets))))
    if spec.endpoint_log:
        _check_v2(spec.targets)
    planned = dataclasses.replace(planned, spec=spec)
    if spec.endpoint_log is not None or source_chosen or not _v2_targets(spec.targets):
        return planned, False
    if _sends_endpoint_logs(ctx, spec.targets):
        # The default for v2: the endpoint log tables when a diagnostic setting sends them.
        if spec.min_severity is not None:  # the check --source endpoint-logs gets, after the automatic choice
            raise UsageError(
                "the endpoint log tables have no severity (read by default: a diagnostic setting sends "
                "this endpoint's console log to them)",
                hint="use --grep to pick lines (e.g. --grep ERROR), or --source app-insights to filter "
                "App Insights traces by --severity",
            )
        spec = dataclasses.replace(spec, endpoint_log="console")
        return dataclasses.replace(planned, spec=spec, source="log-analytics"), False
    if planned.follow:
        warn(
            "no diagnostic setting sends the endpoint's console log (AmlOnlineEndpointConsoleLog): "
            "following App Insights traces; `amlmon diagnostics enable ENDPOINT --endpoint-logs` adds it"
        )
        return planned, False
    # The getLogs tail is raw text: a filter (--message, --grep, --severity) could not be applied to it.
    return planned, spec.message is None and spec.grep is None and spec.min_severity is None


def _v2_targets(targets: Sequence[Target]) -> list[Target]:
    """The targets that are v2 endpoints or deployments (known_targets gave a bare endpoint its deployments)."""
    return [t for t in targets if t.deployment or t.deployments]


def _check_v2(targets: Sequence[Target]) -> None:
    v1 = [str(t) for t in targets if not (t.deployment or t.deployments)]
    if not targets or v1:
        raise UsageError(
            f"the endpoint log tables hold v2 endpoints only{': not ' + ', '.join(v1) if v1 else ''}",
            hint="name a v2 endpoint or deployment, e.g. amlmon traces my-endpoint/blue --source endpoint-logs",
        )


def _sends_endpoint_logs(ctx: AppContext, targets: Sequence[Target]) -> bool:
    from amlmon.endpoint_logs import sends_console_log

    endpoints = {t.name.lower(): t.name for t in _v2_targets(targets)}
    return any(sends_console_log(ctx, name) for name in endpoints.values())


def container_logs(ctx: AppContext, spec: TraceFilter, tail: int) -> list[ContainerLog]:
    """No endpoint logs and no App Insights traces: the last lines of each v2 deployment's inference
    server container (getLogs) that has printed anything."""
    from amlmon import v2_logs

    found = []
    for target in _v2_targets(spec.targets):
        for deployment in (target.deployment,) if target.deployment else target.deployments:
            log = v2_logs.get_logs(ctx, Target(target.name, deployment), "inference-server", tail)
            if log.content:
                found.append(log)
    return found


def query_text(planned: TracePlan) -> str:
    """--print-query: the KQL the plan sends, under a comment naming the source and timespan."""
    from amlmon.follow import LATE_ARRIVAL_LIMIT
    from amlmon.queries import traces as queries

    spec, source = planned.spec, planned.source
    if planned.follow:
        started = dt.datetime.now(dt.UTC)  # what a follow started now would send
        start = min(spec.start, started - LATE_ARRIVAL_LIMIT)
        return (
            f"// {source}, timespan {start.isoformat()}/now+1h (late arrivals keep their old time)\n"
            "// later polls add: | where ingestion_time() > "
            f"<newest ingestion time seen - {kql.timespan(planned.overlap)}>\n"
            + queries.follow_query(spec, source, ingested_after=None, arrived_from=started)
        )
    end = spec.end.isoformat() if spec.end else "now+1h"
    header = f"// {source}, timespan {spec.start.isoformat()}/{end}\n"
    if planned.limit is not None:
        return header + queries.latest_query(spec, source, planned.limit)
    return header + queries.window_query(spec, source)
