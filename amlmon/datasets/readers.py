"""Reading a dataset (or a resumable run's parts) back into rows: tests, drift, joining parts."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from amlmon.datasets.destination import format_for
from amlmon.datasets.rows import COLUMNS, format_time
from amlmon.datasets.writers import BATCH_ROWS


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
                yield row_from_text(raw)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=BATCH_ROWS):
        for item in batch.to_pylist():
            item["time"] = format_time(item["time"])
            for name, kind in COLUMNS.items():
                if kind == "json" and item[name] is not None:
                    item[name] = maybe_json(item[name])
            yield item


def maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def row_from_text(raw: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in COLUMNS.items():
        text = raw.get(name, "")
        if text == "":
            out[name] = [] if kind == "list" else (False if kind == "bool" else None)
        elif kind in ("json", "list"):
            out[name] = maybe_json(text)
        elif kind == "bool":
            out[name] = text == "true"
        else:
            out[name] = text
    for name, text in raw.items():  # flattened columns, as text
        if name not in COLUMNS and name is not None:
            out[name] = text if text != "" else None
    return out


def keep_json_text(row: dict[str, Any], text: Mapping[str, Any]) -> None:
    """`row[NAME_json]` = the stored text of each JSON column (None when the column is empty)."""
    for name, kind in COLUMNS.items():
        if kind == "json":
            row[f"{name}_json"] = text.get(name) or None


def parquet_rows_with_text(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=BATCH_ROWS):
        for item in batch.to_pylist():
            keep_json_text(item, dict(item))
            for name, kind in COLUMNS.items():
                if kind == "json" and item[name] is not None:
                    item[name] = maybe_json(item[name])
            yield item
