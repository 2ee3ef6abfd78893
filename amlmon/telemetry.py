"""Rows from Application Insights → typed events, for both generations of the inference server.

`events_from` turns a traces answer (projected onto schema.TRACE_ROW) into TraceEvents; `row_service`
is the one rule for which service a row is, used by traces and datasets alike.

The model-data decoding follows what azureml-inference-server-http really sends (AZURE-FACTS.md):
1.5.x puts ONE property `custom_dimensions` holding a Python-literal dict string (single quotes,
`Models` a tuple, `Input` the request body JSON-encoded twice, `Prediction` JSON once) and cuts it at
8,192 characters; 1.4.x sends the same keys as separate properties with JSON values.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from amlmon.errors import AmlmonError
from amlmon.packed import read_packed, read_packed_prefix
from amlmon.schema import GENERIC_ROLE, MODEL_DATA, PACKED_DIMENSION, SERVICE_DIMENSION, TRACE_ROW
from amlmon.timeparse import iso_utc

if TYPE_CHECKING:
    from amlmon.azure.logs import QueryResult

# App Insights severity levels (SeverityLevel enum of the classic SDKs and the exporter).
SEVERITIES = {"verbose": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
SEVERITY_NAMES = {level: name for name, level in SEVERITIES.items()}

APP_INSIGHTS_VALUE_LIMIT = 8192
_REQUEST_ID = re.compile(rf"['\"]{re.escape(MODEL_DATA.request_id)}['\"]\s*:\s*['\"]([^'\"]*)['\"]")


@dataclass
class ModelDataRecord:
    request_id: str | None
    client_request_id: str | None = None
    container_id: str | None = None
    service: str | None = None
    workspace: str | None = None
    models: list[str] = field(default_factory=list)
    input: Any = None
    prediction: Any = None
    truncated: bool = False
    generation: str = "1.5"
    raw: str | None = None  # the undecodable text, kept when truncated
    # The properties App Insights cut at 8,192 characters, or that a cut 1.5.x literal lost after the cut,
    # in the server's order: exactly what is missing (a cut 1.4.x Input leaves the Prediction whole).
    cut: list[str] = field(default_factory=list)
    # The JSON texts `input` and `prediction` were decoded from, as the client and the model wrote them
    # (None when the value did not decode): datasets store these instead of encoding the values again.
    input_json: str | None = field(default=None, repr=False, compare=False)
    prediction_json: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["input_json"], data["prediction_json"]
        return data


def _decoded(value: Any, max_layers: int) -> tuple[Any, str | None]:
    """(value after up to `max_layers` JSON decodings — 1.5.x encodes Input twice —, the text of the
    last decoding that worked)."""
    text = None
    for _ in range(max_layers):
        if not isinstance(value, str):
            break
        try:
            decoded = json.loads(value)
        except ValueError:
            break
        text, value = value, decoded
    return value, text


def _models(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, str):
        decoded = _json_or_literal(value) if value.startswith(("(", "[")) else None
        if isinstance(decoded, list | tuple):
            return [str(v) for v in decoded]
        return [value] if value else []
    return []


def _json_or_literal(text: str) -> Any:
    """1.4.x sends Models as JSON (`["m:1"]`); a Python literal (`('m:1',)`) is read as one."""
    try:
        return json.loads(text)
    except ValueError:
        return _parse_literal(text)


def _parse_literal(text: str) -> Any:
    """Python literals only (ast.literal_eval never runs code); None when unparseable."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _from_fields(fields: Mapping[str, Any], generation: str) -> ModelDataRecord:
    def text(key: str) -> str | None:
        value = fields.get(key)
        return None if value is None else str(value)

    m = MODEL_DATA
    model_input, input_json = _decoded(fields.get(m.input), 2)
    prediction, prediction_json = _decoded(fields.get(m.prediction), 1)
    return ModelDataRecord(
        request_id=text(m.request_id),
        client_request_id=text(m.client_request_id),
        container_id=text(m.container_id),
        service=text(m.service),
        workspace=text(m.workspace),
        models=_models(fields.get(m.models)),
        input=model_input,
        prediction=prediction,
        generation=generation,
        input_json=input_json,
        prediction_json=prediction_json,
    )


def decode_model_data(properties: Mapping[str, Any] | str | None) -> ModelDataRecord:
    """Decode the custom dimensions of one `model_data_collection` trace, either generation.

    `properties` is the customDimensions / Properties value (a dict, or its JSON text as the query
    API returns dynamic columns).
    """
    if isinstance(properties, str):
        try:
            properties = json.loads(properties)
        except ValueError:
            properties = {}
    props: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
    packed = props.get(PACKED_DIMENSION)
    if isinstance(packed, str):
        fields = read_packed(packed)
        if fields is None:
            fields = _parse_literal(packed)
        if isinstance(fields, dict):
            return _from_fields(fields, "1.5")
        return _cut_packed(packed)
    if isinstance(packed, Mapping):
        return _from_fields(packed, "1.5")
    record = _from_fields(props, "1.4")
    # Each 1.4.x property is cut on its own: name exactly the ones that were.
    for key, decoded_from in (
        (MODEL_DATA.input, record.input_json),
        (MODEL_DATA.prediction, record.prediction_json),
    ):
        value = props.get(key)
        if isinstance(value, str) and len(value) >= APP_INSIGHTS_VALUE_LIMIT and decoded_from is None:
            record.truncated = True
            record.raw = value
            record.cut.append(key)
            if key == MODEL_DATA.input:
                record.input = None
            else:
                record.prediction = None
    return record


def _cut_packed(packed: str) -> ModelDataRecord:
    """A 1.5.x literal that does not parse whole: every pair before the cut, the rest named as cut."""
    fields, cut = read_packed_prefix(packed)
    if not fields:  # not the server's shape at all: the request id, if the text names one
        match = _REQUEST_ID.search(packed)
        if match:
            fields = {MODEL_DATA.request_id: match.group(1)}
    record = _from_fields(fields, "1.5")
    record.truncated, record.raw, record.cut = True, packed, cut
    return record


def row_service(
    role: Any, properties: Mapping[str, Any], record: ModelDataRecord | None = None
) -> str | None:
    """The service a row names itself, from fields the real server sends: the `Service Name` custom
    dimension (requests, 1.4.x model data), the model-data literal's (1.5.x), else a role name that is
    not 1.4.x's shared `azmlinfsrv`. None: the row names no service (1.4.x print lines, exceptions)."""
    service = properties.get(SERVICE_DIMENSION)
    if not service and record is not None:
        service = record.service
    if not service and role and role != GENERIC_ROLE:
        service = role
    return str(service) if service else None


def target_label(role: str | None, properties: dict[str, Any], model_data: ModelDataRecord | None) -> str:
    """The service the row names (row_service), else its role (`azmlinfsrv`)."""
    return row_service(role, properties, model_data) or str(role or "")


# ---------------------------------------------------------------------------------------------------
# Trace rows → events
# ---------------------------------------------------------------------------------------------------
@dataclass
class TraceEvent:
    timestamp: dt.datetime
    ingested: dt.datetime | None
    item_id: str
    message: str
    severity_level: int | None
    target: str
    instance: str | None
    operation_id: str | None
    properties: dict[str, Any] = field(default_factory=dict)
    model_data: ModelDataRecord | None = None

    @property
    def severity(self) -> str:
        return SEVERITY_NAMES.get(self.severity_level, "") if self.severity_level is not None else ""

    def order(self) -> tuple[dt.datetime, dt.datetime, str]:
        """Event time first; ties by ingestion time, then id (a stable order for equal times)."""
        return (self.timestamp, self.ingested or self.timestamp, self.item_id)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "timestamp": iso_utc(self.timestamp, "milliseconds"),
            "ingested": iso_utc(self.ingested, "milliseconds") if self.ingested else None,
            "target": self.target,
            "severity": self.severity,
            "message": self.message,
            "instance": self.instance,
            "operationId": self.operation_id,
            "itemId": self.item_id,
        }
        if self.model_data is not None:
            data["modelData"] = _model_data_dict(self.model_data)
        else:
            data["properties"] = self.properties
        return data


def _model_data_dict(md: ModelDataRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "requestId": md.request_id,
        "clientRequestId": md.client_request_id,
        "models": md.models,
        "input": md.input,
        "prediction": md.prediction,
        "truncated": md.truncated,
        "generation": md.generation,
    }
    if md.truncated:
        data["cut"] = md.cut  # the properties App Insights cut, or lost past the cut
        data["raw"] = md.raw
    return data


def as_datetime(value: Any) -> dt.datetime | None:
    """A query answer's datetime cell (a datetime, or ISO text) in UTC; None when it is neither."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _properties(value: Any) -> dict[str, Any]:
    """Dynamic columns arrive as JSON text; anything else that is not an object becomes {}."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _severity(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _event(row: Sequence[Any], at: dict[str, int], timestamp: dt.datetime, *, model_data: bool) -> TraceEvent:
    """One event from a row; `at` maps each TRACE_ROW column to its index in the row."""
    props = _properties(row[at[TRACE_ROW.properties]])
    record = decode_model_data(props) if model_data else None
    role, message, item_id = row[at[TRACE_ROW.role]], row[at[TRACE_ROW.message]], row[at[TRACE_ROW.item_id]]
    target = row[at[TRACE_ROW.target]] if TRACE_ROW.target in at else None
    return TraceEvent(
        timestamp=timestamp,
        ingested=as_datetime(row[at[TRACE_ROW.ingested]]),
        # Every App Insights record has an itemId; the stand-in only keeps a malformed row from
        # breaking de-duplication.
        item_id=str(item_id) if item_id else f"{timestamp.isoformat()}|{role}|{message}",
        message="" if message is None else str(message),
        severity_level=_severity(row[at[TRACE_ROW.severity]]),
        target=target or target_label(role, props, record),
        instance=row[at[TRACE_ROW.instance]] or None,
        operation_id=row[at[TRACE_ROW.operation]] or None,
        properties=props,
        model_data=record,
    )


def events_from(result: QueryResult, *, model_data: bool) -> list[TraceEvent]:
    """The events of a traces answer, in the answer's order (rows without a time are skipped)."""
    table = result.primary
    at = {name: i for i, name in enumerate(table.columns)}
    missing = [name for name in TRACE_ROW.columns() if name not in at]
    if missing:
        raise AmlmonError(f"the query service answered without the columns {', '.join(missing)}")
    i_time = at[TRACE_ROW.time]
    events = []
    for row in table.rows:
        timestamp = as_datetime(row[i_time])
        if timestamp is not None:
            events.append(_event(row, at, timestamp, model_data=model_data))
    return events
