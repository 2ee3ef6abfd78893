"""Reading the data collector's blobs into a dataset, shared by `data pull` and `drift`: the container
named by a URL, the folders written part by part (resumable), storage errors as amlmon's errors."""

from __future__ import annotations

from typing import Any


def datastore_container(datastore_url: str) -> tuple[str, str]:
    """The account URL and container of --datastore-url; a URL that is not http(s) with a host, or a
    container name Azure would refuse, is a usage error (exit 2) before any request."""
    from urllib.parse import urlsplit

    from amlmon.azure.blobs import split_container_url
    from amlmon.azure.paths import BLOB_CONTAINER
    from amlmon.errors import UsageError

    example = "https://ACCOUNT.blob.core.windows.net/azureml-blobstore-<workspace id>"
    try:
        parts = urlsplit(datastore_url)
        scheme, host = parts.scheme.lower(), parts.hostname
        parts.port  # noqa: B018 -- raises ValueError for a port out of 0-65535 (the SDK would, later)
    except ValueError:  # e.g. an unclosed [ in the host, a port that is not a number in 0-65535
        # (urllib's reason is not shown: it can quote a part of the URL)
        scheme, host, unparsed = "", None, "its host or port does not parse"
    else:
        unparsed = ""
    if scheme not in ("http", "https") or not host:
        # the URL itself is not echoed: it may carry a SAS signature
        what = unparsed or (
            "no host" if scheme in ("http", "https") else f"scheme {scheme!r}" if scheme else "no scheme"
        )
        raise UsageError(f"--datastore-url is not a URL of a blob container ({what})", hint=f"give {example}")
    account_url, container_name, _prefix = split_container_url(datastore_url)
    if not container_name:
        raise UsageError("--datastore-url must name the datastore's container", hint=f"give {example}")
    BLOB_CONTAINER.check(container_name, "--datastore-url's container")
    return account_url, container_name


def write_collected(
    reader: Any, destination: Any, parsed: list[Any], start: Any, end: Any, stats: Any, flatten: bool
) -> int:
    """The targets' collected rows in [start, end) into `destination`, folder by folder (a part each)."""
    from amlmon import collector
    from amlmon.stopping import interrupts_deferred

    planned: dict[str, Any] = {}
    for target in parsed or [None]:
        names = reader.names(target.name if target else None, target.deployment if target else None)
        for folder in collector.plan(names, start, end, stats, reader.collections):
            endpoint, deployment, stamp = folder.key.split("/")
            planned.setdefault(f"{stamp}~{endpoint}~{deployment}.part", folder)  # time order, then names
    todo = [(name, folder) for name, folder in sorted(planned.items()) if not destination.done(name)]
    fast = destination.fmt == "parquet"  # DuckDB's Arrow rows as they are (collector_fast.py)
    folders = [folder for _name, folder in todo]
    for part in destination.checkpoint.parts.values():  # a resumed pull: what the written folders took
        reader.remember(part)
    try:
        if not flatten:  # inside the try: a Ctrl-C right after it opens the temp file deletes it
            destination.assemble_while_writing()
        # inside the try: expect() makes the staging folder and starts the prefetch, which a Ctrl-C
        # right after must not leave behind
        reader.expect(folders, staged=fast)  # downloads while earlier ones are read
        # text formats, and a folder the fast path declines: the reference path's rows
        joined = reader.joined_folders(folders) if fast else ((folder, None) for folder in folders)
        # a folder's figures: those counted since the folder before was written (joined_folders counts
        # a folder when it gives it)
        before = _counts(stats)
        for (name, _planned), (folder, table) in zip(todo, joined, strict=True):
            if table is not None:
                meta = {"folder": folder.key, "counts": _since(before, stats), **reader.answered_next(folder)}
                destination.write_part_table(name, table, meta)
            else:
                rows = reader.folder_rows(folder)
                destination.write_part(
                    name,
                    rows,
                    {"folder": folder.key},
                    lambda before=before, folder=folder: {
                        "counts": _since(before, stats),
                        **reader.answered_next(folder),
                    },
                )
            reader.release(folder)
            before = _counts(stats)
    except BaseException:
        with interrupts_deferred():  # a second Ctrl-C lets the clean-up end (raised after it)
            destination.drop_assembly()  # the parts stay (--resume), a half-written output does not
        raise
    finally:
        reader.close()  # the staging folder (its own interrupts deferred)
    written = int(destination.finish(flatten=flatten))
    _totals(stats, destination.checkpoint.parts.values())
    return written


# What reading a folder adds to the pull's figures (PullStats fields). Each part keeps its own in the
# checkpoint, so a resumed pull reports the whole pull's figures, not only its own run's; the copies
# skipped are counted when the folders are planned, on every run.
_PER_FOLDER = (
    "blobs",
    "records",
    "rows",
    "partial_bytes",
    "malformed",
    "unmatched_outputs",
    "without_output",
    "pointers_followed",
    "payloads_in_blobs",
)


def _counts(stats: Any) -> dict[str, int]:
    return {field: int(getattr(stats, field)) for field in _PER_FOLDER}


def _since(before: dict[str, int], stats: Any) -> dict[str, int]:
    return {field: value - before[field] for field, value in _counts(stats).items()}


def _totals(stats: Any, parts: Any) -> None:
    """`stats` set to the sums over every part of the pull: this run's and those an interrupted run
    saved (the same figures when nothing was resumed)."""
    for field in _PER_FOLDER:
        setattr(stats, field, sum(int(part.get("counts", {}).get(field, 0)) for part in parts))


def storage_error(
    exc: BaseException, container: str, *, connection_string: str | None = None, account: str | None = None
) -> BaseException:
    """`exc` as amlmon's error (non-storage errors as they are). `connection_string`: the one given with
    --connection-string (the environment's is looked up); `account`: the blob endpoint the client called."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError, ServiceRequestError

    from amlmon.azure.blobs import translate_storage_error
    from amlmon.errors import AmlmonError, NotFound

    if isinstance(exc, ResourceNotFoundError):
        return NotFound(
            f"container {container!r} does not exist",
            hint="the data collector creates it with its first record; or give the container it "
            "writes to in --datastore-url",
        )
    if not isinstance(exc, AzureError):
        return exc
    translated = translate_storage_error(
        exc, f"container {container!r}", connection_string=connection_string, account=account
    )
    if isinstance(exc, ServiceRequestError) and isinstance(translated, AmlmonError):
        # the account's host did not resolve or answer: often the workspace's datastore names an account
        # this machine cannot reach (another network, an emulator's), while the blobs are elsewhere
        translated.hint = (
            "check the network and the account's name, or give the container the data collector writes "
            f"to: --datastore-url {COLLECTOR_URL_EXAMPLE}"
        )
    return translated


COLLECTOR_URL_EXAMPLE = "https://ACCOUNT.blob.core.windows.net/azureml-blobstore-<workspace id>"
