"""`amlmon traces`: custom traces and model data of deployed models, as a one-off read or a live tail."""

from __future__ import annotations

import sys
from typing import Any

import typer

from amlmon.cli.common import app_context, warn
from amlmon.cli.params import datastore_url_option
from amlmon.render.traces import FORMATS, WHOLE_RESULT_STYLES, TracePrinter

TARGETS_HELP = (
    "Services (svc), endpoints (ep) or deployments (ep/dep); none means every service of the workspace."
)


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
    source_name: str | None = typer.Option(
        None,
        "--source",
        help="v2 targets: app-insights (the deployment's App Insights traces) or endpoint-logs "
        "(AmlOnlineEndpointConsoleLog in Log Analytics) [default for a v2 target: endpoint-logs when a "
        "diagnostic setting on the endpoint sends the console log to Log Analytics, else app-insights; "
        "with neither, the deployment's getLogs container tail].",
    ),
    events: bool = typer.Option(
        False,
        "--events",
        help="v2 targets: the container events (AmlOnlineEndpointEventLog: probe failures, restarts, "
        "image pulls) instead of console lines.",
    ),
    request: str | None = typer.Option(
        None,
        "--request",
        help="Everything amlmon finds for one request id (TrafficLog XRequestId = the server's Request Id "
        "= the collector's correlationid): traffic log row, App Insights requests, traces, exceptions.",
    ),
    datastore_url: str | None = datastore_url_option(
        "With --request: the container the data collector writes to, to search its records too "
        "(AZURE_STORAGE_CONNECTION_STRING or your sign-in reads it); for named v2 deployments with the "
        "collector on, the workspace's workspaceblobstore datastore is used without it."
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
    from amlmon.timeparse import parse_duration

    if request is not None:
        from amlmon.cli.request_timeline import request_timeline

        if follow or events or model_data or source_name:
            raise _usage(
                "--request reads every source for one request; it does not go with --follow, --events, "
                "--model-data or --source",
                "e.g. amlmon traces --request ID --since 1h",
            )

        return request_timeline(targets or [], request, since, until, print_query, datastore_url)
    endpoint_log = _endpoint_choice(source_name, events, log_analytics, model_data, severity)
    source = "log-analytics" if endpoint_log else source_of(log_analytics)
    style = _style(fmt, follow)
    _check_query_style(style, follow, app_context().options.query, fmt)
    if limit is not None and limit < 1:
        raise _usage(
            f"--limit {limit} would print nothing",
            "leave --limit out for every event; to follow only new events use -f --since 1s",
        )
    start, end = _bounds(since, until, follow)
    poll_every = _interval(interval)
    spec = domain.TraceFilter(
        start=start,
        end=None if follow else end,
        targets=tuple(with_role(parse_targets(targets or []), role)),
        message=_checked_text(message, "--message"),
        grep=domain.check_regex(grep),
        min_severity=domain.parse_severity(severity),
        model_data=model_data,
        endpoint_log="events" if endpoint_log and events else ("console" if endpoint_log else None),
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
    if spec.endpoint_log:
        _check_v2(spec.targets)
    fallback = False
    if (
        spec.endpoint_log is None
        and source_name is None
        and not log_analytics
        and not model_data
        and _v2_targets(spec.targets)
    ):
        # The default for v2: the endpoint log tables when a diagnostic setting sends them.
        if _sends_endpoint_logs(ctx, spec.targets):
            import dataclasses

            spec = dataclasses.replace(spec, endpoint_log="console")
            source = "log-analytics"
        elif follow:
            warn(
                "no diagnostic setting sends the endpoint's console log (AmlOnlineEndpointConsoleLog): "
                "following App Insights traces; `amlmon diagnostics enable ENDPOINT --endpoint-logs` adds it"
            )
        else:
            fallback = True
    printer = TracePrinter(style, sys.stdout, color=_color(style), jmespath=ctx.options.query, warn=warn)
    if follow:
        return _follow(ctx, spec, source, printer, poll_every, end, limit, look_back)
    return _read(ctx, spec, source, printer, limit, fallback=fallback)


def _endpoint_choice(
    source: str | None, events: bool, log_analytics: bool, model_data: bool, severity: str | None
) -> bool:
    """Whether the endpoint log tables were asked for (None: decided per target once resolved)."""
    if source not in (None, "app-insights", "endpoint-logs"):
        raise _usage(f"--source {source!r} is not a source", "use app-insights or endpoint-logs")
    if events and source == "app-insights":
        raise _usage(
            "--events reads AmlOnlineEndpointEventLog", "use --source endpoint-logs (or leave --source out)"
        )
    wanted = source == "endpoint-logs" or events
    if wanted and log_analytics:
        raise _usage("--log-analytics reads AppTraces, not the endpoint log tables", "drop one of the two")
    if wanted and model_data:
        raise _usage(
            "v2 model data is in the collector's blobs, not the endpoint log tables",
            "use amlmon data pull ENDPOINT/DEPLOYMENT",
        )
    if wanted and severity is not None:
        raise _usage(
            "the endpoint log tables have no severity", "use --grep to pick lines, e.g. --grep ERROR"
        )
    return wanted


def _v2_targets(targets: Any) -> list[Any]:
    """The targets that are v2 endpoints or deployments (known_targets gave a bare endpoint its deployments)."""
    return [t for t in targets if t.deployment or t.deployments]


def _check_v2(targets: Any) -> None:
    v1 = [str(t) for t in targets if not (t.deployment or t.deployments)]
    if not targets or v1:
        raise _usage(
            f"the endpoint log tables hold v2 endpoints only{': not ' + ', '.join(v1) if v1 else ''}",
            "name a v2 endpoint or deployment, e.g. amlmon traces my-endpoint/blue --source endpoint-logs",
        )


def _sends_endpoint_logs(ctx: Any, targets: Any) -> bool:
    from amlmon.endpoint_logs import sends_console_log

    endpoints = {t.name.lower(): t.name for t in _v2_targets(targets)}
    return any(sends_console_log(ctx, name) for name in endpoints.values())


def _bounds(since: str, until: str | None, follow: bool) -> tuple[Any, Any]:
    """(start, end): with --follow, --until is when to stop (None: Ctrl-C)."""
    from amlmon.timeparse import parse_instant, parse_until, time_range

    if not follow:
        return time_range(since, until, default_since="10m")
    start = parse_instant(since, option="--since")
    end = parse_until(until, option="--until") if until else None
    if end is not None and end <= start:
        raise _usage(
            f"--until ({end.isoformat()}) is not after --since ({start.isoformat()})",
            "with --follow, --until is when to stop: a later time, or a duration from now (--until 10m)",
        )
    return start, end


def _interval(text: str) -> float:
    from amlmon.follow import MIN_REQUEST_SPACING
    from amlmon.timeparse import parse_duration

    seconds = parse_duration(text, option="--interval").total_seconds()
    if seconds < MIN_REQUEST_SPACING:
        raise _usage(f"--interval {text!r} is shorter than 200ms", "e.g. --interval 5s")
    return seconds


def _read(
    ctx: Any, spec: Any, source: Any, printer: TracePrinter, limit: int | None, *, fallback: bool = False
) -> int:
    from amlmon import traces as domain

    window = domain.read(ctx, spec, source, limit=limit)
    printed = 0
    for batch in window.events:
        printed += len(batch)
        printer.print_batch(batch)
    if fallback and not printed and not window.partial:
        found = _container_logs(ctx, spec, limit or 100)
        if found:  # an empty tail (a container that printed nothing) explains nothing: say why below
            return _print_container_logs(found, printer)
    printer.finish()
    for error in window.partial:
        warn(f"partial result, some events are missing: {error}")
    if spec.endpoint_log is None:
        for note in domain.explain(ctx, spec, source, printed):
            warn(note)
    elif not printed:
        warn(f"no rows in {spec.log_table.table} for {', '.join(str(t) for t in spec.targets)} in the window")
    return 1 if window.partial else 0


def _container_logs(ctx: Any, spec: Any, tail: int) -> list[Any]:
    """No endpoint logs and no App Insights traces: the last lines of each v2 deployment's inference
    server container (getLogs) that has printed anything."""
    from amlmon import v2_logs
    from amlmon.targets import Target

    found = []
    for target in _v2_targets(spec.targets):
        for deployment in (target.deployment,) if target.deployment else target.deployments:
            log = v2_logs.get_logs(ctx, Target(target.name, deployment), "inference-server", tail)
            if log.content:
                found.append(log)
    return found


def _print_container_logs(found: list[Any], printer: TracePrinter) -> int:
    """The container tails, in the printer's style; stderr says what they are."""
    from amlmon.render import to_jsonl

    for log in found:
        warn(
            f"no endpoint logs (no diagnostic setting sends AmlOnlineEndpointConsoleLog) and no App Insights "
            f"traces for {log.target} in the window: the last {log.tail} lines of its inference-server container "
            "(getLogs) instead; `amlmon diagnostics enable ENDPOINT --endpoint-logs` keeps every line"
        )
    records = [
        {"target": log.target, "container": log.container, "tail": log.tail, "content": log.content}
        for log in found
    ]
    if printer.style in ("json", "yaml"):
        from amlmon.render import emit

        emit(records, output=printer.style, query=printer.jmespath, stream=sys.stdout, no_color=True)
    elif printer.style == "jsonl":
        sys.stdout.write(to_jsonl(records))
    else:
        for log in found:
            sys.stdout.write(
                log.content if not log.content or log.content.endswith("\n") else log.content + "\n"
            )
    return 0


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
    from amlmon.follow import sleep_watching_reader

    ctx.long_run()  # a follow runs until Ctrl-C; its own loop bounds each wait (60 s)

    def status(text: str) -> None:
        warn(text)
        sys.stderr.flush()

    domain.follow(
        ctx,
        spec,
        source,
        emit=printer.print_batch,
        status=status,
        interval=interval,
        overlap=overlap,
        backlog_limit=limit,
        until=until,
        sleep=sleep_watching_reader(sys.stdout),  # ends with `| head` (amlmon/follow.py)
    )
    printer.finish()
    return 0


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


def _check_query_style(style: str, follow: bool, query: str | None, fmt: str | None = None) -> None:
    """--query applies to the whole result (json, yaml, table, tsv) or to each event (jsonl); a style
    it cannot apply to is refused rather than ignored."""
    if not query:
        return
    if fmt in ("pretty", "short", "raw"):
        # Formats of lines of events, like short and raw: a query's answer is not events (an explicit
        # --format pretty printed an empty line). -o table still queries the whole list.
        raise _usage(
            f"--query does not apply to --format {fmt}",
            "use -o json, yaml, table or tsv (query over the whole list) or --format jsonl (query per event)",
        )
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
    from amlmon.follow import LATE_ARRIVAL_LIMIT
    from amlmon.queries import traces as domain

    end = spec.end.isoformat() if spec.end else "now+1h"
    header = f"// {source}, timespan {spec.start.isoformat()}/{end}"
    if follow:
        import datetime as dt

        from amlmon import kql

        started = dt.datetime.now(dt.UTC)  # what a follow started now would send
        start = min(spec.start, started - LATE_ARRIVAL_LIMIT)
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
