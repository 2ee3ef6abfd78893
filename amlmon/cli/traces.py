"""`amlmon traces`: custom traces and model data of deployed models, as a one-off read or a live tail."""

from __future__ import annotations

import json
import shutil
import sys
import zlib
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import typer

from amlmon.cli.common import app_context, warn

if TYPE_CHECKING:
    from amlmon.traces import TraceEvent

FORMATS = ("pretty", "short", "json", "jsonl", "raw")
TARGETS_HELP = (
    "Services (svc), endpoints (ep) or deployments (ep/dep); none means every service of the workspace."
)

# Distinct, readable on dark and light terminals (stern's idea: one colour per target).
_PALETTE = ("36", "33", "35", "32", "34", "96", "93", "95", "92", "94")
_SEVERITY_COLOR = {"warning": "33", "error": "31", "critical": "1;31"}


def register(app: typer.Typer) -> None:
    app.command("traces")(traces)


def traces(
    targets: list[str] = typer.Argument(None, metavar="[TARGET]...", help=TARGETS_HELP, show_default=False),
    since: str = typer.Option(
        "10m", "--since", help="Start: a duration ago (30s, 10m, 2h, 7d, 1w) or a time."
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        help="End (default now): a time or a duration ago. With --follow, when to stop: a time or a "
        "duration from now (--until 10m stops ten minutes from now).",
    ),
    follow: bool = typer.Option(
        False,
        "-f",
        "--follow",
        help="Keep polling for new events until Ctrl-C. Late rows are printed whatever their event time; "
        "see --overlap for the one limit.",
    ),
    model_data: bool = typer.Option(
        False, "--model-data", help="Show model_data_collection records: each request's input and prediction."
    ),
    message: str | None = typer.Option(
        None, "--message", help="Only messages containing TEXT (case-sensitive)."
    ),
    grep: str | None = typer.Option(
        None, "--grep", help="Only messages matching REGEX (evaluated by the service)."
    ),
    severity: str | None = typer.Option(
        None, "--severity", help="Least severe level shown: verbose, info, warning, error, critical."
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        max=500_000,
        help="Only the newest N events of the window (with -f: of the backlog); at least 1 "
        "(leave it out for every event).",
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        help="pretty, short, json, jsonl or raw (default pretty; -o json/jsonl/tsv/yaml also work).",
    ),
    interval: str = typer.Option(
        "5s", "--interval", help="Time between polls with --follow (at least 200ms)."
    ),
    overlap: str = typer.Option(
        "1m",
        "--overlap",
        help="With --follow: how far back in ingestion time each poll looks again for records that "
        "become queryable late (seen ones are not printed twice). A record that becomes queryable more "
        "than --overlap after its ingestion time is missed: raise it if the service is slow.",
    ),
    log_analytics: bool = typer.Option(
        False,
        "--log-analytics",
        help="Read AppTraces in the Log Analytics workspace instead of App Insights traces.",
    ),
    role: str | None = typer.Option(
        None,
        "--role",
        metavar="NAME",
        help="The role name / Service Name the target's telemetry carries, when it is not the "
        "deployment or endpoint name (v2 sets an undocumented one; amlmon lists those present).",
    ),
    print_query: bool = typer.Option(False, "--print-query", help="Print the KQL instead of running it."),
) -> int:
    """Print the traces (print() output) or, with --model-data, the inputs and predictions of deployed models.

    Events are printed oldest first. With --follow, amlmon keeps polling and prints each event once as
    it becomes queryable — also events that App Insights ingests late, with older timestamps, even
    older than --since (--since bounds the backlog only) — until Ctrl-C (exit 130) or --until. Without --model-data, model_data_collection records are left out.
    """
    from amlmon import traces as domain
    from amlmon.schema import source_of
    from amlmon.targets import parse_targets, with_role
    from amlmon.timeparse import parse_duration, parse_instant, parse_until, time_range

    source = source_of(log_analytics)
    style = _style(fmt, follow)
    _check_query_style(style, follow, app_context().options.query)
    if limit is not None and limit < 1:
        raise _usage(
            f"--limit {limit} would print nothing",
            "leave --limit out for every event; to follow only new events use -f --since 1s",
        )
    if follow:
        start = parse_instant(since, option="--since")
        end = parse_until(until, option="--until") if until else None
        if end is not None and end <= start:
            raise _usage(f"--until ({end.isoformat()}) is not after --since ({start.isoformat()})")
    else:
        start, end = time_range(since, until, default_since="10m")
    poll_every = parse_duration(interval, option="--interval").total_seconds()
    if poll_every < domain.MIN_REQUEST_SPACING:
        raise _usage(f"--interval {interval!r} is shorter than 200ms", "e.g. --interval 5s")
    spec = domain.TraceFilter(
        start=start,
        end=None if follow else end,
        targets=tuple(with_role(parse_targets(targets or []), role)),
        message=_checked_text(message, "--message"),
        grep=domain.check_regex(grep),
        min_severity=domain.parse_severity(severity),
        model_data=model_data,
    )
    look_back = parse_duration(overlap, option="--overlap")
    if print_query:
        _print_queries(spec, source, follow, limit, look_back)
        return 0
    ctx = app_context()
    if spec.targets:
        import dataclasses

        from amlmon.evidence import known_targets

        # A name that matches nothing is exit 3, not silence; an endpoint learns its deployments.
        spec = dataclasses.replace(spec, targets=tuple(known_targets(ctx, list(spec.targets))))
    printer = TracePrinter(style, sys.stdout, color=_color(style), jmespath=ctx.options.query)
    if follow:
        return _follow(ctx, spec, source, printer, poll_every, end, limit, look_back)
    window = domain.read_window(domain.service_fetch(ctx, source), spec, source, limit=limit)
    printed = 0
    for batch in window.events:
        printed += len(batch)
        printer.print_batch(batch)
    printer.finish()
    for error in window.partial:
        warn(f"partial result, some events are missing: {error}")
    _explain(ctx, spec, source, printed)
    return 1 if window.partial else 0


def _explain(ctx: Any, spec: Any, source: Any, printed: int) -> None:
    """On stderr: why nothing was found, and 1.4.x print lines amlmon could not attribute."""
    from amlmon import evidence
    from amlmon.evidence import Section

    assert spec.end is not None
    timespan = (spec.start, spec.end)
    section: Section = "modelData" if spec.model_data else "traces"
    command = "traces --model-data" if spec.model_data else "traces"
    notes = []
    if not printed:
        for target in spec.targets or (None,):
            notes.append(evidence.explain_empty(ctx, target, source, timespan, section, command))
    if not spec.model_data:
        notes += [evidence.attribution_note(ctx, target, source, timespan) for target in spec.targets]
    for note in notes:
        if note:
            warn(note)


def _follow(
    ctx: Any,
    spec: Any,
    source: Any,
    printer: TracePrinter,
    interval: float,
    until: Any,
    limit: int | None,
    overlap: Any,
) -> int:
    from amlmon import traces as domain

    ctx.long_run()  # a follow runs until Ctrl-C; its own loop bounds each wait (60 s)

    def status(text: str) -> None:
        warn(text)
        sys.stderr.flush()

    follower = domain.Follower(
        domain.service_fetch(ctx, source, retries=False),
        spec,
        source,
        interval=interval,
        emit=printer.print_batch,
        status=status,
        backlog_limit=limit,
        overlap=overlap,
        clock=domain.FollowClock(sleep=sleep_watching_reader(sys.stdout)),
    )
    follower.run(until=until)
    printer.finish()
    return 0


def sleep_watching_reader(stream: IO[str]) -> Any:
    """time.sleep, except that it ends with BrokenPipeError as soon as the reader of `stream` (a pipe
    or socket) goes away: `amlmon traces -f | head -2` ends with head even when nothing new arrives,
    instead of at the next write. The write end of a pipe reports POLLERR once the read end is closed."""
    import os
    import select
    import stat
    import time

    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # not a real file (tests capture into StringIO)
        return time.sleep
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) or not hasattr(select, "poll"):
        return time.sleep
    poller = select.poll()
    poller.register(fd, select.POLLERR | select.POLLHUP)

    def sleep(seconds: float) -> None:
        if poller.poll(max(0, int(seconds * 1000))):
            raise BrokenPipeError("the reader of stdout went away")

    return sleep


def _usage(message: str, hint: str | None = None) -> Exception:
    from amlmon.errors import UsageError

    return UsageError(message, hint=hint)


def _checked_text(value: str | None, option: str) -> str | None:
    from amlmon import kql

    if value is None:
        return None
    if value == "":
        raise _usage(f"{option} is empty", f"give the text to look for, e.g. {option} timeout")
    kql.string(value)  # refuses control characters with a clear message
    return value


def _style(fmt: str | None, follow: bool) -> str:
    """The printer's style: --format wins, then -o, then pretty."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise _usage(f"--format {fmt!r} is not one of {', '.join(FORMATS)}", "e.g. --format jsonl")
        style = fmt
    else:
        output = app_context().options.output
        style = {None: "pretty", "table": "pretty", "jsonc": "json"}.get(output, output or "pretty")
    if follow and style == "json":
        return "jsonl"  # a stream cannot be one JSON array
    if follow and style == "yaml":
        raise _usage("-o yaml cannot stream", "use --format jsonl with --follow")
    return style


# --query on the whole result: styles that print one document. jsonl applies it to each event.
WHOLE_RESULT_STYLES = {"json": "json", "yaml": "yaml", "pretty": "table", "tsv": "tsv"}


def _check_query_style(style: str, follow: bool, query: str | None) -> None:
    """--query applies to the whole result (json, yaml, table, tsv) or to each event (jsonl); a style
    it cannot apply to is refused rather than ignored."""
    if not query:
        return
    if follow and style != "jsonl":
        raise _usage(
            "--query with --follow applies to each event as it arrives: it needs --format jsonl",
            "e.g. amlmon traces --follow --format jsonl --query message",
        )
    if style not in WHOLE_RESULT_STYLES and style not in ("jsonl", "none"):
        raise _usage(
            f"--query does not apply to --format {style}",
            "use -o json, yaml, table or tsv (query over the whole list) or jsonl (query per event)",
        )


def _color(style: str) -> bool:
    from amlmon.render.console import color_allowed

    return style == "pretty" and color_allowed(sys.stdout, app_context().options.no_color)


def _print_queries(spec: Any, source: Any, follow: bool, limit: int | None, overlap: Any) -> None:
    from amlmon import traces as domain

    end = spec.end.isoformat() if spec.end else "now+1h"
    header = f"// {source}, timespan {spec.start.isoformat()}/{end}"
    if follow:
        import datetime as dt

        from amlmon import kql

        started = dt.datetime.now(dt.UTC)  # what a follow started now would send
        start = min(spec.start, started - domain.LATE_ARRIVAL_LIMIT)
        text = domain.follow_query(spec, source, ingested_after=None, arrived_from=started)
        print(f"// {source}, timespan {start.isoformat()}/now+1h (late arrivals keep their old time)")
        print(
            f"// later polls add: | where ingestion_time() > <newest ingestion time seen - {kql.timespan(overlap)}>"
        )
    elif limit is not None:
        text = domain.latest_query(spec, source, limit)
        print(header)
    else:
        text = domain.window_query(spec, source)
        print(header)
    print(text)


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------
class TracePrinter:
    """Writes batches of events in one style; `finish` closes a JSON array or a buffered format."""

    def __init__(self, style: str, stream: IO[str], *, color: bool, jmespath: str | None = None) -> None:
        self.style, self.stream, self.color, self.jmespath = style, stream, color, jmespath
        self.width = shutil.get_terminal_size((160, 24)).columns
        self._buffer: list[
            dict[str, Any]
        ] = []  # json / yaml, or a whole-result --query: one document at the end
        self._target_width = 0
        self._events = 0  # with a per-event --query (jsonl): events seen, and those it gave a value for
        self._answered = 0

    @property
    def _whole_result(self) -> bool:
        """One document at the end: json and yaml always, table and tsv when --query applies to the list."""
        return self.style in ("json", "yaml") or (bool(self.jmespath) and self.style in WHOLE_RESULT_STYLES)

    def print_batch(self, events: Sequence[TraceEvent]) -> None:
        if not events or self.style == "none":
            return
        if self._whole_result:
            self._buffer.extend(event.to_dict() for event in events)
            return
        write = self.stream.write
        if self.style == "jsonl":
            self._jsonl(events)
        elif self.style == "tsv":
            write("".join(self._tsv(event) + "\n" for event in events))
        elif self.style == "raw":
            write("".join(self._raw(event) + "\n" for event in events))
        else:
            self._target_width = max(self._target_width, *(len(event.target) for event in events))
            line = self._pretty if self.style == "pretty" else self._short
            write("".join(line(event) + "\n" for event in events))
        self.stream.flush()

    def finish(self) -> None:
        if self._whole_result:
            from amlmon.render import emit

            output = WHOLE_RESULT_STYLES.get(self.style, self.style)
            emit(
                self._buffer, output=output, query=self.jmespath, stream=self.stream, no_color=not self.color
            )
        elif self.jmespath and self.style == "jsonl" and self._events and not self._answered:
            warn(
                f"--query {self.jmespath!r} gave nothing for any of {self._events} events: with jsonl it "
                "applies to each event (e.g. --query message); -o json applies it to the list"
            )

    # --- styles -----------------------------------------------------------------------------
    def _jsonl(self, events: Sequence[TraceEvent]) -> None:
        dumps = json.dumps
        if self.jmespath:
            from amlmon.render import apply_query

            # An event the expression selects nothing from prints no line (a filter such as
            # `severity=='error' && message`), never a line of null.
            answers = [apply_query(event.to_dict(), self.jmespath) for event in events]
            items = [answer for answer in answers if answer is not None]
            self._events += len(answers)
            self._answered += len(items)
        else:
            items = [event.to_dict() for event in events]
        self.stream.write(
            "".join(dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items)
        )

    def _paint(self, text: str, code: str | None) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code else text

    def _target_color(self, target: str) -> str:
        return _PALETTE[zlib.crc32(target.encode()) % len(_PALETTE)]

    def _pretty(self, event: TraceEvent) -> str:
        from amlmon.traces import iso

        target = self._paint(event.target.ljust(self._target_width), self._target_color(event.target))
        stamp = iso(event.timestamp)
        if event.model_data is not None:
            return f"{stamp} {target} {self._model_data_line(event, len(stamp) + self._target_width + 2)}"
        severity = event.severity.upper()[:4].ljust(4)
        severity = self._paint(severity, _SEVERITY_COLOR.get(event.severity))
        indent = "\n" + " " * (len(stamp) + self._target_width + 7)
        return f"{stamp} {target} {severity} {event.message.rstrip().replace(chr(10), indent)}"

    def _model_data_line(self, event: TraceEvent, used: int) -> str:
        md = event.model_data
        assert md is not None
        request = f"req={(md.request_id or '?')[:8]}"
        if md.truncated:
            # Name exactly what the cut took: a 1.4.x Input cut on its own leaves the prediction whole.
            lost = " and ".join(md.cut) if md.cut else "the record"
            note = f"[{lost} cut by App Insights at 8192 characters]"
            if md.prediction is not None:
                return f"{request} {note} → out={_clip(_compact(md.prediction), max(self.width - used - 60, 20))}"
            return f"{request} {note}"
        room = max(self.width - used - len(request) - 12, 20)
        shown_input = _clip(_compact(md.input), room * 3 // 5)
        shown_prediction = _clip(_compact(md.prediction), room - len(shown_input))
        return f"{request} in={shown_input} → out={shown_prediction}"

    def _short(self, event: TraceEvent) -> str:
        stamp = event.timestamp.strftime("%H:%M:%S")
        if event.model_data is not None:
            md = event.model_data
            return f"{stamp} {event.target} {_compact(md.input)} -> {_compact(md.prediction)}"
        return f"{stamp} {event.target} {event.message}"

    def _raw(self, event: TraceEvent) -> str:
        if event.model_data is not None:
            md = event.model_data
            return md.raw or "" if md.truncated else _compact(md.input)
        return event.message

    def _tsv(self, event: TraceEvent) -> str:
        from amlmon.traces import iso

        if event.model_data is not None:
            md = event.model_data
            cells = [
                iso(event.timestamp),
                event.target,
                md.request_id or "",
                _compact(md.input),
                _compact(md.prediction),
                "truncated" if md.truncated else "",
            ]
        else:
            cells = [iso(event.timestamp), event.target, event.severity, event.message]
        return "\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in cells)


def _compact(value: Any) -> str:
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _clip(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"
