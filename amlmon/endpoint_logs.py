"""A v2 endpoint's resource logs (console lines, container events) for `amlmon traces --source
endpoint-logs` and its alias `amlmon logs --source endpoint-logs`.

`AmlOnlineEndpointConsoleLog` holds the containers' stdout (score.py `print` and `logging`), one row
per line, and `AmlOnlineEndpointEventLog` the container events (Pulled, Started, Killing, BackOff,
LivenessProbeFailed, …). Neither has an endpoint column: the endpoint is the last segment of
`_ResourceId` (`…/ONLINEENDPOINTS/{ep}`). Both live in the Log Analytics workspace the endpoint's
diagnostic setting sends them to. Column names are in amlmon.schema (ENDPOINT_LOGS); the KQL is
amlmon.queries.traces (an endpoint log is one more table of `traces`, projected onto the same row),
and reading and following go through the one tail engine (amlmon.follow) — a row ingested late is
printed once, and none twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlmon.redact import redact
from amlmon.schema import ENDPOINT_LOGS, Source
from amlmon.targets import Target

if TYPE_CHECKING:
    from amlmon.context import AppContext
    from amlmon.queries.traces import TraceFilter
    from amlmon.telemetry import TraceEvent

CONSOLE = ENDPOINT_LOGS.console.table
EVENTS = ENDPOINT_LOGS.events.table
SOURCE: Source = "log-analytics"  # the query route: the workspace the diagnostic setting sends them to
# Categories a diagnostic setting enables to send the console log ("allLogs" is the group of all).
CONSOLE_CATEGORIES = {CONSOLE.lower(), "alllogs"}


@dataclass(frozen=True)
class LogFilter:
    targets: tuple[Target, ...]
    start: dt.datetime
    end: dt.datetime | None
    events: bool = False

    @property
    def table(self) -> str:
        return EVENTS if self.events else CONSOLE

    def trace_filter(self) -> TraceFilter:
        from amlmon.queries.traces import TraceFilter

        return TraceFilter(
            start=self.start,
            end=self.end,
            targets=self.targets,
            endpoint_log="events" if self.events else "console",
        )


def empty_note(
    targets: Sequence[Target | str],
    events: bool,
    start: dt.datetime,
    end: dt.datetime | None,
    filters: str = "",
) -> str:
    """Why a window of the endpoint log tables may have no rows (the house rule: never a silent `[]`):
    one text for `logs` and `traces`, with or without --follow (`end` None: a follow's first poll).
    With `filters` (traces' --message/--grep as typed) they are named instead: rows the filter dropped
    say nothing about the diagnostic setting."""
    table = EVENTS if events else CONSOLE
    what = "container events" if events else "console lines"
    if filters:
        return (
            f"no {what} ({table}) of {_names(targets)} {_when(start, end)} matched {filters}: "
            "without them every line is shown; or try a longer --since"
        )
    return table_empty_note(table, what, targets, start, end)


def _names(targets: Sequence[Target | str]) -> str:
    return ", ".join(str(target) for target in targets) or "the workspace's endpoints"


def _when(start: dt.datetime, end: dt.datetime | None) -> str:
    return (
        f"since {start.isoformat()} yet"
        if end is None
        else f"between {start.isoformat()} and {end.isoformat()}"
    )


def table_empty_note(
    table: str, what: str, targets: Sequence[Target | str], start: dt.datetime, end: dt.datetime | None
) -> str:
    """empty_note for any of the endpoint's log tables (`what`: its rows, in words)."""
    return (
        f"no {what} ({table}) of {_names(targets)} {_when(start, end)}: check that the endpoint's diagnostic setting sends "
        f"{table} to the Log Analytics workspace (amlmon diagnostics status) and that the deployment ran "
        "in the window (rows arrive minutes later, the first ones up to an hour after the setting is "
        "created); or try a longer --since"
    )


def redacted(events: Sequence[TraceEvent]) -> list[TraceEvent]:
    """A console line can carry a connection string or token a script printed: never echo those."""
    for event in events:
        event.message = redact(event.message)
    return list(events)


def sends_console_log(ctx: AppContext, endpoint: str) -> bool:
    """Whether a diagnostic setting on the endpoint (amlmon's or any other) sends the console log to a
    Log Analytics workspace."""
    from amlmon.azure import deployments_v2
    from amlmon.azure import diagnostic_settings as ds

    settings = ds.list_settings(ctx.arm, deployments_v2.endpoint_path(ctx.v2_scope, endpoint))
    return any(
        s.properties.get("workspaceId") and {c.lower() for c in s.categories} & CONSOLE_CATEGORIES
        for s in settings
    )


def _detail(event: TraceEvent, spec: LogFilter) -> str:
    name, _ = ENDPOINT_LOGS.detail(spec.events)
    return str(event.properties.get(name) or "")


def as_dict(event: TraceEvent, spec: LogFilter) -> dict[str, Any]:
    from amlmon.timeparse import iso_utc

    name, _ = ENDPOINT_LOGS.detail(spec.events)
    return {
        "timestamp": iso_utc(event.timestamp, "milliseconds"),
        "ingested": iso_utc(event.ingested, "milliseconds") if event.ingested else None,
        "target": event.target,
        "instance": event.instance,
        name: _detail(event, spec),
        "message": event.message,
    }


def line(event: TraceEvent, spec: LogFilter) -> str:
    from amlmon.render.text import visible
    from amlmon.timeparse import iso_utc

    stamp = iso_utc(event.timestamp, "milliseconds")
    text = f"{event.target} {event.instance or '-'} {_detail(event, spec)}: {event.message}"
    return f"{stamp} {visible(text, chr(9))}"  # one line per row, its control characters shown


def read_window(ctx: AppContext, spec: LogFilter) -> list[TraceEvent]:
    """The window's rows, oldest first (every page)."""
    from amlmon import traces

    window = traces.read(ctx, spec.trace_filter(), SOURCE, limit=None)
    return [event for batch in window.events for event in batch]


def follow(
    ctx: AppContext,
    spec: LogFilter,
    *,
    interval: float,
    emit: Callable[[list[TraceEvent]], None],
    status: Callable[[str], None],
    empty: Callable[[str], None] | None = None,
) -> int:
    """Poll until Ctrl-C or until the reader of stdout goes away (`| head`: BrokenPipeError, as
    `traces -f`); each new row is emitted once, and a first poll without any is explained on `empty`.
    Returns how many were."""
    import sys

    from amlmon import traces
    from amlmon.follow import DEFAULT_OVERLAP, sleep_watching_reader

    stats = traces.follow(
        ctx,
        spec.trace_filter(),
        SOURCE,
        emit=emit,
        status=status,
        interval=interval,
        overlap=DEFAULT_OVERLAP,
        backlog_limit=None,
        until=None,
        sleep=sleep_watching_reader(sys.stdout),
        empty=empty,
    )
    return stats.printed
