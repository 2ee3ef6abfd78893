"""`amlmon data pull` on v2: a dataset from the data collector's blobs.

The blobs are in --datastore-url when given, else in the container of the workspace's
`workspaceblobstore` datastore, asked of ARM (amlmon.azure.datastores)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from amlmon.cli.common import app_context, note, output, warn


def pull_collector(
    targets: list[str],
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
    from amlmon import collector, collector_payloads, datasets
    from amlmon.azure.blobs import service_client
    from amlmon.datasets.runs import interrupted, pinned_range
    from amlmon.targets import parse_targets
    from amlmon.timeparse import time_range

    parsed = parse_targets(targets)
    start, end = time_range(since, until, default_since="7d")
    file_format = datasets.format_for(out, fmt)
    account_url, container_name = datastore_container(datastore_url)
    params = {
        "targets": [str(t) for t in parsed],
        "since": since,
        "until": until,
        "source": "collector",
        "container": container_name,
        "format": file_format,
        "flatten": flatten,
    }
    collections = collector_payloads.PAYLOADS if payloads else (collector.INPUTS, collector.OUTPUTS)
    if payloads:
        params["collections"] = list(collections)
    destination = datasets.DatasetOutput(out, file_format, params, resume=resume)
    if destination.discarded_rows:
        warn(f"started over: an interrupted pull to {out} had {destination.discarded_rows} rows")
    start, end = pinned_range(destination, start, end, resume)
    client = service_client(app_context().session, account_url, connection_string)
    stats = collector.PullStats()
    reader = collector.CollectorPull(
        client.get_container_client(container_name), start, end, stats, collections
    )
    try:
        written = write_collected(reader, destination, parsed, start, end, stats, flatten)
    except BaseException as exc:
        interrupted(destination, isinstance(exc, KeyboardInterrupt), note)
        raise storage_error(exc, container_name) from None
    finally:
        client.close()
    _warn(stats, collections[1])
    output(_summary(out, file_format, written, stats, start, end, destination))


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
    """--datastore-url when given (it wins), else the workspace's `workspaceblobstore` container."""
    if datastore_url:
        return datastore_url
    from amlmon.azure.datastores import collector_datastore

    ctx = app_context()
    found = collector_datastore(ctx.arm, str(ctx.workspace.resource_id))
    ctx.note(f"data collector blobs: datastore {found.name}, container {found.url}")
    _same_account(found.account_name, connection_string)
    return found.url


def _same_account(account: str, connection_string: str | None) -> None:
    """A connection string is used for every blob call: refuse one for another account than the
    datastore's (it would read the wrong account's container). Only account names are shown."""
    import os

    from amlmon.azure.blobs import CONNECTION_STRING_ENV
    from amlmon.errors import UsageError

    text = connection_string or os.environ.get(CONNECTION_STRING_ENV) or ""
    parts = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
    given = parts.get("AccountName")
    if given and given.lower() != account.lower():
        raise UsageError(
            f"the storage connection string is for account {given!r}; the workspace's datastore is in {account!r}",
            hint=f"set {CONNECTION_STRING_ENV} to {account}'s connection string, or give --datastore-url",
        )


def collector_targets(targets: list[Any]) -> bool:
    """Whether every named target is a v2 deployment whose data collector is on: its model data is in
    blobs (read from the workspace's datastore), not in App Insights."""
    from amlmon.evidence import collector_on

    return bool(targets) and all(collector_on(app_context(), target) for target in targets)


def datastore_container(datastore_url: str) -> tuple[str, str]:
    """The account URL and container of --datastore-url."""
    from amlmon.azure.blobs import split_container_url
    from amlmon.errors import UsageError

    account_url, container_name, _prefix = split_container_url(datastore_url)
    if not container_name:
        raise UsageError(
            "--datastore-url must name the datastore's container",
            hint="give https://ACCOUNT.blob.core.windows.net/azureml-blobstore-<workspace id>",
        )
    return account_url, container_name


def write_collected(
    reader: Any, destination: Any, parsed: list[Any], start: Any, end: Any, stats: Any, flatten: bool
) -> int:
    """The targets' collected rows in [start, end) into `destination`, folder by folder (a part each)."""
    from amlmon import collector

    folders: dict[str, Any] = {}
    for target in parsed or [None]:
        names = reader.names(target.name if target else None, target.deployment if target else None)
        for folder in collector.plan(names, start, end, stats, reader.collections):
            endpoint, deployment, stamp = folder.key.split("/")
            folders.setdefault(f"{stamp}~{endpoint}~{deployment}.part", folder)  # time order, then names
    for name, folder in sorted(folders.items()):
        if not destination.done(name):
            destination.write_part(name, reader.folder_rows(folder), {"folder": folder.key})
    return int(destination.finish(flatten=flatten))


def storage_error(exc: BaseException, container: str) -> BaseException:
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    from amlmon.azure.blobs import translate_storage_error
    from amlmon.errors import NotFound

    if isinstance(exc, ResourceNotFoundError):
        return NotFound(
            f"container {container!r} does not exist",
            hint="the data collector creates it with its first record; or give the container it "
            "writes to in --datastore-url",
        )
    if isinstance(exc, AzureError):
        return translate_storage_error(exc, f"container {container!r}")
    return exc


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
        warn(f"{stats.malformed} line(s) were not JSON records and were skipped")


def _tail_lines(blob: Any, record: dict[str, Any]) -> Iterator[str]:
    """`data tail`'s JSON line per collected row of one record."""
    import json

    from amlmon import collector, collector_payloads

    payload = blob.collection in collector_payloads.PAYLOADS
    rows = collector_payloads.payload_rows if payload else collector.record_rows
    for row_id, row in rows(record):
        line = {
            "time": record.get("time"),
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
    from amlmon.azure.blobs import service_client, split_container_url
    from amlmon.errors import UsageError
    from amlmon.targets import parse_targets
    from amlmon.timeparse import parse_duration, parse_instant

    parsed = parse_targets(targets)
    poll_every = parse_duration(interval, option="--interval").total_seconds()
    if poll_every < 0.2:
        raise UsageError(f"--interval {interval!r} is shorter than 200ms", hint="e.g. --interval 2s")
    start = parse_instant(since, option="--since") if since else None
    datastore_url = collector_url(datastore_url, connection_string)
    account_url, container_name, _prefix = split_container_url(datastore_url)
    if not container_name:
        raise UsageError(
            "--datastore-url must name the datastore's container",
            hint="give https://ACCOUNT.blob.core.windows.net/azureml-blobstore-<workspace id>",
        )
    prefixes = [collector.target_prefix(t.name, t.deployment) for t in parsed] or [f"{collector.ROOT}/"]
    client = service_client(app_context().session, account_url, connection_string)
    tail = collector.CollectorTail(
        client.get_container_client(container_name), prefixes, start, collector.PullStats()
    )
    from amlmon.stopping import run_until_interrupted

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
        raise storage_error(exc, container_name) from None
    finally:
        client.close()
