"""v2 model data: the data collector's JSON lines in blob storage → dataset rows.

Layout (AZURE-FACTS.md "Collector output"): `modelDataCollector/{ep}/{dep}/{collection}/yyyy/MM/dd/HH/
{instance}.jsonl` (rolling rate Day drops `HH/`), append blobs growing while their hour is open. A
record: `{specversion, id, source, type, datacontenttype, time, data, correlationid, xrequestid,
contentrange, …}`; custom collections (`model_inputs`, `model_outputs`) have `data` = an array of row
objects — several requests' rows when the collector batched records close in time.

How this reads them:
- blobs are listed (never guessed) under `modelDataCollector/{ep}/[{dep}/]`, kept when their folder's
  hour (or day) overlaps the window; `_block_blob` copies (made by Azure ML model monitoring) are skipped;
- an append blob is read up to the length its properties gave (appends only add bytes, so that prefix
  is consistent) and only up to its last newline: a line still being written is left for the next pull;
- a record's `data` rows become one dataset row each, id `{correlationid}_{i}` (i = the row's index in
  the record), and an input row is joined to the output row with the same id — from the same folder or,
  for a request at an hour's end, the next one. Memory holds one folder's outputs, not the dataset.
- reading them is amlmon/collector_reader.py's (downloads ahead, the DuckDB fast path for Parquet, the
  reference path for everything else).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from amlmon.schema import COLLECTOR_RECORD

ROOT = "modelDataCollector"
INPUTS = "model_inputs"
OUTPUTS = "model_outputs"
BLOCK_BLOB_COPY = "_block_blob"
GENERATION = "collector"
_NAME = re.compile(
    r"^modelDataCollector/(?P<ep>[^/]+)/(?P<dep>[^/]+)/(?P<collection>[^/]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})(?:/(?P<h>\d{2}))?/(?P<instance>[^/]+)\.jsonl$"
)


@dataclass(frozen=True)
class CollectorBlob:
    """One collector blob, parsed from its name."""

    name: str
    endpoint: str
    deployment: str
    collection: str
    folder: dt.datetime  # the folder's start (UTC)
    span: dt.timedelta  # an hour, or a day for Day rolling
    instance: str

    @property
    def group(self) -> tuple[str, str, str]:
        """Inputs and outputs of one deployment's folder share a group."""
        return (self.endpoint, self.deployment, self.folder.strftime("%Y%m%dT%H"))


def parse_blob_name(name: str) -> CollectorBlob | None:
    """The parts of a collector blob name; None for anything else (other files, copies' own layouts)."""
    match = _NAME.match(name)
    if match is None:
        return None
    hour = int(match["h"]) if match["h"] is not None else 0
    try:
        folder = dt.datetime(int(match["y"]), int(match["m"]), int(match["d"]), hour, tzinfo=dt.UTC)
    except ValueError:
        return None
    span = dt.timedelta(hours=1) if match["h"] is not None else dt.timedelta(days=1)
    return CollectorBlob(
        name, match["ep"], match["dep"], match["collection"].lower(), folder, span, match["instance"]
    )


def workspace_of(source: str) -> str | None:
    """The workspace a record's `source` (the deployment's resource id) names, else None."""
    parts = source.strip("/").split("/")
    return parts[parts.index("workspaces") + 1] if "workspaces" in parts[:-1] else None


def overlaps(blob: CollectorBlob, start: dt.datetime, end: dt.datetime) -> bool:
    return blob.folder < end and blob.folder + blob.span > start


def target_prefix(endpoint: str, deployment: str | None) -> str:
    return f"{ROOT}/{endpoint}/{deployment}/" if deployment else f"{ROOT}/{endpoint}/"


@dataclass
class PullStats:
    blobs: int = 0
    records: int = 0
    rows: int = 0
    skipped_copies: int = 0
    partial_bytes: int = 0  # bytes after a blob's last newline: a line still being appended
    malformed: int = 0
    unmatched_outputs: int = 0
    without_output: int = 0
    pointers_followed: int = 0  # payloads over 4 MB read from their own blob (collector_payloads.py)
    payloads_in_blobs: int = 0  # payloads kept as their blob's URL (binary, or not readable as JSON)


def complete_lines(chunks: Iterator[bytes], stats: PullStats) -> Iterator[str]:
    """Whole lines from a byte stream; the tail after the last newline is counted, not yielded."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk:
            continue
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line.decode("utf-8", errors="replace")
    stats.partial_bytes += len(pending)


PIECE = 1024 * 1024  # whole lines handed on at a time: what parsing holds besides the blob is about this


def line_pieces(chunks: Iterator[bytes], stats: PullStats) -> Iterator[bytes]:
    """The stream's whole lines, about PIECE bytes at a time (a longer line whole); the tail after the
    last newline is counted, not yielded (as complete_lines)."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk if pending else chunk
        begin = 0
        while True:
            cut = data.rfind(b"\n", begin, begin + PIECE)
            if cut < 0:
                cut = data.find(b"\n", begin + PIECE)
                if cut < 0:
                    break
            yield data[begin : cut + 1]
            begin = cut + 1
        pending = data[begin:]
    stats.partial_bytes += len(pending)


def parse_time(text: Any) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def record_rows(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """(`{correlationid}_{i}`, row) for each row of a record's `data` (a non-array payload is one row)."""
    data = record.get(COLLECTOR_RECORD.data)
    rows = data if isinstance(data, list) else [data]
    correlation = record.get(COLLECTOR_RECORD.correlation_id) or record.get(COLLECTOR_RECORD.id) or ""
    if len(rows) == 1:  # most records: one request's one row
        return [(f"{correlation}_0", rows[0])]
    return [(f"{correlation}_{index}", row) for index, row in enumerate(rows)]


@dataclass
class FolderPlan:
    """One deployment's folder: its inputs' and outputs' blobs, and its neighbours' blobs a pull may read.

    A request's input and output are in one folder, or the output in the next folder with outputs (a
    request at an hour's end). So an output is unmatched when no input of its folder has its id, nor an
    input of the folder before that its own folder did not answer (whatever the inputs' times: the
    count does not depend on where the window starts, and adjacent windows add up)."""

    key: str
    inputs: list[CollectorBlob] = field(default_factory=list)
    outputs: list[CollectorBlob] = field(default_factory=list)
    next_outputs: list[CollectorBlob] = field(default_factory=list)
    # the next folder is this pull's too: its outputs' figures are its own, and it is told which of
    # them this folder's inputs answered, those outside the window too
    next_planned: bool = False
    # the folder before (that the inputs of which this folder answers), when the pull does not read it
    # (the window starts after it): read, only for an output no input of this folder answers
    previous_inputs: list[CollectorBlob] = field(default_factory=list)
    previous_outputs: list[CollectorBlob] = field(default_factory=list)


def plan(
    names: Iterator[str],
    start: dt.datetime,
    end: dt.datetime,
    stats: PullStats,
    collections: tuple[str, str] = (INPUTS, OUTPUTS),
) -> list[FolderPlan]:
    """Folders with inputs in the window, in time order, each knowing the next folder's outputs.
    `collections`: the (inputs, outputs) pair, e.g. ("request", "response") for payload logging."""
    inputs, outputs = collections
    by_group: dict[tuple[str, str, str], FolderPlan] = {}
    # (endpoint, deployment) → collection → folder stamp → its blobs, of every folder listed
    listed: dict[tuple[str, str], dict[str, dict[str, list[CollectorBlob]]]] = {}
    for name in names:
        if BLOCK_BLOB_COPY in name:
            stats.skipped_copies += 1
            continue
        blob = parse_blob_name(name)
        if blob is None or blob.collection not in (inputs, outputs):
            continue
        folders = listed.setdefault((blob.endpoint, blob.deployment), {inputs: {}, outputs: {}})
        folders[blob.collection].setdefault(blob.group[2], []).append(blob)
        if not overlaps(blob, start, end):
            continue
        key = blob.group
        folder = by_group.setdefault(key, FolderPlan("/".join(key)))
        (folder.inputs if blob.collection == inputs else folder.outputs).append(blob)
    for (endpoint, deployment, stamp), folder in by_group.items():
        folders = listed[(endpoint, deployment)]
        answers, asked = folders[outputs], folders[inputs]
        later = min((s for s in answers if s > stamp), default=None)
        if later is not None:
            folder.next_outputs = answers[later]
            folder.next_planned = (endpoint, deployment, later) in by_group
        # the folder whose next folder with outputs is this one: after the last one with outputs before
        answered_before = max((s for s in answers if s < stamp), default="")
        before = max((s for s in asked if answered_before <= s < stamp), default=None)
        if before is not None and (endpoint, deployment, before) not in by_group:
            folder.previous_inputs = asked[before]
            folder.previous_outputs = answers.get(before, [])
    return [by_group[key] for key in sorted(by_group, key=lambda k: (k[2], k[0], k[1]))]
