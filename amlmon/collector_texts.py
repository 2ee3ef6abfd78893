"""The texts of a folder's Arrow rows (amlmon/collector_fast.py) as the reference path writes them:
DuckDB's text of a JSON element is the standard library's compact text except for some numbers and
repeated keys; the rows it flags (`input_fix`, `prediction_fix`) are encoded again here from DuckDB's
text (the same value) by amlmon/jsonfast.py."""

from __future__ import annotations

from typing import Any

from amlmon import jsonfast


class Decline(Exception):
    """The folder holds something only the reference path reads exactly."""


def finished(table: Any, fixes: bool) -> Any:
    """The dataset's columns: flagged texts encoded again when there are any, the flags dropped."""
    return _reencoded(table) if fixes else table.drop_columns(["input_fix", "prediction_fix"])


def _reencoded(table: Any) -> Any:
    """The rows with the flagged texts encoded again the standard library's way; the flags dropped (a
    folder without flags does not come here: see FolderJoin._joined)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column in ("input", "prediction"):
        flags = table.column(f"{column}_fix")
        if pc.any(flags).as_py():
            texts = table.column(column).to_pylist()
            for index in pc.indices_nonzero(flags).to_pylist():
                texts[index] = standard_text(texts[index])
            table = table.set_column(
                table.schema.get_field_index(column), column, pa.array(texts, pa.string())
            )
        table = table.drop_columns([f"{column}_fix"])
    return table


def standard_text(text: str) -> str | None:
    """The standard library's compact text of a JSON text (None for null, a string as it is); Decline
    when it does not read it."""
    try:
        value = jsonfast.loads_line(text.encode("utf-8"))
    except ValueError as exc:  # e.g. a `nan` DuckDB read and the standard library refuses
        raise Decline("a value the standard library does not read") from exc
    return None if value is None or isinstance(value, str) else jsonfast.compact_text(value)


def check_fixes(con: Any) -> None:
    """Decline when a text of DuckDB's `joined` table (amlmon/collector_fast.py) to be encoded again is
    one the standard library does not read, before any slice of it is written (a slice cannot decline
    once written); the texts are read a slice at a time."""
    query = (
        "SELECT CASE WHEN input_fix THEN input END, CASE WHEN prediction_fix THEN prediction END "
        "FROM joined WHERE input_fix OR prediction_fix"
    )
    for batch in con.sql(query).to_arrow_reader(4096):
        for texts in batch.to_pylist():
            for text in texts.values():
                if text is not None:
                    standard_text(text)
