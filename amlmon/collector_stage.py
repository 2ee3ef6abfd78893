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
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlmon.collector_fast import plain_bytes

READ_PIECE = 4 * 1024 * 1024  # what the reference path reads of a staged file at a time
# A blob's whole lines go into files of at most this many bytes (a longer line: a file of its own). DuckDB
# holds a vector of up to 2,048 lines of one file at once, several times over while it reads them: rows
# of 10 KB took it over its 128 MB (a 20 MB file: 192 MB needed) and the fast path declined; in files of
# 8 MB they fit, at the same CPU for bench_collector's folders. Rows of 15 KB and more still do not: its
# scans of the folder's tables hold 2,048 rows at a time too (the reference path reads those folders).
FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Staged:
    paths: tuple[Path, ...]  # the blob's whole lines, in order
    tail: bytes  # after the last newline: not a whole line yet
    plain: bool  # the screen (collector_fast.plain_bytes) found nothing in the whole lines

    def chunks(self) -> Iterator[bytes]:
        """The blob's bytes as downloaded: the files, then the tail."""
        for path in self.paths:
            with open(path, "rb") as handle:
                while piece := handle.read(READ_PIECE):
                    yield piece
        if self.tail:
            yield self.tail

    def delete(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


# glibc's mallopt parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_buffers() -> None:
    """Let glibc's allocator keep the megabyte buffers a download frees, for the next download, instead of
    giving them back to the system and mapping new ones (zeroed and faulted in page by page): in
    bench_collector's pull, 800,000 page faults and 1.6 s of system CPU in the download threads (perf),
    for 20 MB of peak memory. Other C libraries: nothing."""
    import ctypes
    import os

    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return
    except (ValueError, OSError):  # no such name here: not glibc
        return
    libc = ctypes.CDLL(None)
    libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's upper bound for it (64-bit)
    libc.mallopt(_M_TRIM_THRESHOLD, 64 * 1024 * 1024)


class _WholeLines:
    """A writable stream keeping the whole lines of what is written to it in files of their own (at most
    FILE_BYTES each, unless one line is longer), screened (collector_fast.plain_bytes) on the way; the
    bytes after the last newline are kept apart."""

    def __init__(self, folder: Path, file_bytes: int = FILE_BYTES) -> None:
        self._folder = folder
        self._file_bytes = file_bytes
        self._paths: list[Path] = []
        self._handle: Any = None
        self._room = 0  # bytes the current file may still take
        self._pending = b""  # the start of a line a chunk ended in
        self._plain = True
        self._next_file()

    def _next_file(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = tempfile.NamedTemporaryFile(dir=self._folder, suffix=".jsonl", delete=False)  # noqa: SIM115
        self._paths.append(Path(self._handle.name))
        self._room = self._file_bytes

    def __enter__(self) -> _WholeLines:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._handle.close()

    def write(self, chunk: bytes) -> int:
        cut = chunk.rfind(b"\n") + 1
        if not cut:  # still in one line (a line longer than a chunk)
            self._pending += chunk
            return len(chunk)
        start = 0
        if self._pending:  # that line's rest: the only bytes copied (a chunk is megabytes)
            start = chunk.find(b"\n") + 1
            self._lines(self._pending + chunk[:start], 0, start + len(self._pending))
        self._lines(chunk, start, cut)
        self._pending = chunk[cut:]
        return len(chunk)

    def _lines(self, content: bytes, start: int, end: int) -> None:
        """Write the whole lines content[start:end], screened (a line is always in one range), into files
        of at most FILE_BYTES."""
        while start < end:
            if self._room <= 0:  # full (only when more comes: no empty file at the end)
                self._next_file()
            stop = end
            if end - start > self._room:  # the last newline that fits; none: a new file (or the line alone)
                stop = content.rfind(b"\n", start, start + self._room) + 1
                if stop <= start:
                    if self._room < self._file_bytes:
                        self._next_file()
                        continue
                    stop = content.find(b"\n", start, end) + 1
            self._plain = self._plain and plain_bytes(content, start, stop)
            self._handle.write(memoryview(content)[start:stop])
            self._room -= stop - start
            start = stop

    def staged(self) -> Staged:
        return Staged(tuple(self._paths), self._pending, self._plain)


class StagingClosed(Exception):
    """The pull stopped: a download that had not begun its file does not make one."""


class Staging:
    """The staged blobs by name. Files are written by `download` (any thread: the prefetch's workers write
    them while the reader is busy), known once `adopt`ed (under the reader's lock: join threads stage the
    next folder's outputs too)."""

    def __init__(self) -> None:
        keep_freed_buffers()
        self.dir = Path(tempfile.mkdtemp(prefix="amlmon-collector-"))
        self._staged: dict[str, Staged] = {}
        # A download under way when the pull stops (Ctrl-C) goes on in its thread: it must not make a
        # file once close() has begun deleting the folder (the folder would stay, with the file in it).
        self._closing = threading.Lock()
        self._closed = False

    def get(self, name: str) -> Staged | None:
        return self._staged.get(name)

    def download(self, downloader: Any) -> Staged:
        """Write a download's (azure StorageStreamDownloader) whole lines to a file of their own,
        screening them on the way. The SDK writes its pieces as they come (chunks() would cut them into
        chunks first: a copy of every byte)."""
        with self._closing:
            if self._closed:
                raise StagingClosed
            lines = _WholeLines(self.dir)
        with lines:
            if downloader.size:
                downloader.readinto(lines)
        return lines.staged()

    def adopt(self, name: str, staged: Staged) -> Staged:
        self._staged[name] = staged
        return staged

    def release(self, names: set[str]) -> None:
        """Delete these staged blobs (their folder's rows are written)."""
        for name in names & self._staged.keys():
            self._staged.pop(name).delete()

    def close(self) -> None:
        """Delete everything, also files a download under way made (none is made after this)."""
        with self._closing:
            self._closed = True
            self._staged.clear()
        shutil.rmtree(self.dir, ignore_errors=True)
