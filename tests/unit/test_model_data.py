"""Decoding model_data_collection traces of both inference-server generations (AZURE-FACTS.md)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.telemetry import APP_INSIGHTS_VALUE_LIMIT, decode_model_data


def packed_15(request_id: str, model_input: object, prediction: object) -> dict[str, str]:
    """How 1.5.1 sends it: one property holding a Python-literal dict; Input JSON-encoded twice."""
    fields = {
        "Container Id": "ctr-1",
        "Request Id": request_id,
        "Client Request Id": "client-1",
        "Workspace Name": "ws",
        "Service Name": "svc",
        "Models": ("mymodel:3",),
        "Input": json.dumps(json.dumps(model_input)),
        "Prediction": json.dumps(prediction),
    }
    return {"custom_dimensions": repr(fields)}


def test_generation_15_decodes_input_and_prediction() -> None:
    record = decode_model_data(packed_15("req-1", {"data": [[1, 2]]}, [0.5]))
    assert record.generation == "1.5" and not record.truncated
    assert record.request_id == "req-1" and record.service == "svc" and record.models == ["mymodel:3"]
    assert record.input == {"data": [[1, 2]]}
    assert record.prediction == [0.5]


def test_generation_15_as_json_text_the_query_api_returns() -> None:
    text = json.dumps(packed_15("req-2", [1], {"label": "a"}))
    assert decode_model_data(text).prediction == {"label": "a"}


def test_truncated_15_keeps_request_id_and_raw_text() -> None:
    packed = packed_15("req-3", {"data": "x" * 20_000}, [1])["custom_dimensions"][:APP_INSIGHTS_VALUE_LIMIT]
    record = decode_model_data({"custom_dimensions": packed})
    assert record.truncated and record.request_id == "req-3"
    assert record.input is None and record.raw == packed


def test_generation_14_separate_properties() -> None:
    properties = {
        "Request Id": "req-4",
        "Service Name": "svc",
        "Models": "['m:1']",
        "Input": json.dumps({"data": [3]}),
        "Prediction": json.dumps([9]),
    }
    record = decode_model_data(properties)
    assert record.generation == "1.4" and record.input == {"data": [3]} and record.prediction == [9]
    assert record.models == ["m:1"]


def test_literal_parser_never_runs_code() -> None:
    record = decode_model_data({"custom_dimensions": "__import__('os').system('echo pwned')"})
    assert record.truncated and record.input is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None)
@given(
    model_input=json_values,
    prediction=json_values,
    request_id=st.text(alphabet="abcdef0123456789-", max_size=36),
)
def test_round_trip_any_json(model_input: object, prediction: object, request_id: str) -> None:
    record = decode_model_data(packed_15(request_id, model_input, prediction))
    assert (record.input, record.prediction, record.request_id) == (model_input, prediction, request_id)


@given(
    st.one_of(st.text(max_size=50), st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3))
)
def test_decoder_never_crashes(value: object) -> None:
    decode_model_data(value)  # type: ignore[arg-type]
