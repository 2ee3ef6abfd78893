"""Where `amlmon drift` reads feature values from: amlmon datasets and plain training-data tables.

A dataset amlmon wrote (`data pull`/`data extract`: Parquet, JSONL or CSV) holds the model input as JSON
per record; its features come from the input's shape:
- `{"data": [[…], …]}` (the v1 scoring convention): one row per inner list, columns by position
  (`0`, `1`, … or the names given with --features);
- `{"input_data": {"columns": […], "data": [[…]]}}` (MLflow split orientation): named columns;
- a list of objects (collector DataFrame records) or one object: one row per object, keys as columns.
Any other Parquet/CSV/JSONL file is training data: its columns (JSONL: its objects' keys) are the features.

Values are streamed in batches into per-feature accumulators: numbers into numpy chunks (8 bytes a
value), everything else into category counts. Parquet tables are read one column at a time.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

# As for datasets: Arrow's own allocators keep freed batches for reuse, which column after column of a
# large table adds up to RSS nobody uses; the system allocator hands it back (read at pyarrow's import).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

BATCH_ROWS = 65_536
NUMBER, STRING, BOOL, OBJECT = "number", "string", "bool", "object"
# the columns that make a file an amlmon dataset rather than training data
DATASET_COLUMNS = frozenset({"input", "prediction", "request_id", "generation"})
MISSING = object()


def value_type(value: Any) -> str | None:
    """The JSON type of a feature value; None for null (and NaN, which JSON cannot carry)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return None if value != value else NUMBER  # NaN
    if isinstance(value, str):
        return STRING
    return OBJECT


def category_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)  # default: e.g. a timestamp


@dataclass
class FeatureValues:
    """One feature's values in one input: numbers as arrays, other values as counts by type."""

    name: str
    as_categories: bool = False  # --categorical: numbers are categories too
    present: int = 0  # non-null values
    types: Counter[str] = field(default_factory=Counter)
    categories: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, text) → count
    _chunks: list[np.ndarray] = field(default_factory=list)
    _pending: list[float] = field(default_factory=list)

    def add(self, value: Any) -> None:
        kind = value_type(value)
        if kind is None:
            return
        self.present += 1
        self.types[kind] += 1
        if kind == NUMBER:
            self._pending.append(float(value))
            if len(self._pending) >= BATCH_ROWS:
                self._flush()
            if not self.as_categories:
                return
        self.categories[(kind, category_text(value))] += 1

    def add_numbers(self, values: np.ndarray) -> None:
        """A batch of non-null, non-NaN numbers (a numeric Arrow column)."""
        if not values.size:
            return
        self.present += int(values.size)
        self.types[NUMBER] += int(values.size)
        self._chunks.append(values)
        if self.as_categories:
            import numpy as np

            uniques, counts = np.unique(values, return_counts=True)
            for value, count in zip(uniques.tolist(), counts.tolist(), strict=True):
                self.categories[(NUMBER, category_text(value))] += int(count)

    def _flush(self) -> None:
        if self._pending:
            import numpy as np

            self._chunks.append(np.array(self._pending, dtype=np.float64))
            self._pending = []

    def numbers(self) -> np.ndarray:
        import numpy as np

        self._flush()
        if not self._chunks:
            return np.empty(0, dtype=np.float64)
        if len(self._chunks) > 1 or not self._chunks[0].flags.writeable:
            self._chunks = [np.concatenate(self._chunks)]  # one writable array: compare sorts it in place
        return self._chunks[0]

    def main_type(self) -> str:
        """The baseline's type for this feature: its most common one (numbers win a tie)."""
        if not self.types:
            return NUMBER
        order = (NUMBER, STRING, BOOL, OBJECT)
        return max(order, key=lambda kind: (self.types[kind], -order.index(kind)))

    def category_counts(self, kind: str) -> dict[str, int]:
        return {text: count for (of, text), count in self.categories.items() if of == kind}


@dataclass
class Values:
    """What one input gave: row count and per-feature values, in first-seen feature order."""

    rows: int
    features: dict[str, FeatureValues]
    skipped: int = 0  # records whose input could not be read (truncated by App Insights, not JSON)
    # The widest positional row ({"data": [[…]]}) that had more columns than --features named: those
    # columns are unnamed, and a gate on the named ones alone would silently drop them.
    unnamed_width: int = 0


# ------------------------------------------------------------------------------------------------
# Feature rows from a model input / prediction's JSON
# ------------------------------------------------------------------------------------------------
def feature_rows(value: Any, names: Sequence[str] = (), outputs: bool = False) -> list[dict[str, Any]]:
    """The rows of features in one record's input (or prediction with `outputs`)."""
    if isinstance(value, Mapping):
        if "input_data" in value and len(value) <= 2:
            return feature_rows(value["input_data"], names, outputs)
        if isinstance(value.get("data"), list):
            columns = value.get("columns")
            if isinstance(columns, list) and all(isinstance(c, str) for c in columns):
                names = columns
            return _rows(value["data"], names, outputs)
        return [dict(value)]
    if isinstance(value, list):
        return _rows(value, names, outputs)
    return [{_single(names, outputs): value}]


def _rows(items: list[Any], names: Sequence[str], outputs: bool) -> list[dict[str, Any]]:
    if not items:
        return []
    if all(isinstance(item, list) for item in items):
        return [{_name(names, i): v for i, v in enumerate(item)} for item in items]
    if all(isinstance(item, Mapping) for item in items):
        return [dict(item) for item in items]
    if outputs:  # [0.2, 0.9]: one prediction per input row
        return [{_single(names, outputs): item} for item in items]
    return [{_name(names, i): v for i, v in enumerate(items)}]  # one row of scalars


def _name(names: Sequence[str], index: int) -> str:
    return names[index] if index < len(names) else str(index)


def _single(names: Sequence[str], outputs: bool) -> str:
    """The name of a lone value: a prediction is `prediction` unless --features names it."""
    return names[0] if names else ("prediction" if outputs else "0")


# ------------------------------------------------------------------------------------------------
# Sources
# ------------------------------------------------------------------------------------------------
def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise UsageError(
        f"cannot tell the format of {str(path)!r} from its extension",
        hint="name the file .parquet, .jsonl or .csv",
    )


class FileSource:
    """A local Parquet/JSONL/CSV file: an amlmon dataset or a training-data table."""

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = path
        self.label = label or str(path)
        self.format = file_format(path)
        self.columns = self._columns()
        self.is_dataset = set(self.columns) >= DATASET_COLUMNS

    def _columns(self) -> list[str]:
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                return list(pq.ParquetFile(str(self.path)).schema_arrow.names)
            if self.format == "csv":
                with open(self.path, encoding="utf-8", newline="") as handle:
                    return next(csv.reader(handle), [])
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        first = json.loads(line)
                        return list(first) if isinstance(first, dict) else []
            return []
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot read {str(self.path)!r}: {exc}",
                hint="give a Parquet, JSONL or CSV file (an amlmon dataset or training data)",
            ) from None
        except Exception as exc:  # pyarrow's ArrowInvalid and friends: not a Parquet file
            raise UsageError(
                f"cannot read {str(self.path)!r}: {exc}", hint="give a Parquet, JSONL or CSV file"
            ) from None

    @property
    def columnar(self) -> bool:
        """Feature columns that can be read one at a time (a Parquet training table)."""
        return self.format == "parquet" and not self.is_dataset

    def read(
        self,
        wanted: Sequence[str] | None,
        categorical: Iterable[str] = (),
        names: Sequence[str] = (),
        outputs: bool = False,
    ) -> Values:
        """Values of the `wanted` features (None: every feature found)."""
        as_categories = set(categorical)
        if self.is_dataset:
            return _read_records(self.path, self.format, wanted, as_categories, names, outputs)
        if self.format == "parquet":
            return _read_parquet(self.path, wanted or self.columns, as_categories)
        if self.format == "csv":
            return _read_csv(self.path, self.columns, wanted or self.columns, as_categories)
        return _read_json_rows(self.path, wanted, as_categories)


def _accumulator(values: Values, name: str, as_categories: set[str]) -> FeatureValues:
    found = values.features.get(name)
    if found is None:
        found = values.features[name] = FeatureValues(name, name in as_categories)
    return found


def _read_records(
    path: Path,
    fmt: str,
    wanted: Sequence[str] | None,
    as_categories: set[str],
    names: Sequence[str],
    outputs: bool,
) -> Values:
    from amlmon.datasets import read_rows

    values = Values(0, {})
    keep = None if wanted is None else set(wanted)
    for record in read_rows(path, fmt):
        payload = record.get("prediction" if outputs else "input")
        if record.get("truncated") or payload is None or isinstance(payload, str):
            values.skipped += 1
            continue
        for row in feature_rows(payload, names, outputs):
            values.rows += 1
            if names and str(len(names)) in row and str(len(names)) not in names:
                values.unnamed_width = max(values.unnamed_width, len(row))
            for name, value in row.items():
                if keep is None or name in keep:
                    _accumulator(values, name, as_categories).add(value)
    return values


def _read_json_rows(path: Path, wanted: Sequence[str] | None, as_categories: set[str]) -> Values:
    values = Values(0, {})
    keep = None if wanted is None else set(wanted)
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                values.skipped += 1
                continue
            if not isinstance(row, dict):
                values.skipped += 1
                continue
            values.rows += 1
            for name, value in row.items():
                if keep is None or name in keep:
                    _accumulator(values, name, as_categories).add(value)
    return values


def _read_parquet(path: Path, wanted: Sequence[str], as_categories: set[str]) -> Values:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(str(path))
    values = Values(parquet.metadata.num_rows, {})
    present = set(parquet.schema_arrow.names)
    columns = [name for name in wanted if name in present]
    for name in columns:
        _accumulator(values, name, as_categories)
    if not columns:
        return values
    # row group by row group: memory holds one group of the wanted columns (a whole column when
    # compare reads one feature at a time), and whole pages decode faster than small batches
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=columns)
        for name in columns:
            for chunk in table.column(name).chunks:
                add_arrow(values.features[name], chunk)
        del table
    return values


def add_arrow(into: FeatureValues, array: Any) -> None:
    """One Arrow column batch: numbers straight into numpy, other types value by value."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        import numpy as np

        valid = float64_values(array)
        if np.isnan(valid).any():
            valid = valid[~np.isnan(valid)]
        into.add_numbers(valid)
        return
    for value in array.to_pylist():
        into.add(value)


def float64_values(array: Any) -> np.ndarray:
    """A numeric Arrow array's non-null values as a read-only float64 view of Arrow's own buffer (no
    copy for float64 without nulls). Not `to_numpy`: pyarrow imports pandas for it (~0.3 s, ~40 MB)."""
    import numpy as np
    import pyarrow as pa

    if array.null_count:
        import pyarrow.compute as pc

        array = pc.drop_null(array)
    if array.type != pa.float64():
        array = array.cast(pa.float64())
    if not len(array):
        return np.empty(0, dtype=np.float64)
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=np.float64, count=len(array), offset=array.offset * 8)


def _read_csv(path: Path, header: list[str], wanted: Sequence[str], as_categories: set[str]) -> Values:
    """CSV cells are text: a cell that reads as a number is a number, an empty cell is null."""
    values = Values(0, {})
    indexes = [(header.index(name), name) for name in wanted if name in header]
    for _index, name in indexes:
        _accumulator(values, name, as_categories)
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for line in reader:
            values.rows += 1
            for index, name in indexes:
                cell = line[index] if index < len(line) else ""
                values.features[name].add(_cell_value(cell))
    return values


def _cell_value(cell: str) -> Any:
    text = cell.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        lowered = text.lower()
        return lowered == "true" if lowered in ("true", "false") else text
    return None if number != number else number
