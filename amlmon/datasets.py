"""Model data records → dataset rows → Parquet / JSONL / CSV files: streaming, atomic, resumable.

One schema for every source (`data pull` from the query API, `data extract` from exported blobs), so
the same telemetry gives the same dataset whichever way it was read. Rows are written in batches;
nothing holds the whole dataset in memory. A file appears under its final name only when complete
(temp file + os.replace); interrupted runs leave a hidden parts directory that `--resume` continues.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from amlmon.errors import UsageError
from amlmon.schema import EXPORTED_TIME, MODEL_DATA_MESSAGE, record_field
from amlmon.telemetry import decode_model_data, row_service

# Arrow's default allocators keep freed memory for reuse: over a long pull, slice after slice, that took
# the process ~60 MB past the 300 MB it should stay under. The system allocator hands memory back as
# batches are released (no measurable cost in speed here). Read by Arrow's C++ core when pyarrow is first
# imported, which in amlmon happens only below, lazily; a user's own choice is kept.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

FORMATS = ("parquet", "jsonl", "csv")
BATCH_ROWS = 5_000

# The dataset schema: column name → kind. Stable: adding a column is a new version, never a rename.
COLUMNS: dict[str, str] = {
    "time": "timestamp",
    "service": "string",
    "deployment": "string",
    "request_id": "string",
    "client_request_id": "string",
    "container_id": "string",
    "workspace": "string",
    "models": "list",
    "input": "json",
    "prediction": "json",
    "truncated": "bool",
    "generation": "string",
    "raw": "string",
}


def _format_of_suffix(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("parquet", "pq"):
        return "parquet"
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix == "csv":
        return "csv"
    return None


def format_for(path: Path, explicit: str | None = None) -> str:
    """The output format from --format or the file's extension; the two must agree when both name one
    (a `x.jsonl` holding Parquet is a file every reader opens wrongly)."""
    named = _format_of_suffix(path)
    if explicit:
        if explicit not in FORMATS:
            raise UsageError(f"unknown format {explicit!r}", hint=f"use one of {', '.join(FORMATS)}")
        if named is not None and named != explicit:
            raise UsageError(
                f"--format {explicit} does not match --out {str(path)!r} (a {named} file name)",
                hint=f"drop --format (the extension decides) or name the file {path.stem}.{explicit}",
            )
        return explicit
    if named is not None:
        return named
    raise UsageError(
        f"cannot tell the format of {str(path)!r} from its extension",
        hint="name the file .parquet, .jsonl or .csv (or pass --format)",
    )


def check_destination(path: Path, *, overwrite: bool) -> None:
    """Refuse, before any work, an --out that would lose a file or cannot be written: a folder, a file
    that exists (unless `overwrite`), a folder that is missing or not writable (probed by creating a
    hidden file there: permission bits say nothing for root, nor for /proc)."""
    if path.is_dir():
        raise UsageError(
            f"--out {str(path)!r} is a folder", hint=f"give a file name, e.g. --out {path / 'models.parquet'}"
        )
    if not path.parent.is_dir():
        raise UsageError(
            f"folder {str(path.parent)!r} does not exist", hint="create it or choose another --out"
        )
    if path.exists() and not overwrite:
        raise UsageError(
            f"--out {str(path)!r} already exists",
            hint="pass --overwrite to replace it, or choose another --out",
        )
    import tempfile

    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".amlmon-probe", dir=path.parent)
    except OSError as exc:
        raise UsageError(
            f"cannot write to {str(path.parent)!r}: {exc.strerror or exc}", hint="choose another --out"
        ) from None
    os.close(handle)
    os.unlink(probe)


# ------------------------------------------------------------------------------------------------
# Records → rows
# ------------------------------------------------------------------------------------------------
def parse_time(value: Any) -> dt.datetime | None:
    """UTC datetime from the query API's or an export blob's time text (7 fractional digits allowed)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python takes at most 6 fractional digits
        head, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{(digits + '000000')[:6]}{zone}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def format_time(value: dt.datetime | None) -> str | None:
    return (
        None
        if value is None
        else value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    )


def _properties(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def model_data_row(time: Any, role: Any, properties: Any) -> dict[str, Any]:
    """One dataset row from a model_data_collection trace's time, role name and properties."""
    props = _properties(properties)
    record = decode_model_data(props)
    return {
        "time": parse_time(time),
        # telemetry.row_service: Service Name, else a role that is not 1.4.x's shared `azmlinfsrv`.
        "service": row_service(role, props, record),
        # No real server sends a deployment name (v2's SERVICE_NAME is the only label): kept empty.
        "deployment": None,
        "request_id": record.request_id,
        "client_request_id": record.client_request_id,
        "container_id": record.container_id,
        "workspace": record.workspace,
        "models": list(record.models),
        "input": record.input,
        "prediction": record.prediction,
        # not columns: the texts `input` and `prediction` came from, which text formats store as they are
        "input_json": record.input_json,
        "prediction_json": record.prediction_json,
        "truncated": bool(record.truncated),
        "generation": record.generation,
        "raw": record.raw,
    }


def row_from_export_record(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """A dataset row from one exported AppTraces / traces JSON record, or None if it is not model data."""
    if record_field(record, "message") != MODEL_DATA_MESSAGE:
        return None
    time = record.get(EXPORTED_TIME) or record_field(record, "time")
    role = record_field(record, "role")
    props = record_field(record, "properties")
    return model_data_row(time, role, props)


def _json_text(value: Any, sent_as: str | None = None) -> str | None:
    """A JSON column's text: the text the value was decoded from when there is one, else encoded."""
    if sent_as is not None:
        return sent_as
    if value is None:
        return None
    if isinstance(value, str):
        return value  # undecodable input kept as sent
    return json.dumps(value, separators=(",", ":"), sort_keys=False, ensure_ascii=False)


def row_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """A sort/identity key: time, request id, then the input text (two records of one request differ there)."""
    when = row.get("time")
    text = when if isinstance(when, str) else format_time(when)
    return (
        text or "",
        row.get("request_id") or "",
        _json_text(row.get("input"), row.get("input_json")) or "",
    )


# ------------------------------------------------------------------------------------------------
# Writers
# ------------------------------------------------------------------------------------------------
class RowWriter(Protocol):
    rows: int

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None: ...
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


class ParquetRowWriter:
    """Batches rows into Arrow record batches; `input`/`prediction` are JSON text (schema-stable)."""

    def __init__(self, path: Path, extra: Mapping[str, str] | None = None) -> None:
        import pyarrow.parquet as pq

        self.extra = dict(extra or {})
        self.schema = _arrow_schema(self.extra)
        self._writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self._pending: list[Mapping[str, Any]] = []
        self.rows = 0

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self._pending.append(row)
            if len(self._pending) >= BATCH_ROWS:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        import pyarrow as pa

        rows = self._pending
        columns: dict[str, list[Any]] = {}
        for name, kind in [*COLUMNS.items(), *self.extra.items()]:
            if kind == "json":
                sent_as = f"{name}_json"
                columns[name] = [_json_text(row.get(name), row.get(sent_as)) for row in rows]
            else:
                columns[name] = [row.get(name) for row in rows]
        batch = pa.RecordBatch.from_pydict(columns, schema=self.schema)
        self._writer.write_batch(batch)
        self.rows += len(self._pending)
        self._pending = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


class JsonlRowWriter:
    """One JSON object per line; `input`/`prediction` stay decoded JSON."""

    def __init__(self, path: Path, extra: Mapping[str, str] | None = None) -> None:
        self._file: IO[str] = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed in close()
        self.extra = dict(extra or {})
        self.rows = 0

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            out = {name: row.get(name) for name in [*COLUMNS, *self.extra]}
            out["time"] = format_time(out["time"])
            self._file.write(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n")
            self.rows += 1

    def close(self) -> None:
        self._file.close()


class CsvRowWriter:
    """A header row, then one row per record; list and JSON columns as JSON text."""

    def __init__(self, path: Path, extra: Mapping[str, str] | None = None) -> None:
        self._file: IO[str] = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._file)
        self.extra = dict(extra or {})
        self._csv.writerow([*COLUMNS, *self.extra])
        self.rows = 0

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        kinds = {**COLUMNS, **self.extra}
        for row in rows:
            self._csv.writerow([_csv_cell(name, kind, row) for name, kind in kinds.items()])
            self.rows += 1

    def close(self) -> None:
        self._file.close()


def _csv_cell(name: str, kind: str, row: Mapping[str, Any]) -> Any:
    value = row.get(name)
    if value is None:
        return ""
    if kind == "timestamp":
        return format_time(value)
    if kind == "json":
        return _json_text(value, row.get(f"{name}_json"))
    if kind == "list":
        return _json_text(value)
    if kind == "bool":
        return "true" if value else "false"
    return value


def open_writer(path: Path, fmt: str, extra: Mapping[str, str] | None = None) -> RowWriter:
    if fmt == "parquet":
        return ParquetRowWriter(path, extra)
    if fmt == "jsonl":
        return JsonlRowWriter(path, extra)
    return CsvRowWriter(path, extra)


# ------------------------------------------------------------------------------------------------
# Reading a dataset back (tests, part concatenation)
# ------------------------------------------------------------------------------------------------
def read_rows(path: Path, fmt: str | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a dataset file in the writer's representation (time as ISO text, JSON decoded)."""
    fmt = format_for(path, fmt)
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
        return
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            for raw in csv.DictReader(handle):
                yield _row_from_text(raw)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=BATCH_ROWS):
        for item in batch.to_pylist():
            item["time"] = format_time(item["time"])
            for name, kind in COLUMNS.items():
                if kind == "json" and item[name] is not None:
                    item[name] = _maybe_json(item[name])
            yield item


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _row_from_text(raw: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in COLUMNS.items():
        text = raw.get(name, "")
        if text == "":
            out[name] = [] if kind == "list" else (False if kind == "bool" else None)
        elif kind in ("json", "list"):
            out[name] = _maybe_json(text)
        elif kind == "bool":
            out[name] = text == "true"
        else:
            out[name] = text
    for name, text in raw.items():  # flattened columns, as text
        if name not in COLUMNS and name is not None:
            out[name] = text if text != "" else None
    return out


def _keep_json_text(row: dict[str, Any], text: Mapping[str, Any]) -> None:
    """`row[NAME_json]` = the stored text of each JSON column (None when the column is empty)."""
    for name, kind in COLUMNS.items():
        if kind == "json":
            row[f"{name}_json"] = text.get(name) or None


def _parquet_rows_with_text(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=BATCH_ROWS):
        for item in batch.to_pylist():
            _keep_json_text(item, dict(item))
            for name, kind in COLUMNS.items():
                if kind == "json" and item[name] is not None:
                    item[name] = _maybe_json(item[name])
            yield item


def _copy_rows(source: Path, fmt: str, writer: RowWriter) -> None:
    """Append a finished part file's rows to `writer` without holding them all."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert isinstance(writer, ParquetRowWriter)
        writer._flush()
        for batch in pq.ParquetFile(str(source)).iter_batches(batch_size=BATCH_ROWS):
            writer._writer.write_batch(batch)
            writer.rows += batch.num_rows
        return
    # JSONL and CSV parts are copied as text (CSV parts carry no header).
    target = writer._file if isinstance(writer, JsonlRowWriter | CsvRowWriter) else None
    assert target is not None
    with open(source, encoding="utf-8", newline="") as handle:
        for line in handle:
            target.write(line)
            writer.rows += 1


# ------------------------------------------------------------------------------------------------
# Atomic, resumable output: parts directory + checkpoint → one file by os.replace
# ------------------------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """What a run has finished: completed part files keyed by slice, and the run's parameters."""

    params: dict[str, Any]
    parts: dict[str, dict[str, Any]]  # part file name → {"start","end","rows"}

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "params": self.params, "parts": self.parts}


class DatasetOutput:
    """Collects slices as complete part files, then joins them into `path` atomically.

    The parts directory `.NAME.amlmon-parts/` sits next to the output; an interrupted run leaves it
    behind so `--resume` can skip finished slices. A run without --resume starts it afresh.
    """

    def __init__(self, path: Path, fmt: str, params: dict[str, Any], *, resume: bool) -> None:
        self.path = path
        self.fmt = fmt
        self.parts_dir = path.with_name(f".{path.name}.amlmon-parts")
        self._checkpoint_file = self.parts_dir / "checkpoint.json"
        if not path.parent.is_dir():
            raise UsageError(
                f"folder {str(path.parent)!r} does not exist", hint="create it or choose another --out"
            )
        self.checkpoint = Checkpoint(params, {})
        self.flattened: dict[str, tuple[str, str, str]] = {}  # set by finish(flatten=True)
        self.flatten_notes = FlattenNotes()  # what finish(flatten=True) could not flatten
        self.discarded_rows = 0
        existing = self._load()
        if resume and existing is not None:
            if _public(existing.params) != _public(params):
                raise UsageError(
                    "the interrupted run had other options; --resume needs the same ones",
                    hint=f"repeat the original command, or delete {self.parts_dir} to start over",
                )
            self.checkpoint = existing
        else:
            if existing is not None:
                self.discarded_rows = sum(int(part.get("rows", 0)) for part in existing.parts.values())
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        self.parts_dir.mkdir(exist_ok=True)
        self._save()

    def _load(self) -> Checkpoint | None:
        try:
            data = json.loads(self._checkpoint_file.read_text())
            return Checkpoint(dict(data["params"]), dict(data["parts"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save(self) -> None:
        tmp = self._checkpoint_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.checkpoint.to_json()))
        os.replace(tmp, self._checkpoint_file)

    @staticmethod
    def part_name(index: int) -> str:
        return f"part-{index:06d}"

    def done(self, name: str) -> bool:
        return name in self.checkpoint.parts and (self.parts_dir / name).exists()

    @property
    def rows_done(self) -> int:
        return sum(int(part["rows"]) for part in self.checkpoint.parts.values())

    def write_part(
        self,
        name: str,
        rows: Iterable[Mapping[str, Any]],
        meta: dict[str, Any],
        counts: Callable[[], Mapping[str, int]] | None = None,
    ) -> int:
        """Write one slice as a complete part file (itself atomic), record it in the checkpoint.

        `counts` gives the figures counted while the rows were read (truncated records, halvings):
        they are asked for after the last row is written and saved in the same checkpoint write, so
        a checkpoint never records a part without everything the summary needs from it."""
        tmp = self.parts_dir / f"{name}.tmp"
        writer = open_writer(tmp, self.fmt) if self.fmt != "csv" else _HeaderlessCsv(tmp)
        written = _write_then_rename(writer, tmp, self.parts_dir / name, lambda into: into.write(rows))
        self.checkpoint.parts[name] = {**meta, **(counts() if counts else {}), "rows": written}
        self._save()
        return written

    def _part_rows(self) -> Iterator[dict[str, Any]]:
        """The parts' rows back in writer input form (time as datetime, JSON decoded). Text formats keep
        each JSON column's text as `NAME_json` too, so a flattened file writes the very text an unflattened
        one does (decoding and encoding again would respace it and could rewrite its numbers)."""
        for name in sorted(self.checkpoint.parts):
            path = self.parts_dir / name
            if self.fmt == "csv":
                with open(path, encoding="utf-8", newline="") as handle:
                    for raw in csv.DictReader(handle, fieldnames=list(COLUMNS)):
                        row = _row_from_text(raw)
                        _keep_json_text(row, raw)
                        row["time"] = parse_time(row["time"])
                        yield row
            elif self.fmt == "parquet":
                yield from _parquet_rows_with_text(path)
            else:
                for row in read_rows(path, self.fmt):
                    row["time"] = parse_time(row["time"])
                    yield row

    def finish(self, flatten: bool = False) -> int:
        """Join the parts in order into a temp file, rename it over `path`, remove the parts.

        With `flatten`, a first pass over the parts finds regular input/prediction shapes and the
        second writes them as extra columns (both passes stream).
        """
        tmp = self.path.with_name(f".{self.path.name}.amlmon-tmp")
        self.flatten_notes = FlattenNotes()
        spec = flatten_spec(self._part_rows(), self.flatten_notes) if flatten else {}
        self.flattened = spec
        writer = open_writer(tmp, self.fmt, {column: kind for column, (_f, _p, kind) in spec.items()})

        def join_parts(into: RowWriter) -> None:
            if spec:
                into.write(flatten_row(row, spec) for row in self._part_rows())
                return
            for name in sorted(self.checkpoint.parts):
                _copy_rows(self.parts_dir / name, self.fmt, into)

        rows = _write_then_rename(writer, tmp, self.path, join_parts)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return rows

    def discard(self) -> None:
        shutil.rmtree(self.parts_dir, ignore_errors=True)


def _public(params: dict[str, Any]) -> dict[str, Any]:
    """The user's options; keys starting with "_" are the run's own notes (e.g. its slice plan)."""
    return {key: value for key, value in params.items() if not key.startswith("_")}


class _HeaderlessCsv(CsvRowWriter):
    """CSV parts carry no header; the joined file gets one."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._file)
        self.extra = {}
        self.rows = 0


def write_dataset(path: Path, fmt: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write a whole dataset atomically in one go (no resume): temp file + os.replace."""
    tmp = path.with_name(f".{path.name}.amlmon-tmp")
    return _write_then_rename(open_writer(tmp, fmt), tmp, path, lambda into: into.write(rows))


def _write_then_rename(writer: RowWriter, tmp: Path, final: Path, fill: Callable[[RowWriter], None]) -> int:
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
    os.replace(tmp, final)
    return int(writer.rows)


# ------------------------------------------------------------------------------------------------
# --flatten: regular input/prediction shapes as columns
# ------------------------------------------------------------------------------------------------
MAX_LEAVES = 256
MAX_DEPTH = 4


def leaf_paths(value: Any, prefix: str, depth: int = 0) -> dict[str, Any] | None:
    """`{"input.data[0][1]": 4.0, ...}` for the scalars inside `value`; None when too big or too deep."""
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return None
        items: Iterable[tuple[str, Any]] = ((f"{prefix}.{key}", item) for key, item in value.items())
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            return None
        items = ((f"{prefix}[{index}]", item) for index, item in enumerate(value))
    else:
        return {prefix: value}
    leaves: dict[str, Any] = {}
    for path, item in items:
        inner = leaf_paths(item, path, depth + 1)
        if inner is None or len(leaves) + len(inner) > MAX_LEAVES:
            return None
        leaves.update(inner)
    return leaves


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "string"


@dataclass
class _Records:
    """How many records, and the first few by name: memory stays flat however many there are."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, label: str, keep: int = 5) -> None:
        self.count += 1
        if len(self.first) < keep:
            self.first.append(label)

    def __str__(self) -> str:
        more = f" and {self.count - len(self.first)} more" if self.count > len(self.first) else ""
        return ", ".join(self.first) + more


@dataclass
class FlattenNotes:
    """What --flatten left as JSON only, and which records, for the user to be told."""

    varied: dict[str, _Records] = field(default_factory=dict)  # field → records shaped unlike its first
    truncated: _Records = field(default_factory=_Records)  # records App Insights cut: no flattened values

    def lines(self) -> list[str]:
        def have(n: int) -> str:
            return "record has" if n == 1 else "records have"

        out = [
            f"--flatten: {field_name} was not flattened in any record: {records.count} {have(records.count)} "
            f"another shape than the first ({records})"
            for field_name, records in self.varied.items()
        ]
        if self.truncated.count:
            out.append(
                f"--flatten: {self.truncated.count} truncated {have(self.truncated.count)} no flattened "
                f"values ({self.truncated})"
            )
        return out


def _record_label(row: Mapping[str, Any]) -> str:
    when = row.get("time")
    text = when if isinstance(when, str) else format_time(when)
    return f"request {row['request_id']}" if row.get("request_id") else f"record at {text}"


def flatten_spec(
    rows: Iterable[Mapping[str, Any]], notes: FlattenNotes | None = None
) -> dict[str, tuple[str, str, str]]:
    """Columns for fields whose every whole record has the same leaf paths: name → (field, path, kind).

    Truncated and empty records do not vote; a field whose shape varies is not flattened (`notes`, when
    given, collects the records that made it vary and the truncated ones).
    """
    shapes: dict[str, list[str] | None] = {}
    first_paths: dict[str, list[str] | None] = {}
    kinds: dict[str, dict[str, set[str]]] = {"input": {}, "prediction": {}}
    for row in rows:
        if row.get("truncated"):
            if notes is not None:
                notes.truncated.add(_record_label(row))
            continue
        for field_name in ("input", "prediction"):
            value = row.get(field_name)
            if value is None:
                continue
            leaves = leaf_paths(value, field_name) if isinstance(value, dict | list) else None
            paths = list(leaves) if leaves else None
            if field_name not in first_paths:
                first_paths[field_name] = paths
            elif first_paths[field_name] != paths and notes is not None:
                notes.varied.setdefault(field_name, _Records()).add(_record_label(row))
            if shapes.get(field_name, []) is None:
                continue
            if field_name not in shapes:
                shapes[field_name] = paths
            elif shapes[field_name] != paths:
                shapes[field_name] = None
            for path, leaf in (leaves or {}).items():
                if leaf is not None:
                    kinds[field_name].setdefault(path, set()).add(_kind(leaf))
    spec: dict[str, tuple[str, str, str]] = {}
    for field_name, paths in shapes.items():
        for path in paths or []:
            seen = kinds[field_name].get(path, set())
            kind = (
                "bool"
                if seen == {"bool"}
                else "int"
                if seen == {"int"}
                else "float"
                if seen <= {"int", "float"} and seen
                else "string"
            )
            spec[path] = (field_name, path, kind)
    return spec


def flatten_row(row: Mapping[str, Any], spec: Mapping[str, tuple[str, str, str]]) -> dict[str, Any]:
    out = dict(row)
    cache: dict[str, dict[str, Any]] = {}
    for column, (field_name, path, kind) in spec.items():
        if field_name not in cache:
            value = row.get(field_name)
            cache[field_name] = (
                (leaf_paths(value, field_name) or {})
                if isinstance(value, dict | list) and not row.get("truncated")
                else {}
            )
        leaf = cache[field_name].get(path)
        if leaf is not None:
            leaf = (
                float(leaf)
                if kind == "float" and not isinstance(leaf, bool) and isinstance(leaf, int | float)
                else leaf
            )
            leaf = str(leaf) if kind == "string" and not isinstance(leaf, str) else leaf
        out[column] = leaf
    return out
