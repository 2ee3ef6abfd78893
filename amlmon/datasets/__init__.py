"""Model data records → dataset rows → Parquet / JSONL / CSV files: streaming, atomic, resumable.

rows.py         the dataset's columns and the row of one model data record (pull and extract alike)
destination.py  the format from --format / the file name; refusing an --out that would lose a file
writers.py      one writer per format with one append API; whole datasets written atomically
readers.py      a dataset file (or a part) back into rows
output.py       resumable output: part files + checkpoint, joined into one file
flatten.py      --flatten: regular input/prediction shapes as columns
"""

from __future__ import annotations

import os

# Arrow's default allocators keep freed memory for reuse: over a long pull, slice after slice, that took
# the process ~60 MB past the 300 MB it should stay under. The system allocator hands memory back as
# batches are released (no measurable cost in speed here). Read by Arrow's C++ core when pyarrow is first
# imported, which in amlmon happens only in this package, lazily; a user's own choice is kept.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from amlmon.datasets.destination import FORMATS, check_destination, format_for
from amlmon.datasets.flatten import FlattenNotes, flatten_row, flatten_spec, leaf_paths
from amlmon.datasets.output import Checkpoint, DatasetOutput
from amlmon.datasets.readers import read_rows
from amlmon.datasets.rows import (
    COLUMNS,
    format_time,
    model_data_row,
    parse_time,
    row_from_export_record,
    row_key,
)
from amlmon.datasets.writers import (
    BATCH_ROWS,
    CsvRowWriter,
    JsonlRowWriter,
    ParquetRowWriter,
    RowWriter,
    open_writer,
    write_dataset,
)

__all__ = [
    "BATCH_ROWS",
    "COLUMNS",
    "FORMATS",
    "Checkpoint",
    "CsvRowWriter",
    "DatasetOutput",
    "FlattenNotes",
    "JsonlRowWriter",
    "ParquetRowWriter",
    "RowWriter",
    "check_destination",
    "flatten_row",
    "flatten_spec",
    "format_for",
    "format_time",
    "leaf_paths",
    "model_data_row",
    "open_writer",
    "parse_time",
    "read_rows",
    "row_from_export_record",
    "row_key",
    "write_dataset",
]
