"""`amlmon traces --request ID`: one request across the traffic log, App Insights and the collector's
blobs, as one timeline (`-o json`: the entries keyed by source). The joins are in amlmon.request_trace."""

from __future__ import annotations

from typing import IO, Any

from amlmon.cli.common import app_context, output, warn


def request_timeline(
    targets: list[str],
    request: str,
    since: str,
    until: str | None,
    print_query: bool,
    datastore_url: str | None,
) -> int:
    from amlmon import kql
    from amlmon import request_trace as rt
    from amlmon.errors import UsageError
    from amlmon.targets import parse_targets
    from amlmon.timeparse import time_range

    if not request.strip():
        raise UsageError("--request is empty", hint="give the request's x-request-id, e.g. --request 6f1c…")
    kql.string(request)  # control characters are refused here
    start, end = time_range(since, until, default_since="10m")
    parsed = parse_targets(targets)
    if print_query:
        print(
            f"// log-analytics, timespan {start.isoformat()}/{end.isoformat()}\n{rt.traffic_query(request)}"
        )
        print(
            f"// app-insights, timespan {start.isoformat()}/{end.isoformat()}\n{rt.app_insights_query(request)}"
        )
        return 0
    ctx = app_context()
    # A name that matches nothing is exit 3 (did-you-mean) before any source is searched; with no
    # workspace named anywhere the sources that need one say so below, and the blobs are read as is.
    if parsed and ctx.workspace_ref.workspace.found:
        from amlmon.evidence import known_targets

        parsed = known_targets(ctx, parsed)  # spelled as the workspace spells them (blob folders)
    if datastore_url:
        from amlmon.cli.data_collector import collector_url

        datastore_url = collector_url(datastore_url)  # a connection string of another account: exit 2
    entries = [
        *_query(
            ctx, rt.traffic_query(request), (start, end), "log-analytics", rt.traffic_entries, "traffic log"
        ),
        *_query(
            ctx,
            rt.app_insights_query(request),
            (start, end),
            "app-insights",
            rt.app_insights_entries,
            "App Insights",
        ),
    ]
    datastore_url = datastore_url or _discovered(parsed)
    if datastore_url:
        entries += _collector(ctx, parsed, datastore_url, start, end, request)
    warn(rt.NOT_CORRELATED)
    found = rt.timeline(entries)
    if not found:  # a request id found nowhere is exit 3, like any name that matches nothing
        from amlmon.errors import NotFound

        raise NotFound(
            f"nothing found for request {request} between {start.isoformat()} and {end.isoformat()}",
            hint=f"widen the window (--since {since}), e.g. --since 24h, and check the id (the x-request-id "
            "response header)",
        )
    output(rt.by_source(found), table=_renderer(found))
    return 0


def _query(ctx: Any, text: str, timespan: Any, source: Any, entries: Any, name: str) -> list[Any]:
    """One source's entries; a source amlmon cannot read (no workspace, no such table) is said, not fatal."""
    from azure.core.exceptions import HttpResponseError

    from amlmon.azure.logs import run_query
    from amlmon.errors import AmlmonError

    try:
        answer = run_query(ctx.query_api, text, timespan=timespan, source=source, allow_partial=True)
    except (AmlmonError, HttpResponseError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        warn(f"{name} was not searched: {first}")
        return []
    return list(entries(answer.primary.records()))


def _discovered(targets: list[Any]) -> str | None:
    """The workspace's workspaceblobstore container when every named target is a v2 deployment with its
    data collector on; else None, said. A datastore amlmon cannot read is said, not fatal: the other
    sources were searched."""
    from amlmon.cli.data_collector import collector_targets, collector_url
    from amlmon.errors import AmlmonError

    if not collector_targets(targets):
        warn(
            "collector records were not searched: give --datastore-url (the workspace's default datastore "
            "container), or name v2 deployments (ep/dep) whose data collector is on"
        )
        return None
    try:
        return collector_url(None)
    except AmlmonError as exc:
        warn(f"collector records were not searched: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        return None


def _collector(
    ctx: Any, targets: list[Any], datastore_url: str, start: Any, end: Any, request: str
) -> list[Any]:
    from amlmon import collector, collector_reader
    from amlmon import request_trace as rt
    from amlmon.azure.blobs import blob_endpoint, service_client
    from amlmon.collector_pull import datastore_container, storage_error

    account_url, container_name = datastore_container(datastore_url)
    client = service_client(ctx.session, account_url, None)
    stats = collector.PullStats()
    reader = collector_reader.CollectorPull(client.get_container_client(container_name), start, end, stats)

    def records() -> Any:
        for target in targets or [None]:
            for name in reader.names(target.name if target else None, target.deployment if target else None):
                blob = collector.parse_blob_name(name)
                if (
                    collector.BLOCK_BLOB_COPY in name
                    or blob is None
                    or not collector.overlaps(blob, start, end)
                ):
                    continue
                for record in reader.records(blob):
                    yield name, record

    try:
        return list(rt.collector_entries(records(), request))
    except Exception as exc:
        raise storage_error(exc, container_name, account=blob_endpoint(client)) from None
    finally:
        client.close()


def _renderer(found: list[Any]) -> Any:
    def render(_data: Any, stream: IO[str]) -> None:
        from amlmon.render.text import visible
        from amlmon.timeparse import iso_utc

        for entry in found:
            stamp = iso_utc(entry.time, "milliseconds") if entry.time else "-" * 24
            # The summary is the service's text (a message, a URL): its control characters are shown.
            stream.write(
                f"{stamp} {entry.source:<12} {entry.kind:<13} {visible(str(entry.summary), chr(9))}\n"
            )

    return render
