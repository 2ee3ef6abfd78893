"""`amlmon data tail`: the data collector's records as they are appended to its blobs.

Each blob is read from where the last poll stopped (after its last whole line) to its current length:
append blobs only grow, so that range is consistent. Names and layout: amlmon/collector.py."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from amlmon.collector import BLOCK_BLOB_COPY, CollectorBlob, PullStats, parse_blob_name, parse_time
from amlmon.schema import COLLECTOR_RECORD


class CollectorTail:
    """New records as they are appended (`data tail`): each blob is read from where the last poll
    stopped — after its last whole line — to its current length. Blobs present at the start are
    followed from their end (from their start with `since`); blobs that appear later, from their start."""

    def __init__(
        self, container: Any, prefixes: list[str], since: dt.datetime | None, stats: PullStats
    ) -> None:
        self.container = container
        self.prefixes = prefixes
        self.since = since
        self.stats = stats
        self.offsets: dict[str, int] = {}
        self.started = dt.datetime.now(dt.UTC)

    def _blobs(self) -> Iterator[tuple[CollectorBlob, int]]:
        from azure.core.exceptions import ResourceNotFoundError

        oldest = (self.since or self.started) - dt.timedelta(hours=1)
        for prefix in self.prefixes:
            try:
                listed = list(self.container.list_blobs(name_starts_with=prefix))
            except ResourceNotFoundError:  # no container before the collector's first record
                return
            for item in listed:
                name = str(item.name)
                if BLOCK_BLOB_COPY in name:
                    continue
                blob = parse_blob_name(name)
                if blob is not None and blob.folder + blob.span > oldest:
                    yield blob, int(item.size or 0)

    def start(self) -> None:
        """Remember where each existing blob ends (or nothing, with `since`: read them whole)."""
        for blob, size in self._blobs():
            self.offsets[blob.name] = 0 if self.since is not None else size

    def poll(self) -> Iterator[tuple[CollectorBlob, dict[str, Any]]]:
        from amlmon import collector_payloads

        for blob, size in self._blobs():
            offset = self.offsets.setdefault(blob.name, 0)
            if size <= offset:
                continue
            data = self.container.get_blob_client(blob.name).download_blob(
                offset=offset, length=size - offset
            )
            chunk = data.readall()
            end = chunk.rfind(b"\n")
            if end < 0:
                continue  # not one whole line yet
            self.offsets[blob.name] = offset + end + 1
            for line in chunk[: end + 1].split(b"\n"):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    self.stats.malformed += 1
                    continue
                when = parse_time(record.get(COLLECTOR_RECORD.time)) if isinstance(record, dict) else None
                if isinstance(record, dict) and (
                    self.since is None or (when is not None and when >= self.since)
                ):
                    self.stats.records += 1
                    yield blob, collector_payloads.resolved(self.container, record, self.stats)
