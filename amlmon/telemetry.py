"""Rows from Application Insights → typed events, for both generations of the inference server.

The model-data decoding follows what azureml-inference-server-http really sends (AZURE-FACTS.md):
1.5.x puts ONE property `custom_dimensions` holding a Python-literal dict string (single quotes,
`Models` a tuple, `Input` the request body JSON-encoded twice, `Prediction` JSON once) and cuts it at
8,192 characters; 1.4.x sends the same keys as separate properties with JSON values.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

MODEL_DATA_MESSAGE = "model_data_collection"
APP_INSIGHTS_VALUE_LIMIT = 8192
_REQUEST_ID = re.compile(r"['\"]Request Id['\"]\s*:\s*['\"]([^'\"]*)['\"]")


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _json_layers(value: Any, max_layers: int = 2) -> Any:
    """Decode JSON text up to `max_layers` times (1.5.x encodes Input twice)."""
    for _ in range(max_layers):
        if not isinstance(value, str):
            return value
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def _models(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, str):
        decoded = _parse_literal(value) if value.startswith(("(", "[")) else None
        if isinstance(decoded, list | tuple):
            return [str(v) for v in decoded]
        return [value] if value else []
    return []


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

    return ModelDataRecord(
        request_id=text("Request Id"),
        client_request_id=text("Client Request Id"),
        container_id=text("Container Id"),
        service=text("Service Name"),
        workspace=text("Workspace Name"),
        models=_models(fields.get("Models")),
        input=_json_layers(fields.get("Input")),
        prediction=_json_layers(fields.get("Prediction"), max_layers=1),
        generation=generation,
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
    packed = props.get("custom_dimensions")
    if isinstance(packed, str):
        fields = _parse_literal(packed)
        if isinstance(fields, dict):
            return _from_fields(fields, "1.5")
        match = _REQUEST_ID.search(packed)
        return ModelDataRecord(
            request_id=match.group(1) if match else None,
            truncated=True,
            generation="1.5",
            raw=packed,
        )
    if isinstance(packed, Mapping):
        return _from_fields(packed, "1.5")
    record = _from_fields(props, "1.4")
    for key in ("Input", "Prediction"):
        value = props.get(key)
        if isinstance(value, str) and len(value) >= APP_INSIGHTS_VALUE_LIMIT and _json_layers(value) is value:
            record.truncated = True
            record.raw = value
    return record
