"""`amlmon traces`: custom traces and model data of deployed models, as a one-off read or a live tail."""

from __future__ import annotations

import sys
from typing import Any

import typer

from amlmon.cli.common import app_context, warn
from amlmon.cli.params import (
    datastore_url_option,
    log_analytics_option,
    print_query_option,
    role_option,
    since_option,
    targets_argument,
    until_option,
)
from amlmon.render.traces import TracePrinter


def register(app: typer.Typer) -> None:
    app.command("traces")(traces)


def traces(
    targets: list[str] = targets_argument("every service of the workspace"),
    since: str = since_option("10m"),
    until: str | None = until_option(follow=True),
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
    log_analytics: bool = log_analytics_option(),
    role: str | None = role_option(),
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
    print_query: bool = print_query_option(),
) -> int:
    """Print the traces (print() output) or, with --model-data, the inputs and predictions of deployed models.

    Events are printed oldest first. With --follow, amlmon keeps polling and prints each event once as
    it becomes queryable — also events that App Insights ingests late, with older timestamps, even
    older than --since (--since bounds the backlog only) — until Ctrl-C (exit 130) or --until. Without --model-data, model_data_collection records are left out.
    """
    from amlmon import traces as domain
    from amlmon.render.traces import check_query_style, style_for

    if request is not None:
        streaming = bool(follow or events or model_data or source_name)
        return _request(targets or [], request, since, until, print_query, datastore_url, streaming)
    endpoint_log = domain.endpoint_choice(source_name, events, log_analytics, model_data, severity)
    options = app_context().options
    style = style_for(fmt, options.output, follow)
    check_query_style(style, follow, options.query, fmt)
    planned = domain.plan(
        targets or [],
        role=role,
        since=since,
        until=until,
        follow=follow,
        limit=limit,
        interval=interval,
        overlap=overlap,
        message=message,
        grep=grep,
        severity=severity,
        model_data=model_data,
        log_analytics=log_analytics,
        endpoint_log=endpoint_log,
        events=events,
    )
    if print_query:
        print(domain.query_text(planned))
        return 0
    ctx = app_context()
    chosen = source_name is not None or log_analytics or model_data
    planned, fallback = domain.resolve(ctx, planned, source_chosen=chosen, warn=warn)
    printer = TracePrinter(style, sys.stdout, color=_color(style), jmespath=options.query, warn=warn)
    if planned.follow:
        return _follow(ctx, planned, printer)
    return _read(ctx, planned, printer, fallback=fallback)


def _request(
    targets: list[str],
    request: str,
    since: str,
    until: str | None,
    print_query: bool,
    datastore_url: str | None,
    streaming: bool,
) -> int:
    """--request: every source for one request id (cli/request_timeline.py); the stream options do not go with it."""
    from amlmon.cli.request_timeline import request_timeline
    from amlmon.errors import UsageError

    if streaming:
        raise UsageError(
            "--request reads every source for one request; it does not go with --follow, --events, "
            "--model-data or --source",
            hint="e.g. amlmon traces --request ID --since 1h",
        )
    return request_timeline(targets, request, since, until, print_query, datastore_url)


def _read(ctx: Any, planned: Any, printer: TracePrinter, *, fallback: bool = False) -> int:
    from amlmon import traces as domain

    spec, source = planned.spec, planned.source
    window = domain.read(ctx, spec, source, limit=planned.limit)
    printed = 0
    for batch in window.events:
        printed += len(batch)
        printer.print_batch(batch)
    if fallback and not printed and not window.partial:
        found = domain.container_logs(ctx, spec, planned.limit or 100)
        if found:  # an empty tail (a container that printed nothing) explains nothing: say why below
            for log in found:
                warn(
                    f"no endpoint logs (no diagnostic setting sends AmlOnlineEndpointConsoleLog) and no App "
                    f"Insights traces for {log.target} in the window: the last {log.tail} lines of its "
                    "inference-server container (getLogs) instead; `amlmon diagnostics enable ENDPOINT "
                    "--endpoint-logs` keeps every line"
                )
            printer.print_container_logs(found)
            return 0
    printer.finish()
    for error in window.partial:
        warn(f"partial result, some events are missing: {error}")
    if spec.endpoint_log is None:
        for note in domain.explain(ctx, spec, source, printed):
            warn(note)
    elif not printed:
        from amlmon.endpoint_logs import empty_note

        assert spec.end is not None  # a window, not a follow
        warn(empty_note(spec.targets, spec.events, spec.start, spec.end, spec.text_filters))
    return 1 if window.partial else 0


def _follow(ctx: Any, planned: Any, printer: TracePrinter) -> int:
    from amlmon.stopping import said_interrupted, sigterm_as_interrupt

    ctx.long_run()  # a follow runs until Ctrl-C; its own loop bounds each wait (60 s)

    # SIGTERM ends a follow as Ctrl-C does (exit 130 and `interrupted`), as `data tail`
    with said_interrupted(), sigterm_as_interrupt():
        _follow_until_stopped(ctx, planned, printer)
    return 0


def _follow_until_stopped(ctx: Any, planned: Any, printer: TracePrinter) -> None:
    from amlmon import traces as domain
    from amlmon.follow import sleep_watching_reader

    def status(text: str) -> None:
        warn(text)
        sys.stderr.flush()

    domain.follow(
        ctx,
        planned.spec,
        planned.source,
        emit=printer.print_batch,
        status=status,
        interval=planned.interval,
        overlap=planned.overlap,
        backlog_limit=planned.limit,
        until=planned.until,
        sleep=sleep_watching_reader(sys.stdout),  # ends with `| head` (amlmon/follow.py)
        empty=status,
    )
    printer.finish()


def _color(style: str) -> bool:
    from amlmon.render.console import color_allowed

    return style == "pretty" and color_allowed(sys.stdout, app_context().options.no_color)
