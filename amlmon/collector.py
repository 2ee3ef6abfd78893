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
- speed (issue 16): the planned blobs download ahead in threads while earlier ones parse, within a byte
  budget (amlmon/azure/prefetch.py); lines parse, and rows encode, with orjson when it is installed, to
  the standard library's very results (amlmon/jsonfast.py); each record's time is parsed once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from amlmon import jsonfast
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


_UNSEEN: Any = object()


def record_rows(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """(`{correlationid}_{i}`, row) for each row of a record's `data` (a non-array payload is one row)."""
    data = record.get(COLLECTOR_RECORD.data)
    rows = data if isinstance(data, list) else [data]
    correlation = record.get(COLLECTOR_RECORD.correlation_id) or record.get(COLLECTOR_RECORD.id) or ""
    if len(rows) == 1:  # most records: one request's one row
        return [(f"{correlation}_0", rows[0])]
    return [(f"{correlation}_{index}", row) for index, row in enumerate(rows)]


# A data row and what a dataset row needs of its record: (row id, row, time, inside the window, source).
DataRow = tuple[str, Any, dt.datetime | None, bool, str]


def _text(row: Any) -> str | None:
    """A JSON column's text as rows.json_text gives it: None for null, a string as it is."""
    return None if row is None or isinstance(row, str) else jsonfast.compact_text(row)


@dataclass
class FolderPlan:
    """One deployment's folder: its inputs' and outputs' blobs, and the next folder's outputs."""

    key: str
    inputs: list[CollectorBlob] = field(default_factory=list)
    outputs: list[CollectorBlob] = field(default_factory=list)
    next_outputs: list[CollectorBlob] = field(default_factory=list)


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
    outputs_by_deployment: dict[tuple[str, str], dict[str, list[CollectorBlob]]] = {}
    for name in names:
        if BLOCK_BLOB_COPY in name:
            stats.skipped_copies += 1
            continue
        blob = parse_blob_name(name)
        if blob is None or blob.collection not in (inputs, outputs):
            continue
        if blob.collection == outputs:
            folders = outputs_by_deployment.setdefault((blob.endpoint, blob.deployment), {})
            folders.setdefault(blob.group[2], []).append(blob)
        if not overlaps(blob, start, end):
            continue
        key = blob.group
        folder = by_group.setdefault(key, FolderPlan("/".join(key)))
        (folder.inputs if blob.collection == inputs else folder.outputs).append(blob)
    for (endpoint, deployment, stamp), folder in by_group.items():
        later = sorted(s for s in outputs_by_deployment.get((endpoint, deployment), {}) if s > stamp)
        if later:
            folder.next_outputs = outputs_by_deployment[(endpoint, deployment)][later[0]]
    return [by_group[key] for key in sorted(by_group, key=lambda k: (k[2], k[0], k[1]))]


class CollectorPull:
    """Reads one container's collector blobs as dataset rows (see the module docstring)."""

    def __init__(
        self,
        container: Any,
        start: dt.datetime,
        end: dt.datetime,
        stats: PullStats,
        collections: tuple[str, str] = (INPUTS, OUTPUTS),
    ) -> None:
        from amlmon import collector_payloads

        self.container = container  # azure.storage.blob.ContainerClient
        self.start, self.end = start, end
        self.stats = stats
        self.collections = collections
        # Payload records are one row each (a JSON-array body is one value), custom ones a row per item.
        self.rows = (
            collector_payloads.payload_rows if collections == collector_payloads.PAYLOADS else record_rows
        )
        self.sizes: dict[str, int] = {}  # blob name → size in the listing (what the prefetch may hold)
        self.prefetch: Any = None  # amlmon.azure.prefetch.Prefetch, once expect() announced the folders
        self._workspaces: dict[str, str | None] = {}  # record `source` → its workspace

    def names(self, endpoint: str | None, deployment: str | None) -> Iterator[str]:
        prefix = target_prefix(endpoint, deployment) if endpoint else f"{ROOT}/"
        for blob in self.container.list_blobs(name_starts_with=prefix):
            self.sizes[str(blob.name)] = int(blob.size or 0)
            yield str(blob.name)

    def expect(self, folders: list[FolderPlan]) -> None:
        """The folders folder_rows will read, in order: their blobs are downloaded ahead of the parse."""
        from amlmon.azure.prefetch import Prefetch

        if self.prefetch is None:
            self.prefetch = Prefetch(self._download)
        self.prefetch.plan(
            (blob.name, self.sizes.get(blob.name, 0))
            for folder in folders
            for blob in folder.outputs + folder.inputs
        )

    def close(self) -> None:
        if self.prefetch is not None:
            self.prefetch.close()
            self.prefetch = None

    def _download(self, name: str) -> bytes:
        # The downloader fixes the length from its first answer and asks for later chunks by range, so
        # appends made while it reads are not seen: a consistent prefix, in as few requests as possible.
        return bytes(self.container.get_blob_client(name).download_blob(max_concurrency=1).readall())

    def _chunks(self, blob: CollectorBlob) -> Iterator[bytes]:
        """The blob's bytes up to the length it had when its download began: fetched ahead when expected,
        else streamed chunk by chunk."""
        content = self.prefetch.take(blob.name) if self.prefetch is not None else None
        if content is not None:
            yield content
            return
        downloader = self.container.get_blob_client(blob.name).download_blob(max_concurrency=1)
        if downloader.size:
            yield from downloader.chunks()

    def records(
        self, blob: CollectorBlob, windowed: bool = True, counted: bool = True
    ) -> Iterator[dict[str, Any]]:
        """The blob's whole-line records (in the window unless `windowed` is off), read up to the length
        the blob had when the read began; `counted` adds the blob and its records to the pull's numbers."""
        for record, _when, _inside in self.timed_records(blob, windowed, counted):
            yield record

    def timed_records(
        self, blob: CollectorBlob, windowed: bool = True, counted: bool = True
    ) -> Iterator[tuple[dict[str, Any], dt.datetime | None, bool]]:
        """records() with each record's time and whether it is in the window (parsed once)."""
        from amlmon import collector_payloads

        stats = self.stats if counted else PullStats()
        stats.blobs += 1
        start, end = self.start, self.end
        times: dict[str, Any] = {}  # a time text → its parse: records of one second share it
        for piece in line_pieces(self._chunks(blob), stats):
            loads = jsonfast.line_loader(piece)
            for line in piece.split(b"\n"):
                if not line.strip():
                    continue
                try:
                    record = loads(line)
                except ValueError:
                    stats.malformed += 1
                    continue
                if not isinstance(record, dict):
                    stats.malformed += 1
                    continue
                stamp = record.get(COLLECTOR_RECORD.time)
                when = times.get(stamp, _UNSEEN) if type(stamp) is str else _UNSEEN
                if when is _UNSEEN:
                    when = parse_time(stamp)
                    if type(stamp) is str:
                        times[stamp] = when
                inside = when is not None and start <= when < end
                if windowed and not inside:
                    continue
                stats.records += 1
                yield collector_payloads.resolved(self.container, record, stats), when, inside

    def in_window(self, record: dict[str, Any]) -> bool:
        when = parse_time(record.get(COLLECTOR_RECORD.time))
        return when is not None and self.start <= when < self.end

    def data_rows(
        self, blob: CollectorBlob, windowed: bool = True, counted: bool = True
    ) -> Iterator[DataRow]:
        """Each data row of the blob's records (as records() reads them) with what a dataset row needs of
        its record."""
        for record, when, inside in self.timed_records(blob, windowed, counted):
            source = str(record.get(COLLECTOR_RECORD.source) or "")
            for row_id, row in self.rows(record):
                yield row_id, row, when, inside, source

    def folder_rows(self, folder: FolderPlan) -> Iterator[dict[str, Any]]:
        """The folder's input rows joined with their outputs (this folder's, else the next one's)."""
        # Outputs whatever their time: a request at the window's end may be answered just after it.
        outputs: dict[str, tuple[Any, bool]] = {}
        for blob in folder.outputs:
            for record, _when, inside in self.timed_records(blob, windowed=False):
                for row_id, row in self.rows(record):
                    outputs[row_id] = (row, inside)
        waiting: dict[str, tuple[DataRow, CollectorBlob]] = {}
        for blob in folder.inputs:
            for item in self.data_rows(blob):
                found = outputs.pop(item[0], None)
                if found is not None:
                    yield self._row(item, blob, found[0])
                else:
                    waiting[item[0]] = (item, blob)
        self.stats.unmatched_outputs += sum(1 for _row, inside in outputs.values() if inside)
        outputs.clear()
        if waiting and folder.next_outputs:
            for blob in folder.next_outputs:
                # may be past the end
                for record, _when, _inside in self.timed_records(blob, windowed=False, counted=False):
                    for row_id, row in self.rows(record):
                        pending = waiting.pop(row_id, None)
                        if pending is not None:
                            yield self._row(pending[0], pending[1], row)
        for item, blob in waiting.values():
            self.stats.without_output += 1
            yield self._row(item, blob, None)

    def _row(self, item: DataRow, blob: CollectorBlob, output: Any) -> dict[str, Any]:
        """A dataset row; `input_json`/`prediction_json` are the rows' JSON texts (what the writers would
        encode, encoded here the fast way: amlmon/jsonfast.py)."""
        self.stats.rows += 1
        row_id, row, when, _inside, source = item
        workspace = self._workspaces.get(source, "")
        if workspace == "":
            parts = source.strip("/").split("/")
            workspace = parts[parts.index("workspaces") + 1] if "workspaces" in parts[:-1] else None
            self._workspaces[source] = workspace
        return {
            "time": when,
            "service": blob.endpoint,
            "deployment": blob.deployment,
            "request_id": row_id,
            "client_request_id": None,
            "container_id": blob.instance,
            "workspace": workspace,
            "models": [],
            "input": row,
            "prediction": output,
            "input_json": _text(row),
            "prediction_json": _text(output),
            "truncated": False,
            "generation": GENERATION,
            "raw": None,
        }
