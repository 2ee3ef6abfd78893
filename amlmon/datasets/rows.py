"""Model data records → dataset rows: the dataset's columns, time texts, and the row of one record.

One schema for every source (`data pull` from the query API, `data extract` from exported blobs), so the
same telemetry gives the same dataset whichever way it was read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from amlmon.schema import EXPORTED_TIME, MODEL_DATA_MESSAGE, record_field
from amlmon.telemetry import decode_model_data, row_service

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


# json.dumps(value, separators=(",", ":"), sort_keys=False, ensure_ascii=False), without building an encoder
# for every value
_COMPACT = json.JSONEncoder(separators=(",", ":"), sort_keys=False, ensure_ascii=False)


def json_text(value: Any, sent_as: str | None = None) -> str | None:
    """A JSON column's text: the text the value was decoded from when there is one, else encoded."""
    if sent_as is not None:
        return sent_as
    if value is None:
        return None
    if isinstance(value, str):
        return value  # undecodable input kept as sent
    return _COMPACT.encode(value)


def row_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """A sort/identity key: time, request id, then the input text (two records of one request differ there)."""
    when = row.get("time")
    text = when if isinstance(when, str) else format_time(when)
    return (
        text or "",
        row.get("request_id") or "",
        json_text(row.get("input"), row.get("input_json")) or "",
    )
