"""`data extract`: the `data pull` dataset from exported telemetry (diagnostic setting or data export blobs).

Export files are found by listing a local folder or blob containers, not by building names; a folder's
time (y=/m=/d=/h=/m=) prunes what cannot hold the range, and each record's own time filters the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon import jsonfast

if TYPE_CHECKING:
    from amlmon.context import AppContext

Say = Callable[[str], None]

# Containers holding traces: a diagnostic setting's and a Log Analytics data export rule's.
TRACE_CONTAINERS = ("insights-logs-apptraces", "am-apptraces")
# y=YYYY/m=MM/d=DD/h=HH/m=MM/ then PT1H.json (diagnostic setting) or PT05M[_N].json (data export).
_BLOB_PATH = re.compile(
    r"y=(?P<y>\d{4})/m=(?P<mo>\d{1,2})/d=(?P<d>\d{1,2})/h=(?P<h>\d{1,2})/m=(?P<mi>\d{1,2})/"
    r"(?P<file>PT1H|PT05M(?:_\d+)?)\.json$",
    re.IGNORECASE,
)
# Data export files by ingestion time: an event can land in a folder up to this much after its time.
LATE_ARRIVAL = dt.timedelta(hours=24)


def blob_hour(name: str) -> dt.datetime | None:
    """The folder time of an export blob path, or None when the path is not an export blob."""
    match = _BLOB_PATH.search(name.replace("\\", "/"))
    if not match:
        return None
    try:
        return dt.datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            tzinfo=dt.UTC,
        )
    except ValueError:
        return None


def keep_blob(hour: dt.datetime, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    """Prune by folder time: folders are hours (or 5 minutes) and may hold late data for earlier times."""
    if start is not None and hour + LATE_ARRIVAL < start:
        return False
    return not (end is not None and hour >= end)


@dataclass
class ExtractStats:
    blobs: int = 0
    records: int = 0
    rows: int = 0
    truncated: int = 0
    malformed: int = 0
    skipped: int = 0  # records that are not model data


def rows_from_lines(
    lines: Iterator[str], start: dt.datetime | None, end: dt.datetime | None, stats: ExtractStats
) -> Iterator[dict[str, Any]]:
    from amlmon.datasets import row_from_export_record

    for line in lines:
        text = line.strip()
        if not text:
            continue
        record = jsonfast.json_object(text, json.loads)
        if record is None:
            stats.malformed += 1
            continue
        stats.records += 1
        row = row_from_export_record(record)
        if row is None:
            stats.skipped += 1
            continue
        when = row["time"]
        if when is None:
            stats.malformed += 1
            continue
        if (start is not None and when < start) or (end is not None and when >= end):
            continue
        stats.rows += 1
        stats.truncated += int(bool(row["truncated"]))
        yield row


_EXPORT_FILE = re.compile(r"(?:^|/)(?:PT1H|PT05M(?:_\d+)?)\.json$", re.IGNORECASE)


def is_export_file(name: str) -> bool:
    """A PT1H.json / PT05M.json blob or file, inside its time folders or not."""
    return bool(_EXPORT_FILE.search(name.replace("\\", "/")))


def local_blobs(folder: Any) -> tuple[list[tuple[dt.datetime | None, Any]], list[Any]]:
    """Export files under a local folder, by folder time then path; and the other .json files (not read).

    A PT1H.json / PT05M.json copied out of its y=/m=/d=/h=/m= folders is still read: its folder time is
    None (no pruning by folder; its records are still filtered by their own time).
    """
    found: list[tuple[dt.datetime | None, Any]] = []
    others = []
    for path in Path(folder).rglob("*"):
        if path.is_file() and path.suffix.lower() == ".json":
            relative = path.relative_to(folder).as_posix()
            if is_export_file(relative):
                found.append((blob_hour(relative), path))
            else:
                others.append(path)
    first = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(found, key=lambda item: (item[0] or first, str(item[1]))), sorted(others)


def extract_dataset(
    ctx: AppContext,
    source: str,
    out: Path,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    fmt: str | None,
    flatten: bool,
    overwrite: bool,
    connection_string: str | None,
    warn: Say,
    note: Say,
) -> dict[str, Any]:
    """Read every export file of `source` (a folder or a blob URL) into `out`; the summary record."""
    from amlmon import datasets
    from amlmon.datasets.runs import nothing_kept, report

    stats = ExtractStats()
    ctx.long_run()  # as a pull: it reads as long as the export holds (GBs of blobs); --timeout bounds it
    datasets.check_destination(out, overwrite=overwrite)
    file_format = datasets.format_for(out, fmt)
    files = None if "://" in source else folder_files(Path(source), warn)
    if files is None:
        rows = blob_rows(ctx, source, connection_string, start, end, stats)
    else:
        rows = folder_rows(files, start, end, stats)
    destination = datasets.DatasetOutput(out, file_format, {"source": "extract"}, resume=False)
    try:
        destination.write_part(destination.part_name(0), rows, {})
        written = destination.finish(flatten=flatten)
    except BaseException as exc:
        destination.discard()  # extract has no --resume: nothing half-made is kept
        if isinstance(exc, KeyboardInterrupt):
            note(nothing_kept(out, "interrupted"))
        raise
    report(destination, stats.truncated, stats.malformed, warn)
    if not written:
        warn(_why_empty(stats, source, start is not None or end is not None))
    return {
        "path": str(out),
        "format": file_format,
        "rows": written,
        "truncated": stats.truncated,
        "blobs": stats.blobs,
        "records": stats.records,
        "skipped": stats.skipped,
        "malformed": stats.malformed,
        "flattened": sorted(destination.flattened),
    }


def _why_empty(stats: ExtractStats, source: str, windowed: bool) -> str:
    """Why an extract wrote no row, in one line: a dataset of 0 rows must not pass for "no traffic"."""
    if not stats.blobs:
        return (
            f"no model data: no export file of {source} is in the --since/--until window (files are "
            "chosen by their y=/m=/d=/h= folders)"
        )
    files = f"{stats.blobs} export file{'s' if stats.blobs != 1 else ''}"
    if not stats.records:
        return f"no model data: the {files} read hold no records"
    if stats.skipped == stats.records:
        return (
            f"no model data: none of the {stats.records} records in the {files} read is a model_data_collection "
            "trace (they are in the AppTraces export: insights-logs-apptraces/…/PT1H.json, am-apptraces/…)"
        )
    if windowed:
        return f"no model data: none of the model-data records in the {files} read is in the --since/--until window"
    return f"no model data in the {files} read"


def folder_files(folder: Path, warn: Say) -> list[tuple[Any, Path]]:
    """The export files under `folder`; a folder without any is not found, and .json files that are not
    export files are named as skipped (a folder of some other JSON must not look like 0 rows of data)."""
    from amlmon.datasets.runs import count
    from amlmon.errors import NotFound, UsageError

    if not folder.is_dir():
        # A local path the user typed is input, not an Azure resource: exit 2 (README's table), as
        # drift's missing --baseline; a blob container that does not exist stays not found (3).
        reason = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UsageError(
            f"{str(folder)!r} {reason}", hint="give a folder of exported files or a blob container URL"
        )
    found, others = local_blobs(folder)
    if others:
        warn(
            f"{count(len(others), '.json file was', '.json files were')} not read: export files are named "
            f"PT1H.json or PT05M.json (e.g. {others[0]})"
        )
    if not found:
        raise NotFound(
            f"no export files (PT1H.json, PT05M.json) under {str(folder)!r}",
            hint="give the folder a diagnostic setting or data export wrote (…/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json)",
        )
    return found


def folder_rows(
    files: list[tuple[Any, Path]], start: dt.datetime | None, end: dt.datetime | None, stats: ExtractStats
) -> Iterator[dict[str, Any]]:
    for hour, path in files:
        if hour is not None and not keep_blob(hour, start, end):
            continue
        stats.blobs += 1
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from rows_from_lines(iter(handle), start, end, stats)


def blob_rows(
    ctx: AppContext,
    url: str,
    connection_string: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    stats: ExtractStats,
) -> Iterator[dict[str, Any]]:
    from amlmon.azure.blobs import BlobSource

    blob_source = BlobSource(ctx.session, url, connection_string, TRACE_CONTAINERS)
    try:
        listed = []
        for container, name in blob_source.blobs():
            hour = blob_hour(name)
            if hour is None and not is_export_file(name):
                continue
            # An export file outside its time folders (copied there) is read; only its records' times filter it.
            if hour is None or keep_blob(hour, start, end):
                listed.append((hour, container, name))
        first = dt.datetime.min.replace(tzinfo=dt.UTC)
        for _hour, container, name in sorted(listed, key=lambda item: (item[0] or first, item[1], item[2])):
            stats.blobs += 1
            yield from rows_from_lines(blob_source.lines(container, name), start, end, stats)
    finally:
        blob_source.close()
