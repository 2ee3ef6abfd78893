"""Any KQL the user writes (`amlmon query`): run it, or stream its rows, and the notes on the answer.

The CLI reads the query and its options, calls one of these and prints; a rejected query comes back
as a QueryError that shows the offending line with a caret.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Span = tuple[dt.datetime, dt.datetime] | None


@dataclass
class Answer:
    rows: list[dict[str, Any]] = field(default_factory=list)  # the first table's rows (not when streamed)
    notes: list[str] = field(default_factory=list)  # what the user should know: other tables, partial
    partial: bool = False


def run(ctx: Any, text: str, span: Span, source: Any, server_timeout: int | None) -> Answer:
    """The whole answer: the first table's rows as objects, notes on other tables and a partial result."""
    from amlmon.azure.log_answers import records, with_excerpt
    from amlmon.azure.logs import RejectedQuery, run_query

    try:
        result = run_query(
            ctx.query_api,
            text,
            timespan=span,
            source=source,
            server_timeout=server_timeout,
            parse_datetimes=False,
        )
    except RejectedQuery as exc:
        raise with_excerpt(exc, text) from None
    answer = Answer(records(result.primary))
    if len(result.tables) > 1:
        others = ", ".join(f"{t.name} ({len(t.rows)} rows)" for t in result.tables[1:])
        answer.notes.append(
            f"the answer has {len(result.tables)} tables; printed only the first, {result.primary.name}; not {others}"
        )
    if result.partial_error:
        answer.notes.append(f"partial result ({len(answer.rows)} rows came back): {result.partial_error}")
        answer.partial = True
    return answer


def stream(
    ctx: Any,
    text: str,
    span: Span,
    source: Any,
    server_timeout: int | None,
    emit: Callable[[dict[str, Any]], None],
) -> Answer:
    """Each row of the first table handed to `emit` as it is read from the answer; the notes after."""
    from amlmon.azure.log_answers import error_text, row_decoder, with_excerpt
    from amlmon.azure.logs import RejectedQuery, stream_query

    tables: list[Any] = []
    skipped = printed = 0
    error = None
    decode: Any = None
    try:
        for kind, value in stream_query(
            ctx.query_api, text, timespan=span, source=source, server_timeout=server_timeout
        ):
            if kind == "table":
                tables.append(value)
                decode = row_decoder(value)
            elif kind == "row" and len(tables) == 1:
                emit(decode(value))
                printed += 1
            elif kind == "row":
                skipped += 1
            else:
                error = value
    except RejectedQuery as exc:
        raise with_excerpt(exc, text) from None
    answer = Answer()
    if len(tables) > 1:
        others = ", ".join(t.name for t in tables[1:])
        answer.notes.append(
            f"the answer has {len(tables)} tables; printed only the first, {tables[0].name}; not {others} ({skipped} rows)"
        )
    if error:
        answer.notes.append(f"partial result ({printed} rows came back): {error_text(error)}")
        answer.partial = True
    return answer


def portal_link(ctx: Any, text: str, span: Span, source: str) -> str:
    """The Logs blade's share-link form: the query gzip'd and base64'd, the resource as scope."""
    import base64
    import gzip
    import urllib.parse

    from amlmon.errors import UsageError
    from amlmon.timeparse import iso_timespan

    info = ctx.workspace_info
    resource = info.log_analytics_id if source == "log-analytics" else info.require_app_insights()
    if not resource:
        info.require_log_analytics()
        raise UsageError(
            "the Log Analytics workspace of this component is unknown", hint="drop --log-analytics"
        )
    packed = base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")
    link = (
        f"{ctx.cloud.portal}/#blade/Microsoft_Azure_Monitoring_Logs/LogsBlade/resourceId/"
        f"{urllib.parse.quote(resource, safe='')}/source/LogsBlade.AnalyticsShareLinkToQuery/"
        f"q/{urllib.parse.quote(packed, safe='')}"
    )
    if span is not None:
        link += f"/timespan/{urllib.parse.quote(iso_timespan(*span), safe='')}"
    return link
