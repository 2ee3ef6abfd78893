"""`amlmon data pull --datastore-url URL`: a v2 dataset from the data collector's blobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from amlmon.cli.common import app_context, output, warn


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
) -> None:
    from amlmon import collector, datasets
    from amlmon.azure.blobs import service_client
    from amlmon.cli.data import _interrupted, datetime_from
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
    destination = datasets.DatasetOutput(out, file_format, params, resume=resume)
    if destination.discarded_rows:
        warn(f"started over: an interrupted pull to {out} had {destination.discarded_rows} rows")
    if resume and destination.checkpoint.parts:  # the interrupted run's range, not a moved relative one
        start = datetime_from(destination.checkpoint.params.get("_start"), start)
        end = datetime_from(destination.checkpoint.params.get("_end"), end)
    destination.checkpoint.params["_start"], destination.checkpoint.params["_end"] = (
        start.isoformat(),
        end.isoformat(),
    )
    client = service_client(app_context(), account_url, connection_string)
    stats = collector.PullStats()
    reader = collector.CollectorPull(client.get_container_client(container_name), start, end, stats)
    try:
        written = write_collected(reader, destination, parsed, start, end, stats, flatten)
    except BaseException as exc:
        _interrupted(destination, isinstance(exc, KeyboardInterrupt))
        raise storage_error(exc, container_name) from None
    finally:
        client.close()
    _warn(stats)
    output(
        {
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
            "start": start.isoformat(),
            "end": end.isoformat(),
            "flattened": sorted(destination.flattened),
        }
    )


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
        for folder in collector.plan(names, start, end, stats):
            endpoint, deployment, stamp = folder.key.split("/")
            folders.setdefault(f"{stamp}~{endpoint}~{deployment}.part", folder)  # time order, then names
    todo = [(name, folder) for name, folder in sorted(folders.items()) if not destination.done(name)]
    reader.expect([folder for _name, folder in todo])  # their blobs download while earlier ones parse
    try:
        for name, folder in todo:
            destination.write_part(name, reader.folder_rows(folder), {"folder": folder.key})
    finally:
        reader.close()
    return int(destination.finish(flatten=flatten))


def storage_error(exc: BaseException, container: str) -> BaseException:
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    from amlmon.azure.blobs import translate_storage_error
    from amlmon.errors import NotFound

    if isinstance(exc, ResourceNotFoundError):
        return NotFound(
            f"container {container!r} does not exist",
            hint="give the workspace's default datastore container in --datastore-url "
            "(the data collector creates it with its first record)",
        )
    if isinstance(exc, AzureError):
        return translate_storage_error(exc, f"container {container!r}")
    return exc


def _warn(stats: Any) -> None:
    if stats.without_output:
        warn(
            f"{stats.without_output} input row(s) have no model_outputs row with the same id (prediction empty)"
        )
    if stats.partial_bytes:
        warn(
            f"{stats.partial_bytes} bytes after a blob's last newline were left (a line still being written)"
        )
    if stats.malformed:
        warn(f"{stats.malformed} line(s) were not JSON records and were skipped")


def tail_collector(
    targets: list[str], datastore_url: str, connection_string: str | None, since: str | None, interval: str
) -> None:
    """Print each new collected row as a JSON line until Ctrl-C."""
    import json
    import sys
    import time

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
    account_url, container_name, _prefix = split_container_url(datastore_url)
    if not container_name:
        raise UsageError(
            "--datastore-url must name the datastore's container",
            hint="give https://ACCOUNT.blob.core.windows.net/azureml-blobstore-<workspace id>",
        )
    prefixes = [collector.target_prefix(t.name, t.deployment) for t in parsed] or [f"{collector.ROOT}/"]
    client = service_client(app_context(), account_url, connection_string)
    tail = collector.CollectorTail(
        client.get_container_client(container_name), prefixes, start, collector.PullStats()
    )
    try:
        tail.start()
        print(
            f"following {', '.join(prefixes)} in {container_name} (Ctrl-C stops)", file=sys.stderr, flush=True
        )
        while True:
            for blob, record in tail.poll():
                for row_id, row in collector.record_rows(record):
                    line = {
                        "time": record.get("time"),
                        "endpoint": blob.endpoint,
                        "deployment": blob.deployment,
                        "collection": blob.collection,
                        "request_id": row_id,
                        "data": row,
                    }
                    print(json.dumps(line, separators=(",", ":")), flush=True)
            time.sleep(poll_every)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            return
        raise storage_error(exc, container_name) from None
    finally:
        client.close()
