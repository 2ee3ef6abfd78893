"""`--baseline 14d..7d --current 1d`: time windows of a deployment's model data, pulled once and cached.

A window is pulled with `data pull`'s own Puller (the v1 model_data_collection traces from the query
API) into a Parquet dataset under the user's cache directory, keyed by cloud, workspace, targets,
source and the window's exact bounds. Relative windows are aligned to whole minutes, so a second run
within the minute (or any run with absolute bounds) reads the cached file and downloads nothing. A pull
whose row count the service does not confirm (late-arriving telemetry) is used once, not cached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.errors import UsageError

if TYPE_CHECKING:
    from amlmon.context import AppContext
    from amlmon.schema import Source
    from amlmon.targets import Target

WINDOW_EXAMPLE = "14d..7d (from 14 days ago to 7 days ago), 1d (the last day), or 2026-11-01..2026-11-08"
ALIGN = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    text: str

    @property
    def production_days(self) -> int:
        """The window's length in whole days (at least one): Azure ML's data windows are ISO days."""
        return max(1, round((self.end - self.start) / dt.timedelta(days=1)))


def _is_relative(text: str) -> bool:
    from amlmon.timeparse import _SHORT

    return bool(_SHORT.match(text.strip())) or text.strip().upper().startswith("P")


def parse_window(text: str, option: str, now: dt.datetime | None = None) -> Window:
    """`A..B` (either side a duration ago or a time; B empty means now) or `A` (from A until now)."""
    from amlmon.timeparse import parse_instant

    now = now or dt.datetime.now(dt.UTC)
    aligned = now - (now - dt.datetime.min.replace(tzinfo=dt.UTC)) % ALIGN
    left, sep, right = text.partition("..")
    if not left.strip():
        raise UsageError(f"{option} {text!r} has no start", hint=f"use a file or a window: {WINDOW_EXAMPLE}")

    def instant(part: str) -> dt.datetime:
        return parse_instant(part, now=aligned if _is_relative(part) else now, option=option)

    start = instant(left)
    end = instant(right) if sep and right.strip() else aligned
    if start >= end:
        raise UsageError(
            f"{option} {text!r}: the start is not before the end", hint=f"use e.g. {WINDOW_EXAMPLE}"
        )
    return Window(start, end, text)


def cache_dir() -> Path:
    """$AMLMON_CACHE_DIR, else the XDG user cache directory."""
    explicit = os.environ.get("AMLMON_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "amlmon" / "drift"


def _usable_cache(folder: Path) -> None:
    """The cache folder, made if missing; one that cannot hold files is a usage error naming it (an
    AMLMON_CACHE_DIR that is a file once ended in 'unexpected FileExistsError', exit 1: drift's
    'breached')."""
    import tempfile

    from amlmon.datasets.destination import why_not_writable
    from amlmon.errors import UsageError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".amlmon-", suffix=".probe", dir=folder)
    except OSError as exc:
        reason = (
            f"{str(folder)!r} is not a folder"
            if isinstance(exc, (FileExistsError, NotADirectoryError))
            else why_not_writable(folder, exc)
        )
        raise UsageError(
            f"cannot keep pulled windows in the drift cache: {reason}",
            hint="point AMLMON_CACHE_DIR at a folder you can write to (default ~/.cache/amlmon/drift)",
        ) from None
    os.close(handle)
    os.unlink(probe)


def cache_path(ctx: AppContext, targets: list[Target], source: Source, window: Window) -> Path:
    key = json.dumps(
        [
            ctx.cloud.name,
            ctx.workspace.resource_id.lower(),
            sorted(str(t) for t in targets),
            source,
            window.start.isoformat(),
            window.end.isoformat(),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return cache_dir() / f"{digest}.parquet"


@dataclass(frozen=True)
class Pulled:
    path: Path
    cached: bool
    rows: int


def pull_window(ctx: AppContext, targets: list[Target], source: Source, window: Window) -> Pulled:
    """The window's model data as a Parquet dataset: the cached file, or `data pull`'s Puller into it."""
    from amlmon import datasets, pull

    path = cache_path(ctx, targets, source, window)
    if path.exists():
        return Pulled(path, True, -1)
    _usable_cache(path.parent)
    params = {
        "targets": sorted(str(t) for t in targets),
        "schema": source,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "format": "parquet",
    }
    output = datasets.DatasetOutput(path, "parquet", params, resume=False)
    try:
        result = pull.Puller(ctx, targets, source, window.start, window.end, output).run()
    except BaseException:
        output.discard()
        raise
    if not result.verified:
        # count() found other rows than were written (telemetry still arriving): use the rows, but
        # do not keep them as the window's answer for the next run
        unverified = path.with_name(path.stem + ".unverified.parquet")
        os.replace(path, unverified)
        return Pulled(unverified, False, result.rows)
    return Pulled(path, False, result.rows)


# v2: the collector's records are appended while their hour is open, and records close in time may be
# batched into one: a window that ended within SETTLE of the pull may still gain rows, so it is used
# once and not cached (as a v1 pull whose count the query API does not confirm).
SETTLE = dt.timedelta(minutes=5)


def collector_cache_path(account_url: str, container: str, targets: list[Target], window: Window) -> Path:
    key = json.dumps(
        [
            "collector",
            account_url.split("?")[0].rstrip("/").lower(),
            container,
            sorted(str(t) for t in targets),
            window.start.isoformat(),
            window.end.isoformat(),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return cache_dir() / f"{digest}.parquet"


def pull_collector_window(
    session: Any, targets: list[Target], datastore_url: str, connection_string: str | None, window: Window
) -> Pulled:
    """The window's v2 model data (model_inputs joined with model_outputs) as a Parquet dataset: the
    cached file, or `data pull --datastore-url`'s own reader into it."""
    from amlmon import collector, collector_reader, datasets
    from amlmon.azure.blobs import blob_endpoint, service_client
    from amlmon.collector_pull import datastore_container, storage_error, write_collected

    account_url, container = datastore_container(datastore_url)
    path = collector_cache_path(account_url, container, targets, window)
    if path.exists():
        return Pulled(path, True, -1)
    settled = window.end <= dt.datetime.now(dt.UTC) - SETTLE
    _usable_cache(path.parent)
    params = {
        "targets": sorted(str(t) for t in targets),
        "source": "collector",
        "container": container,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "format": "parquet",
    }
    output = datasets.DatasetOutput(path, "parquet", params, resume=False)
    client = service_client(session, account_url, connection_string)
    stats = collector.PullStats()
    reader = collector_reader.CollectorPull(
        client.get_container_client(container), window.start, window.end, stats
    )
    try:
        rows = write_collected(reader, output, targets, window.start, window.end, stats, flatten=False)
    except BaseException as exc:
        output.discard()
        raise storage_error(
            exc, container, connection_string=connection_string, account=blob_endpoint(client)
        ) from None
    finally:
        client.close()
    if not settled:
        recent = path.with_name(path.stem + ".unsettled.parquet")
        os.replace(path, recent)
        return Pulled(recent, False, rows)
    return Pulled(path, False, rows)
