"""`amlmon query`: any KQL against the workspace's App Insights component or Log Analytics workspace."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import typer

from amlmon.cli.common import app_context, output, warn


def register(app: typer.Typer) -> None:
    app.command("query")(query)


def query(
    kql_text: str | None = typer.Argument(
        None, metavar="KQL", help="The query; `-` reads it from stdin.", show_default=False
    ),
    file: Path | None = typer.Option(
        None, "-f", "--file", help="Read the query from FILE.kql (`-` for stdin).", show_default=False
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only the last DURATION of data (30s, 10m, 2h, 7d)."
    ),
    timespan: str | None = typer.Option(
        None, "--timespan", help="ISO 8601 duration (PT1H) or interval (START/END, START/PT1H)."
    ),
    start: str | None = typer.Option(None, "--from", help="Start time (ISO 8601 or a duration ago)."),
    end: str | None = typer.Option(None, "--to", help="End time (default now)."),
    app_insights: bool = typer.Option(
        False, "--app-insights", help="Query the App Insights component, classic schema (the default)."
    ),
    log_analytics: bool = typer.Option(
        False, "--log-analytics", help="Query the Log Analytics workspace (AppTraces, AppRequests, …)."
    ),
    allow_partial: bool = typer.Option(
        False, "--allow-partial", help="Exit 0 when the service returns a partial result (still warns)."
    ),
    server_timeout: int | None = typer.Option(
        None, "--server-timeout", min=1, max=600, help="Seconds the service may run the query (default 180)."
    ),
    print_query: bool = typer.Option(False, "--print-query", help="Print the KQL instead of running it."),
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
    text = _read_query(kql_text, file)
    span = _timespan(since, timespan, start, end)
    source = "log-analytics" if log_analytics else "app-insights"
    if print_query:
        print(text)
        return 0
    ctx = app_context()
    if portal_link:
        print(_portal_link(ctx, text, span, source))
        return 0
    return _run(ctx, text, span, source, allow_partial, server_timeout)


# Formats written a row at a time: the answer is streamed, memory stays flat in its size.
STREAMED_FORMATS = ("jsonl", "tsv")


def _run(ctx: Any, text: str, span: Any, source: Any, allow_partial: bool, server_timeout: int | None) -> int:
    from amlmon.azure.logs import RejectedQuery, run_query

    options = ctx.options
    if options.output in STREAMED_FORMATS and not options.query:
        try:
            return _streamed(ctx, text, span, source, allow_partial, server_timeout)
        except RejectedQuery as exc:
            raise _with_excerpt(exc, text) from None

    try:
        result = run_query(
            ctx, text, timespan=span, source=source, server_timeout=server_timeout, parse_datetimes=False
        )
    except RejectedQuery as exc:
        raise _with_excerpt(exc, text) from None
    rows = _records(result.primary)
    output(rows)
    if len(result.tables) > 1:
        others = ", ".join(f"{t.name} ({len(t.rows)} rows)" for t in result.tables[1:])
        warn(
            f"the answer has {len(result.tables)} tables; printed only the first, {result.primary.name}; not {others}"
        )
    if result.partial_error:
        warn(f"partial result ({len(rows)} rows came back): {result.partial_error}")
        return 0 if allow_partial else 1
    return 0


def _streamed(
    ctx: Any, text: str, span: Any, source: Any, allow_partial: bool, server_timeout: int | None
) -> int:
    """-o jsonl / tsv: each row written as it is read from the answer (the first table's rows)."""
    from amlmon.azure.logs import _error_text, stream_query
    from amlmon.render import jsonable, to_jsonl, to_tsv

    write = to_jsonl if ctx.options.output == "jsonl" else to_tsv
    tables: list[Any] = []
    skipped = printed = 0
    error = None
    decode: Any = None
    out = sys.stdout
    for kind, value in stream_query(ctx, text, timespan=span, source=source, server_timeout=server_timeout):
        if kind == "table":
            tables.append(value)
            decode = _row_decoder(value)
        elif kind == "row" and len(tables) == 1:
            out.write(write(jsonable(decode(value))))
            printed += 1
        elif kind == "row":
            skipped += 1
        else:
            error = value
    out.flush()
    if len(tables) > 1:
        others = ", ".join(t.name for t in tables[1:])
        warn(
            f"the answer has {len(tables)} tables; printed only the first, {tables[0].name}; not {others} ({skipped} rows)"
        )
    if error:
        warn(f"partial result ({printed} rows came back): {_error_text(error)}")
        return 0 if allow_partial else 1
    return 0


def _row_decoder(table: Any) -> Any:
    """One raw row → the object `_records` would make of it (the same rules, a row at a time)."""
    import contextlib
    import json

    columns, types = table.columns, table.types
    dynamic = [i for i, kind in enumerate(types) if kind == "dynamic"]
    textual = [i for i, kind in enumerate(types) if kind in ("timespan", "guid")]

    def decode(raw: list[Any]) -> dict[str, Any]:
        row = list(raw)
        for i in textual:
            row[i] = None if row[i] is None else str(row[i])
        for i in dynamic:
            value = row[i]
            if isinstance(value, str) and value[:1] in ("{", "["):
                with contextlib.suppress(ValueError):
                    row[i] = json.loads(value)
        return dict(zip(columns, row, strict=False))

    return decode


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


def _timespan(
    since: str | None, timespan: str | None, start: str | None, end: str | None
) -> tuple[dt.datetime, dt.datetime] | None:
    from amlmon.timeparse import parse_duration, parse_instant, parse_timespan

    given = [
        name for name, value in (("--since", since), ("--timespan", timespan), ("--from", start)) if value
    ]
    if len(given) > 1:
        raise _usage(
            f"{' and '.join(given)} exclude each other", "use one of --since, --timespan or --from/--to"
        )
    if end and not start:
        raise _usage("--to needs --from", "e.g. --from 2026-11-25T10:00Z --to 2026-11-25T11:00Z")
    now = dt.datetime.now(dt.UTC)
    if since:
        return (now - parse_duration(since, option="--since"), now)
    if start:
        begin = parse_instant(start, now=now, option="--from")
        finish = parse_instant(end, now=now, option="--to") if end else now
        return _ordered(begin, finish, "--from", "--to")
    if timespan:
        return parse_timespan(timespan, now=now)
    return None


def _ordered(
    begin: dt.datetime, finish: dt.datetime, first: str, second: str
) -> tuple[dt.datetime, dt.datetime]:
    if begin >= finish:
        raise _usage(
            f"{first} ({begin.isoformat()}) is not before {second} ({finish.isoformat()})",
            "give an earlier start or a later end",
        )
    return (begin, finish)


def _records(table: Any) -> list[dict[str, Any]]:
    """Rows as objects; `dynamic` columns (JSON text on the wire) become JSON values."""
    decode = _row_decoder(table)
    return [decode(raw) for raw in table.rows]


def _with_excerpt(exc: Any, text: str) -> Exception:
    """The service's error plus the offending line with a caret under the position it names."""
    from amlmon.errors import QueryError

    message = exc.message
    lines = text.splitlines()
    if exc.line is not None and exc.pos is not None and 1 <= exc.line <= len(lines):
        line = lines[exc.line - 1].replace("\t", " ")
        pos = min(max(exc.pos, 0), len(line))
        start = max(0, pos - 60)  # keep a long line readable around the error
        shown = line[start : pos + 60]
        message += f"\n  {shown}\n  {' ' * (pos - start)}^"
    return QueryError(message, hint=exc.hint)


def _portal_link(ctx: Any, text: str, span: tuple[dt.datetime, dt.datetime] | None, source: str) -> str:
    """The Logs blade's share-link form: the query gzip'd and base64'd, the resource as scope."""
    import base64
    import gzip
    import urllib.parse

    from amlmon.timeparse import iso_timespan

    info = ctx.workspace_info
    resource = info.log_analytics_id if source == "log-analytics" else info.require_app_insights()
    if not resource:
        info.require_log_analytics()
        raise _usage("the Log Analytics workspace of this component is unknown", "drop --log-analytics")
    packed = base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")
    link = (
        f"{ctx.cloud.portal}/#blade/Microsoft_Azure_Monitoring_Logs/LogsBlade/resourceId/"
        f"{urllib.parse.quote(resource, safe='')}/source/LogsBlade.AnalyticsShareLinkToQuery/"
        f"q/{urllib.parse.quote(packed, safe='')}"
    )
    if span is not None:
        link += f"/timespan/{urllib.parse.quote(iso_timespan(*span), safe='')}"
    return link
