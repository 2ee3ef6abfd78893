"""The blobs of the folder a collector pull is reading, as local files of their whole lines.

DuckDB (amlmon/collector_fast.py) reads files, and the reference path reads the same files again when
the fast path declines, so a blob is downloaded once either way. A file holds the blob's bytes up to its
last newline; the bytes after it (a line still being appended) are kept apart as the tail. The folder
is private to the user (mkdtemp: 0700) and emptied after each folder: disk use is about one folder's
blobs, memory about one download piece.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from amlmon.collector_fast import plain_bytes

READ_PIECE = 4 * 1024 * 1024  # what the reference path reads of a staged file at a time


@dataclass(frozen=True)
class Staged:
    path: Path
    tail: bytes  # after the last newline: not a whole line yet
    plain: bool  # the screen (collector_fast.plain_bytes) found nothing in the whole lines

    def chunks(self) -> Iterator[bytes]:
        """The blob's bytes as downloaded: the file, then the tail."""
        with open(self.path, "rb") as handle:
            while piece := handle.read(READ_PIECE):
                yield piece
        if self.tail:
            yield self.tail


class Staging:
    """The staged blobs by name. Files are written by `write` (any thread: the prefetch's workers write
    them while the reader is busy), known once `adopt`ed (the reader's thread)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="amlmon-collector-"))
        self._staged: dict[str, Staged] = {}

    def get(self, name: str) -> Staged | None:
        return self._staged.get(name)

    def write(self, chunks: Iterable[bytes]) -> Staged:
        """Write a blob's whole lines to a file of their own, screening them on the way."""
        handle = tempfile.NamedTemporaryFile(dir=self.dir, suffix=".jsonl", delete=False)  # noqa: SIM115
        pending = b""  # the start of a line a chunk ended in
        plain = True
        with handle:
            for chunk in chunks:
                cut = chunk.rfind(b"\n") + 1
                if not cut:  # still in one line (a line longer than a chunk)
                    pending += chunk
                    continue
                start = 0
                if pending:  # that line's rest: the only bytes copied (a chunk is megabytes)
                    start = chunk.find(b"\n") + 1
                    line = pending + chunk[:start]
                    plain = plain and plain_bytes(line)
                    handle.write(line)
                # screened in ranges of whole lines (a line is always in one range); the bytes after
                # the last newline are neither written nor screened
                plain = plain and plain_bytes(chunk, start, cut)
                handle.write(memoryview(chunk)[start:cut])
                pending = chunk[cut:]
        return Staged(Path(handle.name), pending, plain)

    def adopt(self, name: str, staged: Staged) -> Staged:
        self._staged[name] = staged
        return staged

    def release(self, names: set[str]) -> None:
        """Delete these staged blobs (their folder's rows are written)."""
        for name in names & self._staged.keys():
            self._staged.pop(name).path.unlink(missing_ok=True)

    def close(self) -> None:
        """Delete everything, also files a cancelled download left."""
        self._staged.clear()
        shutil.rmtree(self.dir, ignore_errors=True)
