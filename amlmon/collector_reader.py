"""Reading one container's collector blobs (amlmon/collector.py names the layout) as dataset rows.

- speed (issue 16): the planned blobs download ahead in threads while earlier ones are read, within a
  byte budget (amlmon/azure/prefetch.py). For a Parquet dataset a folder's blobs are staged as local
  files (amlmon/collector_stage.py) and DuckDB joins them into Arrow rows (amlmon/collector_fast.py);
  when it declines, or for other formats, the reference path below reads them record by record (with
  orjson when it is installed, to the standard library's very results: amlmon/jsonfast.py).
- both paths give the same rows and counts: an output a folder's input took from the next folder is
  not counted again as unmatched when that folder is read, nor when a pull starts at that folder (the
  inputs of the folder before are then read for it: amlmon.collector.FolderPlan); a record counts in
  the window holding its time, so that adjacent windows add up.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from amlmon import jsonfast
from amlmon.collector import (
    GENERATION,
    INPUTS,
    OUTPUTS,
    ROOT,
    CollectorBlob,
    FolderPlan,
    PullStats,
    line_pieces,
    parse_time,
    record_rows,
    target_prefix,
    workspace_of,
)
from amlmon.collector_answers import Answers
from amlmon.schema import COLLECTOR_RECORD

# A data row and what a dataset row needs of its record: (row id, row, time, inside the window, source).
DataRow = tuple[str, Any, dt.datetime | None, bool, str]
_UNSEEN: Any = object()


def _text(row: Any) -> str | None:
    """A JSON column's text as rows.json_text gives it: None for null, a string as it is."""
    return None if row is None or isinstance(row, str) else jsonfast.compact_text(row)


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
        self._staging: Any = None  # amlmon.collector_stage.Staging, while joined_folders reads
        self._stage_lock = threading.RLock()  # staging, and the prefetch's takes, from join threads too
        self._joins: Any = None  # amlmon.collector_joins.JoinThreads, once a folder is staged
        self.answers = Answers(stats, self._row_ids)  # which outputs are unmatched
        self.declined: list[str] = []  # folders the fast path left to the reference path, and why

    def names(self, endpoint: str | None, deployment: str | None) -> Iterator[str]:
        prefix = target_prefix(endpoint, deployment) if endpoint else f"{ROOT}/"
        for blob in self.container.list_blobs(name_starts_with=prefix):
            self.sizes[str(blob.name)] = int(blob.size or 0)
            yield str(blob.name)

    def expect(self, folders: list[FolderPlan], staged: bool = False) -> None:
        """The folders folder_rows (or, `staged`, joined_folders) will read, in order: their blobs are
        downloaded ahead of the parse (`staged`: into local files, within a larger budget of disk)."""
        from amlmon.azure.prefetch import STAGED_BUDGET, Prefetch

        if self.prefetch is None:
            if staged:
                self._start_staging()
                self.prefetch = Prefetch(self._download_staged, budget=STAGED_BUDGET, yielding=True)
            else:
                self.prefetch = Prefetch(self._download)
        self.prefetch.plan(
            (blob.name, self.sizes.get(blob.name, 0))
            for folder in folders
            for blob in folder.outputs + folder.inputs
        )

    def close(self) -> None:
        """Stops the downloads, then the joins under way (Ctrl-C), then deletes the staged files. A second
        Ctrl-C (or SIGTERM) meanwhile is raised once this ended: inside, it left the staging folder."""
        from amlmon.stopping import interrupts_deferred

        with interrupts_deferred():
            for part in ("prefetch", "_joins", "_staging"):
                if (running := getattr(self, part)) is not None:
                    running.close()
                    setattr(self, part, None)

    def _download(self, name: str) -> bytes:
        # The downloader fixes the length from its first answer and asks for later chunks by range, so
        # appends made while it reads are not seen: a consistent prefix, in as few requests as possible.
        return bytes(self.container.get_blob_client(name).download_blob(max_concurrency=1).readall())

    def _download_staged(self, name: str) -> Any:
        """The blob downloaded into a staged file (a prefetch worker's thread)."""
        return self._staging.download(self.container.get_blob_client(name).download_blob(max_concurrency=1))

    def _stream(self, name: str) -> Iterator[bytes]:
        downloader = self.container.get_blob_client(name).download_blob(max_concurrency=1)
        if downloader.size:
            yield from downloader.chunks()

    def _chunks(self, blob: CollectorBlob) -> Iterator[bytes]:
        """The blob's bytes up to the length it had when its download began: staged, fetched ahead when
        expected, else streamed chunk by chunk."""
        staged = self._staged(blob)
        if staged is not None:
            yield from staged.chunks()
            return
        content = self.prefetch.take(blob.name) if self.prefetch is not None else None
        if content is not None:
            yield content
            return
        yield from self._stream(blob.name)

    def _staged(self, blob: CollectorBlob) -> Any:
        """The blob's staged file when it has one, or the prefetch staged it (amlmon.collector_stage)."""
        if self._staging is None:
            return None
        with self._stage_lock:
            staged = self._staging.get(blob.name)
            if staged is None and self.prefetch is not None:
                fetched = self.prefetch.take(blob.name)
                staged = self._staging.adopt(blob.name, fetched) if fetched is not None else None
            return staged

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
        """records() with each record's time and whether it is in the window (parsed once). A record
        whose `time` is there but does not parse is malformed (counted, skipped); one without `time` is
        in no window, as the fast path reads it. Only the records in the window are counted (and their
        payloads in blobs): a record counts in one window, the one holding its time."""
        from amlmon import collector_payloads

        stats = self.stats if counted else PullStats()
        elsewhere = PullStats()  # what records outside the window add: not this window's
        stats.blobs += 1
        start, end = self.start, self.end
        times: dict[str, Any] = {}  # a time text → its parse: records of one second share it
        for piece in line_pieces(self._chunks(blob), stats):
            loads = jsonfast.line_loader(piece)
            for line in piece.split(b"\n"):
                if not line.strip():
                    continue
                record = jsonfast.json_object(line, loads)
                if record is None:
                    stats.malformed += 1
                    continue
                stamp = record.get(COLLECTOR_RECORD.time)
                when = times.get(stamp, _UNSEEN) if type(stamp) is str else _UNSEEN
                if when is _UNSEEN:
                    when = parse_time(stamp)
                    if type(stamp) is str:
                        times[stamp] = when
                if when is None and stamp is not None:  # a time that does not parse: no place in time
                    stats.malformed += 1
                    continue
                inside = when is not None and start <= when < end
                if not inside:
                    if windowed:
                        continue
                    yield collector_payloads.resolved(self.container, record, elsewhere), when, inside
                    continue
                stats.records += 1
                yield collector_payloads.resolved(self.container, record, stats), when, inside

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
        answered: set[str] = set()  # ids of outputs an input took, the inputs outside the window too
        outside: set[str] = set()  # inputs outside the window not answered here, for the next folder
        for blob in folder.inputs:
            for item in self.data_rows(blob, windowed=False):
                row_id = item[0]
                if not item[3]:  # outside the window: no row, but its output is not unmatched
                    if row_id in outputs or row_id in answered:
                        answered.add(row_id)
                    elif folder.next_planned:
                        outside.add(row_id)
                    continue
                found = outputs.pop(row_id, None)
                if found is not None:
                    answered.add(row_id)
                    yield self._row(item, blob, found[0])
                else:
                    waiting[row_id] = (item, blob)
        orphans = {row_id for row_id, (_row, inside) in outputs.items() if inside and row_id not in answered}
        outputs.clear()
        answered.clear()
        self.answers.count_unmatched(folder, orphans)
        if (waiting or outside) and folder.next_outputs:
            taken = self.answers.next_taken(folder)
            for blob in folder.next_outputs:
                # may be past the end
                for record, _when, _inside in self.timed_records(blob, windowed=False, counted=False):
                    for row_id, row in self.rows(record):
                        if row_id in outside:
                            taken.add(row_id)
                        pending = waiting.pop(row_id, None)
                        if pending is not None:
                            taken.add(row_id)
                            yield self._row(pending[0], pending[1], row)
        for item, blob in waiting.values():
            self.stats.without_output += 1
            yield self._row(item, blob, None)

    def _row_ids(self, blob: CollectorBlob) -> Iterator[str]:
        """The blob's row ids, whatever their time (not counted)."""
        return (item[0] for item in self.data_rows(blob, windowed=False, counted=False))

    def _row(self, item: DataRow, blob: CollectorBlob, output: Any) -> dict[str, Any]:
        """A dataset row; `input_json`/`prediction_json` are the rows' JSON texts (what the writers would
        encode, encoded here the fast way: amlmon/jsonfast.py)."""
        self.stats.rows += 1
        row_id, row, when, _inside, source = item
        workspace = self._workspaces.get(source, "")
        if workspace == "":
            workspace = self._workspaces[source] = workspace_of(source)
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

    def joined_folders(self, folders: list[FolderPlan]) -> Iterator[tuple[FolderPlan, Any]]:
        """Each folder with its rows as folder_rows gives them, as an Arrow table (the dataset's columns)
        read by DuckDB (a large folder: an iterator of tables, read once), or None when the fast path declines (folder_rows then reads the same staged
        files). The next folder is joined in a join thread (collector_joins.JoinThreads) while the caller
        writes the one before; the counts are added in folder order.
        The caller releases each folder (release()) once it is written."""
        from amlmon.collector_joins import JOINS_AHEAD

        waiting: deque[tuple[FolderPlan, Future[Any] | None]] = deque()
        upcoming = iter(folders)
        try:
            for folder in itertools.islice(upcoming, JOINS_AHEAD):
                waiting.append((folder, self._start_join(folder)))
            while waiting:
                folder, join = waiting.popleft()
                table = self._joined(folder, join)
                following = next(upcoming, None)
                if following is not None:
                    waiting.append((following, self._start_join(following)))
                yield folder, table
        finally:
            for _folder, join in waiting:
                if join is not None:
                    join.cancel()

    def _start_join(self, folder: FolderPlan) -> Future[Any] | None:
        """Stage the folder's blobs (this thread: the prefetch is not shared) and join them in a join
        thread; None when the fast path cannot take the folder (`declined` says why)."""
        from amlmon.collector_fast import Decline, FolderFiles

        if self.collections != (INPUTS, OUTPUTS):  # payload rows are one per record: the reference path
            return None
        self._start_staging()
        outputs = [self._stage(blob) for blob in folder.outputs]
        inputs = [self._stage(blob) for blob in folder.inputs]
        if not all(staged.plain for staged in outputs + inputs):
            self.declined.append(f"{folder.key}: a carriage return or a trailing comma in its blobs")
            return None

        def later() -> list[Any]:  # in the join's thread
            staged = [self._stage(blob) for blob in folder.next_outputs]
            if not all(one.plain for one in staged):
                raise Decline("the next folder's outputs")
            return [path for one in staged for path in one.paths]

        endpoint, deployment, _stamp = folder.key.split("/")
        files = FolderFiles(
            [
                (path, blob.instance)
                for staged, blob in zip(inputs, folder.inputs, strict=True)
                for path in staged.paths
            ],
            [path for staged in outputs for path in staged.paths],
            later,
            (self.start, self.end),
            (endpoint, deployment),
            folder.next_planned,
        )
        return self._joins.submit(files, sum(len(one.tail) for one in outputs + inputs))

    def _joined(self, folder: FolderPlan, join: Future[Any] | None) -> Any:
        """The folder's table once its join ended, its counts added (in folder order: an output the
        folder before took is not unmatched here); None when the fast path declined."""
        if join is None:
            return None
        joined, declined, partial_bytes = self._joins.result(join)
        if joined is None:
            self.declined.append(f"{folder.key}: {declined}")
            return None
        stats = self.stats
        stats.blobs += len(folder.outputs) + len(folder.inputs)
        stats.partial_bytes += partial_bytes
        stats.records += joined.records
        stats.rows += joined.rows
        stats.without_output += joined.without_output
        self.answers.count_unmatched(folder, set(joined.orphans))
        if joined.read_next:
            self.answers.next_taken(folder).update(joined.answered_next)
        return joined.table if joined.slices is None else joined.slices

    def answered_next(self, folder: FolderPlan) -> dict[str, Any]:
        return self.answers.told_next(folder)

    def remember(self, part: dict[str, Any]) -> None:
        self.answers.remember(part)

    def release(self, folder: FolderPlan) -> None:
        """The folder's rows are written: its staged files go (the next folder's outputs it read stay:
        they are that folder's)."""
        if self._staging is not None:
            with self._stage_lock:
                self._staging.release({blob.name for blob in folder.outputs + folder.inputs})

    def _start_staging(self) -> None:
        from amlmon.collector_joins import JoinThreads
        from amlmon.collector_stage import Staging
        from amlmon.stopping import interrupts_deferred

        if self._staging is None:
            # a Ctrl-C between the folder's making and its assignment left it: close() did not know it
            with interrupts_deferred():
                self._staging = Staging()
            self._joins = JoinThreads(self._staging.dir)

    def _stage(self, blob: CollectorBlob) -> Any:
        """The blob's staged file, downloaded now if the prefetch has not (any thread)."""
        with self._stage_lock:
            staged = self._staged(blob)
            if staged is None:
                staged = self._staging.adopt(blob.name, self._download_staged(blob.name))
            return staged
