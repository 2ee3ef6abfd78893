"""`amlmon traces` as one domain call: the filter from option values, then a window read or a follow.

The KQL is in amlmon.queries.traces, rows → events in amlmon.telemetry, the tail engine in
amlmon.follow; this module parses what the user typed, binds the engine to the query service, and
says why a read came back empty.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amlmon import kql
from amlmon.errors import UsageError
from amlmon.follow import Fetch, FollowClock, Follower, FollowStats, WindowResult, read_window
from amlmon.queries.traces import TraceFilter
from amlmon.schema import Source
from amlmon.telemetry import SEVERITIES, SEVERITY_NAMES, TraceEvent

if TYPE_CHECKING:
    from amlmon.azure.logs import QueryResult
    from amlmon.context import AppContext

__all__ = ["TraceFilter", "check_regex", "explain", "follow", "parse_severity", "read", "service_fetch"]

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
) -> FollowStats:
    """Poll until `until` (or Ctrl-C), handing each batch of new events to `emit`."""
    if spec.endpoint_log is not None:
        from amlmon.endpoint_logs import redacted

        shown = emit
        emit = lambda batch: shown(redacted(batch))  # noqa: E731
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
    if not printed:
        for target in spec.targets or (None,):
            notes.append(evidence.explain_empty(ctx, target, source, timespan, section, command))
    if not spec.model_data:
        notes += [evidence.attribution_note(ctx, target, source, timespan) for target in spec.targets]
    return [note for note in notes if note]
