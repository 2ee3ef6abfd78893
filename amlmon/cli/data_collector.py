"""`amlmon data pull` on v2: a dataset from the data collector's blobs.

The blobs are in --datastore-url when given, else in the container of the workspace's
`workspaceblobstore` datastore, asked of ARM (amlmon.azure.datastores)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from amlmon.cli.common import app_context, info, note, output, warn
from amlmon.collector_pull import datastore_container, storage_error, write_collected
from amlmon.schema import COLLECTOR_RECORD


def pull_collector(
    parsed: list[Any],
    out: Path,
    since: str,
    until: str | None,
    fmt: str | None,
    flatten: bool,
    resume: bool,
    datastore_url: str,
    connection_string: str | None,
    payloads: bool = False,
) -> None:
    """`parsed`: targets already checked (checked_collector_targets or known_targets)."""
    from amlmon import collector, collector_payloads, collector_reader, datasets
    from amlmon.azure.blobs import blob_endpoint, service_client
    from amlmon.datasets.runs import interrupted, pinned_range
    from amlmon.stopping import interrupts_deferred
    from amlmon.timeparse import future_window, time_range

    start, end = time_range(since, until, default_since="7d")
    file_format = datasets.format_for(out, fmt)
    ahead = future_window(start, end)
    if ahead:  # before the pull: it says why the dataset will be empty (instead of "try a longer --since")
        warn(ahead)
    account_url, container_name = datastore_container(datastore_url)
    # a pull runs as long as the data takes, as the v1 pull (amlmon.pull_run): --timeout bounds it
    app_context().long_run()
    # The credential first: a malformed connection string is refused before the destination exists.
    client = service_client(app_context().session, account_url, connection_string)
    collections = collector_payloads.PAYLOADS if payloads else (collector.INPUTS, collector.OUTPUTS)
    params = _saved_params(parsed, since, until, blob_endpoint(client), container_name, file_format, flatten)
    if payloads:
        params["collections"] = list(collections)
    try:
        destination = datasets.DatasetOutput(out, file_format, params, resume=resume)
    except BaseException:
        client.close()
        raise
    try:
        if destination.discarded_rows:
            warn(f"started over: an interrupted pull to {out} had {destination.discarded_rows} rows")
        start, end = pinned_range(destination, start, end, resume)
        stats = collector.PullStats()
        reader = collector_reader.CollectorPull(
            client.get_container_client(container_name), start, end, stats, collections
        )
        written = write_collected(reader, destination, parsed, start, end, stats, flatten)
        for folder in reader.declined:  # slower, same rows: worth knowing when a pull is slow
            info(f"read record by record (not by DuckDB): {folder}")
    except BaseException as exc:  # finished folders stay for --resume; before the first, nothing is left
        # a part per folder of the collector's (an hour's, or a day's); a second Ctrl-C lets the clean-up
        # end (raised after it)
        with interrupts_deferred():
            interrupted(destination, isinstance(exc, KeyboardInterrupt), note, unit="folder")
        raise storage_error(
            exc, container_name, connection_string=connection_string, account=blob_endpoint(client)
        ) from None
    finally:
        client.close()
    _warn(stats, collections[1])
    for line in destination.flatten_notes.lines():  # what --flatten left as JSON, as a v1 pull says it
        warn(line)
    if not written and not ahead:
        _warn_empty(parsed, container_name, start, end, payloads)
    output(_summary(out, file_format, written, stats, start, end, destination))


def _saved_params(
    parsed: list[Any],
    since: str,
    until: str | None,
    account: str,
    container: str,
    file_format: str,
    flatten: bool,
) -> dict[str, Any]:
    """What the checkpoint keeps of a collector pull, for --resume to compare."""
    return {
        "targets": [str(t) for t in parsed],
        "since": since,
        "until": until,
        "source": "collector",
        # where the client reads (a connection string's endpoint wins over the URL's): a resume against
        # another account must not add its rows to this one's; the endpoint only, never a key or SAS
        "account": account,
        "container": container,
        "format": file_format,
        "flatten": flatten,
    }


def _warn_empty(parsed: list[Any], container: str, start: Any, end: Any, payloads: bool) -> None:
    """An empty collector pull says why it may be empty (the house rule: never a silent empty file)."""
    names = ", ".join(str(t) for t in parsed) or "any deployment"
    what = "request/response payloads" if payloads else "model_inputs/model_outputs records"
    warn(
        f"no {what} of {names} in container {container!r} between {start.isoformat()} and "
        f"{end.isoformat()}: check that the deployment had traffic in the window and that its data "
        "collector's collections are on (amlmon diagnostics status), or try a longer --since"
    )


def checked_collector_targets(
    targets: list[str], v1_hint: str, datastore_url: str | None = None
) -> list[Any]:
    """The named targets of a collector read, checked against the workspace before any blob is read or
    file created: a name that matches nothing is exit 3 (did-you-mean), a v1 service exit 2 (it has no
    data collector). As named otherwise (an endpoint's prefix covers all its deployments' folders), in the
    workspace's spelling: Azure finds `CREDIT-EP` without case, the blob folders are `credit-ep/`.
    With --datastore-url and no workspace named anywhere, the blobs are read without one (a storage-only
    user): the names are then only the container's folders, said with --verbose."""
    from amlmon.evidence import v2_named
    from amlmon.targets import parse_targets

    parsed = parse_targets(targets)
    if not parsed:
        return parsed
    ctx = app_context()
    if datastore_url and not ctx.workspace_ref.workspace.found:
        ctx.note(
            "no workspace given: the TARGET names are not checked against one (--datastore-url is read as is)"
        )
        return parsed
    return v2_named(ctx, parsed, "the data collector's blobs are", v1_hint)


def _summary(
    out: Path, file_format: str, written: int, stats: Any, start: Any, end: Any, destination: Any
) -> dict[str, Any]:
    """The record `data pull` prints for a collector pull: what was read, kept and left."""
    return {
        "path": str(out),
        "format": file_format,
        "rows": written,
        "blobs": stats.blobs,
        "records": stats.records,
        "withoutOutput": stats.without_output,
        "unmatchedOutputs": stats.unmatched_outputs,
        "skippedCopies": stats.skipped_copies,
        "partialBytes": stats.partial_bytes,
        "malformed": stats.malformed,
        "pointersFollowed": stats.pointers_followed,
        "payloadsInBlobs": stats.payloads_in_blobs,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "flattened": sorted(destination.flattened),
    }


def collector_url(datastore_url: str | None, connection_string: str | None = None) -> str:
    """--datastore-url when given (it wins), else the workspace's `workspaceblobstore` container; either
    way a connection string for another account is refused (it would read that account instead)."""
    if datastore_url:
        from amlmon.azure.blobs import url_account

        account = url_account(datastore_url)
        if account:
            _same_account(account, connection_string, "--datastore-url is in")
        else:  # a custom domain names no account: the connection string's host must be the URL's
            _same_host(datastore_url, connection_string)
        _same_port(datastore_url, connection_string)
        return datastore_url
    from amlmon.azure.datastores import collector_datastore

    ctx = app_context()
    found = collector_datastore(ctx.arm, str(ctx.workspace.resource_id))
    ctx.note(f"data collector blobs: datastore {found.name}, container {found.url}")
    _same_account(found.account_name, connection_string, "the workspace's datastore is in")
    return found.url


def _same_account(account: str, connection_string: str | None, where: str) -> None:
    """A connection string is used for every blob call: refuse one for another account than the
    container's (it would read the wrong account's container). Only account names are shown."""
    from amlmon.azure.blobs import CONNECTION_STRING_ENV, connection_string_account
    from amlmon.errors import UsageError

    given = connection_string_account(connection_string)
    if given and given.lower() != account.lower():
        raise UsageError(
            f"the storage connection string is for account {given!r}; {where} {account!r}",
            hint=f"give {account}'s connection string (--connection-string or {CONNECTION_STRING_ENV}), "
            f"or a --datastore-url in {given}",
        )


def _same_host(url: str, connection_string: str | None) -> None:
    from urllib.parse import urlsplit

    from amlmon.azure.blobs import CONNECTION_STRING_ENV, connection_string_host
    from amlmon.errors import UsageError

    given, wanted = connection_string_host(connection_string), (urlsplit(url).hostname or "").lower()
    if given and given.lower() != wanted:
        raise UsageError(
            f"the storage connection string is for {given}; --datastore-url is on {wanted}",
            hint=f"give {wanted}'s connection string (--connection-string or {CONNECTION_STRING_ENV}), "
            f"or a --datastore-url on {given}",
        )


def _same_port(url: str, connection_string: str | None) -> None:
    """A connection string's BlobEndpoint is where every call goes: a --datastore-url on another port
    (e.g. another Azurite) would silently read that endpoint's container instead."""
    from amlmon.azure.blobs import CONNECTION_STRING_ENV, connection_string_port, url_port
    from amlmon.errors import UsageError

    given = connection_string_port(connection_string)
    if given is not None and given != url_port(url):
        raise UsageError(
            f"the storage connection string's blob endpoint is on port {given}; --datastore-url is on "
            f"port {url_port(url)}",
            hint=f"give that endpoint's connection string (--connection-string or {CONNECTION_STRING_ENV}), "
            f"or a --datastore-url on port {given}",
        )


def collector_targets(targets: list[Any]) -> bool:
    """Whether every named target is a v2 deployment whose data collector is on: its model data is in
    blobs (read from the workspace's datastore), not in App Insights."""
    from amlmon.evidence import collector_on

    return bool(targets) and all(collector_on(app_context(), target) for target in targets)


def _warn(stats: Any, outputs: str) -> None:
    if stats.without_output:
        warn(f"{stats.without_output} input row(s) have no {outputs} row with the same id (prediction empty)")
    if stats.payloads_in_blobs:
        warn(
            f"{stats.payloads_in_blobs} payload(s) are in blobs of their own (binary, or not readable "
            "as JSON here): their blob URL is kept as the value"
        )
    if stats.partial_bytes:
        warn(
            f"{stats.partial_bytes} bytes after a blob's last newline were left (a line still being written)"
        )
    if stats.malformed:
        warn(
            f"{stats.malformed} malformed line(s) were skipped: not a JSON record, or a record whose "
            "`time` does not parse"
        )


def _tail_lines(blob: Any, record: dict[str, Any]) -> Iterator[str]:
    """`data tail`'s JSON line per collected row of one record."""
    import json

    from amlmon import collector, collector_payloads

    payload = blob.collection in collector_payloads.PAYLOADS
    rows = collector_payloads.payload_rows if payload else collector.record_rows
    for row_id, row in rows(record):
        line = {
            "time": record.get(COLLECTOR_RECORD.time),
            "endpoint": blob.endpoint,
            "deployment": blob.deployment,
            "collection": blob.collection,
            "request_id": row_id,
            "data": row,
        }
        yield json.dumps(line, separators=(",", ":"))


def tail_collector(
    targets: list[str],
    datastore_url: str | None,
    connection_string: str | None,
    since: str | None,
    interval: str,
) -> None:
    """Print each new collected row as a JSON line until Ctrl-C."""
    import sys

    from amlmon import collector
    from amlmon.azure.blobs import blob_endpoint, service_client
    from amlmon.collector_tail import CollectorTail
    from amlmon.errors import UsageError
    from amlmon.stopping import run_until_interrupted
    from amlmon.timeparse import parse_duration, parse_instant

    poll_every = parse_duration(interval, option="--interval").total_seconds()
    if poll_every < 0.2:
        raise UsageError(f"--interval {interval!r} is shorter than 200ms", hint="e.g. --interval 2s")
    start = parse_instant(since, option="--since") if since else None
    if datastore_url:
        datastore_container(datastore_url)  # its shape: exit 2 before any Azure call
    # Before following: a name that matches nothing would otherwise wait forever for no records.
    parsed = checked_collector_targets(
        targets,
        "a v1 service's model data is in App Insights: e.g. amlmon traces {} --model-data",
        datastore_url,
    )
    account_url, container_name = datastore_container(collector_url(datastore_url, connection_string))
    prefixes = [collector.target_prefix(t.name, t.deployment) for t in parsed] or [f"{collector.ROOT}/"]
    app_context().long_run()  # a follow runs until Ctrl-C: --timeout bounds it
    client = service_client(app_context().session, account_url, connection_string)
    tail = CollectorTail(client.get_container_client(container_name), prefixes, start, collector.PullStats())

    def follow(stop: Any) -> None:
        tail.start()
        print(
            f"following {', '.join(prefixes)} in {container_name} (Ctrl-C stops)", file=sys.stderr, flush=True
        )
        while not stop.is_set():
            for blob, record in tail.poll():
                for line in _tail_lines(blob, record):
                    if stop.is_set():  # Ctrl-C: no line after it
                        return
                    print(line, flush=True)
            stop.wait(poll_every)

    try:
        run_until_interrupted(follow)  # Ctrl-C: KeyboardInterrupt, exit 130 like traces -f
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise storage_error(
            exc, container_name, connection_string=connection_string, account=blob_endpoint(client)
        ) from None
    finally:
        client.close()
