"""Dataset writers, one per format, with one append API: `write(rows)`, `append_file(part)`, `close()`.

Rows are written in batches; nothing holds the whole dataset in memory. A file appears under its final
name only when complete (temp file + os.replace)."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from amlmon.datasets.rows import COLUMNS, format_time, json_text

# A CSV cell holds a record's input or prediction as JSON text, and a collector record carries up to
# 4 MB inline: the csv module's default 128 KB field limit made reading a part back (assembling the
# file, --resume) fail. Every CSV read in amlmon.datasets imports this module.
csv.field_size_limit(2**31 - 1)

BATCH_ROWS = 5_000
# ... or fewer: a batch is written once its rows' JSON texts (`input_json`, `prediction_json`) reach
# BATCH_TEXT. Rows of 16 KB (a collector folder read record by record) held 5,000 at a time, decoded,
# took a pull's peak to 541 MB; about a DuckDB slice's text (collector_memory.SLICE_BYTES) per batch.
BATCH_TEXT = 4 * 1024 * 1024


class RowWriter(Protocol):
    rows: int

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None: ...
    def append_file(self, source: Path) -> None: ...
    def close(self) -> None: ...


def _arrow_schema(extra: Mapping[str, str] | None = None) -> Any:
    import pyarrow as pa

    kinds = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "string": pa.string()}
    return pa.schema(
        [
            ("time", pa.timestamp("us", tz="UTC")),
            ("service", pa.string()),
            ("deployment", pa.string()),
            ("request_id", pa.string()),
            ("client_request_id", pa.string()),
            ("container_id", pa.string()),
            ("workspace", pa.string()),
            ("models", pa.list_(pa.string())),
            ("input", pa.string()),
            ("prediction", pa.string()),
            ("truncated", pa.bool_()),
            ("generation", pa.string()),
            ("raw", pa.string()),
            *((name, kinds[kind]) for name, kind in (extra or {}).items()),
        ]
    )


def _conformed(table: Any, schema: Any) -> Any:
    """`table` in `schema`'s types. A naive `time` (DuckDB's rows: amlmon/collector_fast.py) holds the
    UTC microseconds already: it is viewed as UTC, no copy. Only another difference is cast: a cast
    imports pyarrow.compute, which cost a pull ~0.1 s and 8-12 MB of its peak (bench_collector)."""
    import pyarrow as pa

    index = table.schema.get_field_index("time")
    time, wanted = table.column(index), schema.field("time")
    if time.type == pa.timestamp("us") and wanted.type == pa.timestamp("us", tz="UTC"):
        viewed = pa.chunked_array([chunk.view(wanted.type) for chunk in time.chunks], type=wanted.type)
        table = table.set_column(index, wanted, viewed)
    return table if table.schema.equals(schema) else table.cast(schema)


def _utc_naive(values: list[Any]) -> list[Any]:
    """Aware datetimes as naive UTC ones: Arrow reads those as UTC into a UTC timestamp column several
    times faster than it converts aware ones (the same instants)."""
    utc = dt.UTC
    return [
        (value if value.tzinfo is utc else value.astimezone(utc)).replace(tzinfo=None)
        if type(value) is dt.datetime and value.tzinfo is not None
        else value
        for value in values
    ]


class ParquetRowWriter:
    """Batches rows into Arrow record batches; `input`/`prediction` are JSON text (schema-stable)."""

    def __init__(self, path: Path, extra: Mapping[str, str] | None = None) -> None:
        import pyarrow.parquet as pq

        self.extra = dict(extra or {})
        self.schema = _arrow_schema(self.extra)
        self._writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self._pending: list[Mapping[str, Any]] = []
        self._pending_text = 0
        self.rows = 0

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self._pending.append(row)
            # the texts the rows came with (both sources send them): a length, no copy or encoding
            self._pending_text += len(row.get("input_json") or "") + len(row.get("prediction_json") or "")
            if len(self._pending) >= BATCH_ROWS or self._pending_text >= BATCH_TEXT:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        import pyarrow as pa

        rows = self._pending
        columns: dict[str, list[Any]] = {}
        for name, kind in [*COLUMNS.items(), *self.extra.items()]:
            if kind == "timestamp":
                columns[name] = _utc_naive([row.get(name) for row in rows])
            elif kind == "json":
                sent_as = f"{name}_json"
                columns[name] = [
                    text if (text := row.get(sent_as)) is not None else json_text(row.get(name))
                    for row in rows
                ]
            else:
                columns[name] = [row.get(name) for row in rows]
        batch = pa.RecordBatch.from_pydict(columns, schema=self.schema)
        self._writer.write_batch(batch)
        self.rows += len(self._pending)
        self._pending, self._pending_text = [], 0

    def write_table(self, table: Any) -> None:
        """Rows already in Arrow, in the dataset's columns (in its types: e.g. a naive time as UTC)."""
        self._flush()
        self._writer.write_table(_conformed(table, self.schema))
        self.rows += table.num_rows

    def append_file(self, source: Path) -> None:
        """Append a finished Parquet file of the same schema row group by row group."""
        import pyarrow.parquet as pq

        self._flush()
        part = pq.ParquetFile(str(source))
        for group in range(part.num_row_groups):  # as written: a writer batch, or a collector folder
            table = part.read_row_group(group)
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        self._flush()
        self._writer.close()


class _TextRowWriter:
    """A text file of one line per row (JSONL, or CSV without a header)."""

    _file: IO[str]
    rows: int

    def append_file(self, source: Path) -> None:
        """Append a finished file of the same format line by line (a CSV one without its header)."""
        with open(source, encoding="utf-8", newline="") as handle:
            for line in handle:
                self._file.write(line)
                self.rows += 1

    def close(self) -> None:
        self._file.close()


class JsonlRowWriter(_TextRowWriter):
    """One JSON object per line; `input`/`prediction` stay decoded JSON."""

    def __init__(self, path: Path, extra: Mapping[str, str] | None = None) -> None:
        self._file = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed in close()
        self.extra = dict(extra or {})
        self.rows = 0

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            out = {name: row.get(name) for name in [*COLUMNS, *self.extra]}
            out["time"] = format_time(out["time"])
            self._file.write(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n")
            self.rows += 1


class CsvRowWriter(_TextRowWriter):
    """A header row (not in a resumable run's parts: the joined file gets one), then one row per record;
    list and JSON columns as JSON text."""

    def __init__(self, path: Path, extra: Mapping[str, str] | None = None, *, header: bool = True) -> None:
        self._file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._file)
        self.extra = dict(extra or {})
        if header:
            self._csv.writerow([*COLUMNS, *self.extra])
        self.rows = 0

    def append_file(self, source: Path) -> None:
        """Append a finished part (no header) record by record: a value may hold a newline, so a record
        is not a line."""
        with open(source, encoding="utf-8", newline="") as handle:
            for record in csv.reader(handle):
                self._csv.writerow(record)
                self.rows += 1

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        kinds = {**COLUMNS, **self.extra}
        for row in rows:
            self._csv.writerow([_csv_cell(name, kind, row) for name, kind in kinds.items()])
            self.rows += 1


def _csv_cell(name: str, kind: str, row: Mapping[str, Any]) -> Any:
    value = row.get(name)
    if value is None:
        return ""
    if kind == "timestamp":
        return format_time(value)
    if kind == "json":
        return json_text(value, row.get(f"{name}_json"))
    if kind == "list":
        return json_text(value)
    if kind == "bool":
        return "true" if value else "false"
    return value


def open_writer(
    path: Path, fmt: str, extra: Mapping[str, str] | None = None, *, header: bool = True
) -> RowWriter:
    """A writer of `fmt` on `path`; `header=False` leaves out CSV's header row (a part of a longer file)."""
    if fmt == "parquet":
        return ParquetRowWriter(path, extra)
    if fmt == "jsonl":
        return JsonlRowWriter(path, extra)
    return CsvRowWriter(path, extra, header=header)


def write_dataset(path: Path, fmt: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write a whole dataset atomically in one go (no resume): temp file + os.replace."""
    tmp = path.with_name(f".{path.name}.amlmon-tmp")
    return write_then_rename(open_writer(tmp, fmt), tmp, path, lambda into: into.write(rows))


def write_then_rename(writer: RowWriter, tmp: Path, final: Path, fill: Callable[[RowWriter], None]) -> int:
    """`fill` writes into `writer` (open on `tmp`), which is then renamed to `final`; on any failure (Ctrl-C
    too) no file is left."""
    try:
        fill(writer)
        writer.close()
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    try:
        os.replace(tmp, final)
    except BaseException:  # e.g. `final` became a folder meanwhile: the finished temp file is not left
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return int(writer.rows)
