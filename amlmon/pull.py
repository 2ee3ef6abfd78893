"""`data pull`: model_data_collection traces from the query API, sliced by time, streamed to a dataset.

`Puller` is the slicer; `amlmon.pull_run` the command's run (targets, file, resume, why it is empty).

The query API caps one answer at 500,000 rows / ~64 MB. The range is planned from a per-bin count
histogram (one query) so each slice stays well under the cap; a slice the service still cuts
(partial result, or the row cap reached) is halved and fetched again. The plan is saved in the
checkpoint so `--resume` fetches exactly the slices that were not finished. Finally the rows
written are checked against a `count()` of the same range.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from amlmon.background import Background
from amlmon.datasets import DatasetOutput, model_data_row, row_key
from amlmon.queries.model_data import count_query, histogram_query, rows_query
from amlmon.schema import Source
from amlmon.targets import Target

if TYPE_CHECKING:
    from amlmon.azure.logs import QueryResult
    from amlmon.context import AppContext

SERVICE_ROW_CAP = 500_000
# Rows per query. Each answer is parsed whole by the SDK (~6 KB of Python objects per emulator row,
# ~1 KB of JSON), and the next slice is fetched while one is written, so two answers are in memory: at
# 25,000 the 1M-row pull peaked at 383-438 MB, at 15,000 262 MB, at 10,000 222 MB (the 300 MB target of
# tests/bench/bench_data.py), the same CPU.
DEFAULT_SLICE_ROWS = 10_000
HISTOGRAM_BINS = 240
MIN_SLICE = dt.timedelta(milliseconds=1)


def slice_rows_target() -> int:
    """Rows per slice; AMLMON_DATA_SLICE_ROWS lowers it (tests force slicing with small data)."""
    try:
        value = int(os.environ.get("AMLMON_DATA_SLICE_ROWS", DEFAULT_SLICE_ROWS))
    except ValueError:
        value = DEFAULT_SLICE_ROWS
    return max(1, min(value, SERVICE_ROW_CAP - 1))


@dataclass
class Slice:
    start: dt.datetime
    end: dt.datetime
    expected: int

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "expected": self.expected}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Slice:
        return cls(
            dt.datetime.fromisoformat(data["start"]),
            dt.datetime.fromisoformat(data["end"]),
            int(data["expected"]),
        )


def plan_slices(
    start: dt.datetime, end: dt.datetime, size: dt.timedelta, counts: dict[dt.datetime, int], target: int
) -> list[Slice]:
    """Consecutive bins merged while their rows stay ≤ target (sparse bins widen, dense ones stand alone).

    A single bin above the target is cut in equal parts by its count; fetching halves further if the
    service still caps a part.
    """
    slices: list[Slice] = []
    cursor = start
    current_start, current_rows = start, 0
    while cursor < end:
        aligned = _floor(cursor, size)
        bin_end = min(aligned + size, end)
        rows = counts.get(aligned, 0)
        if current_rows and current_rows + rows > target:
            slices.append(Slice(current_start, cursor, current_rows))
            current_start, current_rows = cursor, 0
        if rows > target:
            if current_start < cursor:  # the sparse bins before it, even empty ones, keep their slice
                slices.append(Slice(current_start, cursor, current_rows))
            parts = -(-rows // target)
            step = (bin_end - cursor) / parts
            for index in range(parts):
                part_end = bin_end if index == parts - 1 else cursor + step * (index + 1)
                slices.append(Slice(cursor + step * index, part_end, rows // parts))
            current_start = bin_end
        else:
            current_rows += rows
        cursor = bin_end
    if current_start < end:
        slices.append(Slice(current_start, end, current_rows))
    return [s for s in slices if s.end > s.start]


def _floor(value: dt.datetime, size: dt.timedelta) -> dt.datetime:
    """The start of `value`'s bin as KQL's bin() computes it (bins align to the epoch)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    step = int(size.total_seconds() * 1_000_000)
    offset = (value - epoch) // dt.timedelta(microseconds=1)
    return epoch + dt.timedelta(microseconds=(offset // step) * step)


def histogram_bin(start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """A whole-second bin giving about HISTOGRAM_BINS bins over the range."""
    seconds = max(1, int((end - start).total_seconds() // HISTOGRAM_BINS) + 1)
    return dt.timedelta(seconds=seconds)


@dataclass
class PullResult:
    rows: int
    truncated: int
    slices: int
    halvings: int
    expected: int
    verified: bool
    path: str


class Puller:
    """Runs the plan: histogram → slices → rows → parts → final file → count check."""

    def __init__(
        self,
        ctx: AppContext,
        targets: Sequence[Target],
        source: Source,
        start: dt.datetime,
        end: dt.datetime,
        output: DatasetOutput,
        progress: Callable[[int, int], None] | None = None,
        flatten: bool = False,
    ) -> None:
        self.flatten = flatten
        self.ctx, self.targets, self.source = ctx, list(targets), source
        self.start, self.end, self.output = start, end, output
        self.progress = progress or (lambda done, total: None)
        self.truncated = 0
        self.halvings = 0

    def _query(self, text: str, start: dt.datetime, end: dt.datetime) -> QueryResult:
        from amlmon.azure.logs import run_query

        # The timespan is widened by a millisecond each side: the KQL's own where-clause is exact.
        pad = dt.timedelta(milliseconds=1)
        return run_query(self.ctx.query_api, text, timespan=(start - pad, end + pad), source=self.source)

    def count(self, start: dt.datetime, end: dt.datetime) -> int:
        result = self._query(count_query(self.targets, self.source, start, end), start, end)
        if result.partial_error:
            from amlmon.errors import PartialResult

            raise PartialResult(
                f"counting rows failed: {result.partial_error}", hint="retry, or narrow --since/--until"
            )
        rows = result.primary.rows
        return int(rows[0][0]) if rows else 0

    def plan(self) -> list[Slice]:
        stored = self.output.checkpoint.params.get("_plan")
        if isinstance(stored, list) and self.output.checkpoint.parts:
            return [Slice.from_json(item) for item in stored]
        size = histogram_bin(self.start, self.end)
        result = self._query(
            histogram_query(self.targets, self.source, self.start, self.end, size), self.start, self.end
        )
        counts: dict[dt.datetime, int] = {}
        from amlmon.datasets import parse_time

        for record in result.primary.records():
            when = parse_time(record.get("b"))
            if when is not None:
                counts[when] = counts.get(when, 0) + int(record.get("n") or 0)
        slices = plan_slices(self.start, self.end, size, counts, slice_rows_target())
        return slices

    def fetch_raw(self, piece: Slice) -> QueryResult:
        return self._query(
            rows_query(self.targets, self.source, piece.start, piece.end), piece.start, piece.end
        )

    def _prefetch(self, piece: Slice) -> Background[QueryResult]:
        return Background(partial(self.fetch_raw, piece))

    def fetch(
        self, piece: Slice, prefetched: Background[QueryResult] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Rows of one slice in time order; halves the slice while the service cuts the answer."""
        result = prefetched.result() if prefetched is not None else self.fetch_raw(piece)
        rows = result.primary.rows
        capped = bool(result.partial_error) or len(rows) >= SERVICE_ROW_CAP
        if capped and piece.end - piece.start > MIN_SLICE:
            self.halvings += 1
            middle = piece.start + (piece.end - piece.start) / 2
            del result, rows
            yield from self.fetch(Slice(piece.start, middle, piece.expected // 2))
            yield from self.fetch(Slice(middle, piece.end, piece.expected - piece.expected // 2))
            return
        if capped:
            from amlmon.errors import PartialResult

            raise PartialResult(
                f"the service cut the answer for {piece.start.isoformat()} even at the smallest slice",
                hint="narrow the targets, or pull from exported blobs with `amlmon data extract`",
            )
        decoded = [model_data_row(time, role, properties) for time, role, properties in rows]
        del result, rows
        # Ties in time come back in any order; a full key makes reruns and --resume byte-identical.
        decoded.sort(key=row_key)
        for row in decoded:
            if row["truncated"]:
                self.truncated += 1
        yield from decoded

    def _counter(self, truncated: int, halvings: int) -> Callable[[], dict[str, int]]:
        """What one slice added to the run's figures, read once its rows are all written."""
        return lambda: {"truncated": self.truncated - truncated, "halvings": self.halvings - halvings}

    def run(self) -> PullResult:
        slices = self.plan()
        self.output.checkpoint.params["_plan"] = [s.to_json() for s in slices]
        expected = sum(s.expected for s in slices)
        done_rows = self.output.rows_done
        # Figures of slices a killed run finished come from the checkpoint, which saved them with the part.
        finished = self.output.checkpoint.parts.values()
        self.truncated = sum(int(p.get("truncated", 0)) for p in finished)
        self.halvings = sum(int(p.get("halvings", 0)) for p in finished)
        self.progress(done_rows, expected)
        todo = [
            (i, piece) for i, piece in enumerate(slices) if not self.output.done(DatasetOutput.part_name(i))
        ]
        # While one slice is decoded and written, the next is already being fetched: the service's
        # query time overlaps amlmon's own work. At most two slices are in memory.
        ahead = self._prefetch(todo[0][1]) if todo else None
        for position, (index, piece) in enumerate(todo):
            current = ahead
            ahead = self._prefetch(todo[position + 1][1]) if position + 1 < len(todo) else None
            name = DatasetOutput.part_name(index)
            rows = self.output.write_part(
                name,
                self.fetch(piece, current),
                piece.to_json(),
                self._counter(self.truncated, self.halvings),
            )
            done_rows += rows
            self.progress(done_rows, expected)
        total = self.output.finish(flatten=self.flatten)
        counted = self.count(self.start, self.end)
        return PullResult(
            rows=total,
            truncated=self.truncated,
            slices=len(slices),
            halvings=self.halvings,
            expected=counted,
            verified=counted == total,
            path=str(self.output.path),
        )


class Progress(Protocol):
    """Rows done of rows expected, as the run goes; `stop` once it ends (render.progress draws one)."""

    def __call__(self, done: int, total: int) -> None: ...

    def stop(self) -> None: ...
