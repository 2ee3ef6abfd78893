"""Decoding model_data_collection traces of both inference-server generations (AZURE-FACTS.md)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.packed import read_packed
from amlmon.telemetry import APP_INSIGHTS_VALUE_LIMIT, decode_model_data
from tests.helpers import reference_telemetry


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


# The fast reader of 1.5.x records: the same answers as ast.literal_eval, or none.
_FIELD = st.one_of(st.none(), st.text(st.characters(exclude_categories=["Cs"])))
_SERVER_KEYS = [
    "Container Id",
    "Request Id",
    "Client Request Id",
    "Workspace Name",
    "Service Name",
    "Models",
    "Input",
    "Prediction",
]
_MODELS = st.one_of(st.none(), st.lists(st.text(max_size=12), max_size=3).map(tuple))
# Built in the server's own key order (a dict's repr follows insertion order).
_SERVER_RECORDS = st.tuples(*([_FIELD] * 5), _MODELS, _FIELD, _FIELD).map(
    lambda values: dict(zip(_SERVER_KEYS, values, strict=True))
)


@settings(max_examples=400, deadline=None)
@given(fields=_SERVER_RECORDS)
def test_read_packed_reads_every_record_the_server_writes_like_ast_literal_eval(
    fields: dict[str, Any],
) -> None:
    import ast

    text = repr(fields)  # what azureml-inference-server-http 1.5.x logs
    assert read_packed(text) == ast.literal_eval(text) == fields


@settings(max_examples=300, deadline=None)
@given(
    fields=_SERVER_RECORDS,
    cut=st.integers(min_value=0, max_value=400),
    junk=st.text(max_size=6),
)
def test_read_packed_never_accepts_what_python_would_not(fields: dict[str, Any], cut: int, junk: str) -> None:
    """Cut, extended or spliced records: read_packed answers None or exactly what ast.literal_eval reads."""
    import ast

    text = repr(fields)
    for candidate in (text[:cut], text[:cut] + junk + text[cut:], text + junk, junk):
        fast = read_packed(candidate)
        if fast is None:
            continue
        assert fast == ast.literal_eval(candidate)


def test_real_1_5_record_and_its_truncated_form() -> None:
    import json

    fields = {
        "Container Id": "c",
        "Request Id": "r-1",
        "Client Request Id": None,
        "Workspace Name": "ws",
        "Service Name": "svc",
        "Models": ("churn:1",),
        "Input": json.dumps(json.dumps({"data": [[1, 'it\'s "quoted" \\ é € \U0001f600']]})),
        "Prediction": json.dumps([0.5]),
    }
    assert read_packed(repr(fields)) == fields
    record = decode_model_data({"custom_dimensions": repr(fields)})
    assert record.input == {"data": [[1, 'it\'s "quoted" \\ é € \U0001f600']]} and record.models == [
        "churn:1"
    ]
    cut = decode_model_data({"custom_dimensions": repr(fields)[:60]})
    assert cut.truncated and cut.request_id == "r-1"


# --- issue 11.5: a cut record keeps everything that is whole before the cut ---------------------------
def test_the_real_cut_1_5_record_keeps_every_key_before_the_cut() -> None:
    envelope = reference_telemetry("v1.5.1-message-model_data_collection-large-input-truncated.json")
    properties = envelope["data"]["baseData"]["properties"]
    assert len(properties["custom_dimensions"]) == APP_INSIGHTS_VALUE_LIMIT
    record = decode_model_data(properties)
    assert record.truncated and record.cut == ["Input", "Prediction"]
    assert (record.container_id, record.request_id, record.client_request_id) == (
        "container-abc123",
        "f6a05363-9f4e-4d3a-870b-23e79d89ea54",
        "client-req-large-0005",
    )
    assert (record.workspace, record.service, record.models) == ("my-workspace", "my-service", ["mymodel:3"])
    assert record.input is None and record.prediction is None


def test_a_cut_1_4_input_leaves_the_prediction_whole() -> None:
    properties = {
        "Request Id": "req-5",
        "Service Name": "svc",
        "Models": '["m:1"]',
        "Input": json.dumps(json.dumps({"data": "x" * 20_000}))[:APP_INSIGHTS_VALUE_LIMIT],
        "Prediction": json.dumps([0.25]),
    }
    record = decode_model_data(properties)
    assert record.truncated and record.cut == ["Input"]
    assert record.input is None and record.prediction == [0.25] and record.request_id == "req-5"


def _value_ends(fields: dict[str, Any]) -> list[int]:
    """Where each key's value ends in repr(fields): the key is whole in a prefix at least that long."""
    ends, text = [], "{"
    for index, (key, value) in enumerate(fields.items()):
        text += ("" if index == 0 else ", ") + f"{key!r}: {value!r}"
        ends.append(len(text))
    assert text + "}" == repr(fields)
    return ends


@settings(max_examples=150, deadline=None)
@given(fields=_SERVER_RECORDS)
def test_every_prefix_recovers_exactly_the_keys_that_are_whole(fields: dict[str, Any]) -> None:
    from amlmon.packed import PACKED_KEYS, read_packed_prefix

    text = repr(fields)
    ends = _value_ends(fields)
    for cut in range(len(text) + 1):
        whole = {key: value for (key, value), end in zip(fields.items(), ends, strict=True) if end <= cut}
        recovered, missing = read_packed_prefix(text[:cut])
        assert recovered == whole, (cut, text[:cut])
        assert missing == [key for key in PACKED_KEYS if key not in whole]
