"""`amlmon query`: any KQL against the workspace's App Insights component or Log Analytics workspace."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from amlmon.cli.common import app_context, output, warn
from amlmon.cli.params import log_analytics_option, lookback_option, print_query_option


def register(app: typer.Typer) -> None:
    app.command("query")(query)


def query(
    kql_text: str | None = typer.Argument(
        None, metavar="KQL", help="The query; `-` reads it from stdin.", show_default=False
    ),
    file: Path | None = typer.Option(
        None, "-f", "--file", help="Read the query from FILE.kql (`-` for stdin).", show_default=False
    ),
    since: str | None = lookback_option(None),
    timespan: str | None = typer.Option(
        None, "--timespan", help="ISO 8601 duration (PT1H) or interval (START/END, START/PT1H)."
    ),
    start: str | None = typer.Option(None, "--from", help="Start time (ISO 8601 or a duration ago)."),
    end: str | None = typer.Option(None, "--to", help="End time (default now)."),
    app_insights: bool = typer.Option(
        False, "--app-insights", help="Query the App Insights component, classic schema (the default)."
    ),
    log_analytics: bool = log_analytics_option(),
    allow_partial: bool = typer.Option(
        False, "--allow-partial", help="Exit 0 when the service returns a partial result (still warns)."
    ),
    server_timeout: int | None = typer.Option(
        None, "--server-timeout", min=1, max=600, help="Seconds the service may run the query (default 180)."
    ),
    print_query: bool = print_query_option(),
    portal_link: bool = typer.Option(
        False, "--portal-link", help="Print a link that opens the query in the portal's Logs blade."
    ),
) -> int:
    """Run a KQL query and print the rows.

    Without a time option the query's own filters decide the range. A partial result prints what came
    back, warns on stderr and exits 1 (0 with --allow-partial). A rejected query shows the service's
    message and where in the query the problem is.
    """
    if app_insights and log_analytics:
        raise _usage("--app-insights and --log-analytics exclude each other", "choose one")
    from amlmon.timeparse import query_window

    text = _read_query(kql_text, file)
    span = query_window(since, timespan, start, end)
    source = "log-analytics" if log_analytics else "app-insights"
    if print_query:
        print(text)
        return 0
    ctx = app_context()
    if portal_link:
        from amlmon import adhoc

        print(adhoc.portal_link(ctx, text, span, source))
        return 0
    return _run(ctx, text, span, source, allow_partial, server_timeout)


# Formats written a row at a time: the answer is streamed, memory stays flat in its size.
STREAMED_FORMATS = ("jsonl", "tsv")


def _run(ctx: Any, text: str, span: Any, source: Any, allow_partial: bool, server_timeout: int | None) -> int:
    from amlmon import adhoc

    options = ctx.options
    if options.output in STREAMED_FORMATS and not options.query:
        answer = _streamed(ctx, text, span, source, server_timeout)
    else:
        answer = adhoc.run(ctx, text, span, source, server_timeout)
        output(answer.rows)
    for note in answer.notes:
        warn(note)
    return 1 if answer.partial and not allow_partial else 0


def _streamed(ctx: Any, text: str, span: Any, source: Any, server_timeout: int | None) -> Any:
    """-o jsonl / tsv: each row written as it is read from the answer (the first table's rows)."""
    from amlmon import adhoc
    from amlmon.render import jsonable, to_jsonl, to_tsv

    write = to_jsonl if ctx.options.output == "jsonl" else to_tsv
    out = sys.stdout

    def emit(row: dict[str, Any]) -> None:
        out.write(write(jsonable(row)))

    try:
        return adhoc.stream(ctx, text, span, source, server_timeout, emit)
    finally:
        out.flush()


def _usage(message: str, hint: str | None = None) -> Exception:
    from amlmon.errors import UsageError

    return UsageError(message, hint=hint)


def _read_query(kql_text: str | None, file: Path | None) -> str:
    if kql_text is not None and file is not None:
        raise _usage(
            "give the query either as an argument or with -f, not both", "drop the argument or the -f FILE"
        )
    if kql_text is None and file is None:
        raise _usage(
            "no query given",
            "e.g. amlmon query 'traces | take 10', amlmon query -f q.kql, or pipe it in with -",
        )
    if kql_text == "-" or (file is not None and str(file) == "-"):
        text = sys.stdin.read()
    elif file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise _usage(f"cannot read {file}: {exc.strerror or exc}", "check the path of -f") from None
        except UnicodeDecodeError:
            raise _usage(f"{file} is not UTF-8 text", "save the query as UTF-8") from None
    else:
        text = kql_text or ""
    if not text.strip():
        raise _usage("the query is empty", "e.g. amlmon query 'traces | take 10'")
    return text
