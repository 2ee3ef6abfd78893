"""`amlmon logs TARGET`: a v2 deployment's container log — the tail getLogs gives without any setup,
or the endpoint log tables (console lines, container events) with a time range and --follow."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import typer

from amlmon.cli.common import app_context, output
from amlmon.cli.params import since_option, until_option

SOURCES = ("container", "endpoint-logs")


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)


def logs(
    target: str = typer.Argument(
        ...,
        metavar="TARGET",
        help="A v2 deployment (ENDPOINT/DEPLOYMENT, e.g. my-endpoint/blue) or an endpoint (ENDPOINT).",
    ),
    tail: int = typer.Option(100, "--tail", min=1, max=10000, help="container: how many of the last lines."),
    container: str = typer.Option(
        "inference-server", "--container", help="container: inference-server or storage-initializer."
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="container (getLogs: the running container's tail, no setup) or endpoint-logs "
        "(AmlOnlineEndpointConsoleLog in Log Analytics: a time range, --follow) [default: container; "
        "endpoint-logs with --events, --follow or --since].",
    ),
    events: bool = typer.Option(
        False, "--events", help="endpoint-logs: the container events (AmlOnlineEndpointEventLog)."
    ),
    since: str | None = since_option(None, only="endpoint-logs", later_default="1h"),
    until: str | None = until_option(only="endpoint-logs"),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="endpoint-logs: keep printing new rows (Ctrl-C stops)."
    ),
    interval: str = typer.Option("2s", "--interval", help="endpoint-logs --follow: time between polls."),
) -> None:
    """The log of a v2 deployment's containers.

    By default the deployment's getLogs call: the last lines of one container, with no setup, but no
    time range and nothing from before a restart. --source endpoint-logs reads the endpoint log
    tables the endpoint's diagnostic setting sends to Log Analytics (`amlmon diagnostics enable EP
    --endpoint-logs`): every console line of the window, --events for container events, --follow.
    """
    from amlmon.errors import UsageError
    from amlmon.targets import parse_target

    parsed = parse_target(target)
    chosen = source or ("endpoint-logs" if (events or follow or since or until) else "container")
    if chosen not in SOURCES:
        raise UsageError(f"--source {source!r} is not a source", hint="use container or endpoint-logs")
    if chosen == "endpoint-logs":
        return _endpoint_logs(parsed, events, since, until, follow, interval)
    if events or follow or since or until:
        raise UsageError(
            "--events, --follow, --since and --until read the endpoint log tables",
            hint="add --source endpoint-logs (the endpoint needs `amlmon diagnostics enable EP --endpoint-logs`)",
        )
    _container(parsed, container, tail)


def _container(parsed: Any, container: str, tail: int) -> None:
    from amlmon import v2_logs

    v2_logs.deployment_target(parsed, app_context())
    v2_logs.container_type(container)  # a bad name is a usage error before any call
    found = v2_logs.get_logs(app_context(), parsed, container, tail)
    _note(
        f"the last {tail} lines of {found.target}'s {container} container (getLogs), not the endpoint log tables"
    )
    output(
        {"target": found.target, "container": found.container, "tail": found.tail, "content": found.content},
        table=_render,
    )


def _note(text: str) -> None:
    if not app_context().options.only_show_errors:
        print(f"note: {text}", file=sys.stderr)


def _render(data: dict[str, Any], stream: IO[str]) -> None:
    from amlmon.render.text import visible

    content = visible(str(data["content"]), "\n\t")
    stream.write(content if not content or content.endswith("\n") else content + "\n")


def _endpoint_logs(
    parsed: Any, events: bool, since: str | None, until: str | None, follow: bool, interval: str
) -> None:
    from amlmon import endpoint_logs, v2_logs
    from amlmon.errors import UsageError
    from amlmon.timeparse import parse_duration, time_range

    if follow and until:
        raise UsageError("--follow and --until do not go together", hint="drop --until to follow")
    pause = max(parse_duration(interval, option="--interval").total_seconds(), 0.2)
    start, end = time_range(since, until, default_since="1h")
    ctx = app_context()
    v2_logs.require_target(ctx, parsed)  # unknown: exit 3 with did-you-mean, never an empty log
    spec = endpoint_logs.LogFilter((parsed,), start, None if follow else end, events)
    if not follow:
        found = endpoint_logs.read_window(ctx, spec)
        output([endpoint_logs.as_dict(e, spec) for e in found], table=_lines_renderer(spec))
        if not found:
            _warn_empty(parsed, spec, start, end)
        return
    _note(f"following {spec.table} of {parsed} (Ctrl-C stops)")
    as_json = (ctx.options.output or "") in ("json", "jsonc", "jsonl")

    def emit(batch: list[Any]) -> None:
        for event in batch:
            text = (
                json.dumps(endpoint_logs.as_dict(event, spec)) if as_json else endpoint_logs.line(event, spec)
            )
            print(text, flush=True)

    # Ctrl-C is exit 130 (app.run), as for `traces -f`; a reader that leaves ends it quietly with 0.
    endpoint_logs.follow(ctx, spec, interval=pause, emit=emit, status=_note, empty=_warn_now)


def _warn_empty(target: Any, spec: Any, start: Any, end: Any) -> None:
    """An empty window says why it may be empty (the same text as `traces`: endpoint_logs.empty_note)."""
    from amlmon import endpoint_logs
    from amlmon.cli.common import warn

    warn(endpoint_logs.empty_note((target,), spec.events, start, end))


def _warn_now(text: str) -> None:
    from amlmon.cli.common import warn

    warn(text)
    sys.stderr.flush()  # a follow's stderr is read while it runs


def _lines_renderer(spec: Any) -> Any:
    def render(rows: list[dict[str, Any]], stream: IO[str]) -> None:
        from amlmon.render.text import visible

        detail = "name" if spec.events else "container"
        for row in rows:
            text = f"{row['target']} {row['instance'] or '-'} {row[detail]}: {row['message']}"
            stream.write(f"{row['timestamp']} {visible(text, chr(9))}\n")

    return render
