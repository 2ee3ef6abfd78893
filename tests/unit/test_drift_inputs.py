"""How `amlmon drift` finds features in model inputs, parses windows and --threshold (properties)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.drift.compare import Thresholds
from amlmon.drift.inputs import FeatureValues, feature_rows
from amlmon.drift.windows import parse_window
from amlmon.errors import UsageError

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
names = st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=1, max_size=6, unique=True)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.lists(st.lists(scalars, min_size=6, max_size=6), min_size=1, max_size=8), names)
def test_positional_data_rows_are_named_by_position_or_by_the_names_given(
    width: int, table: list[list[Any]], given_names: list[str]
) -> None:
    rows = [row[:width] for row in table]
    by_position = feature_rows({"data": rows})
    assert by_position == [{str(i): v for i, v in enumerate(row)} for row in rows]
    named = feature_rows({"data": rows}, given_names)
    expected_names = [*given_names, *map(str, range(len(given_names), width))][:width]
    assert [list(row) for row in named] == [expected_names] * len(rows)
    assert [list(row.values()) for row in named] == rows


@settings(max_examples=300, deadline=None)
@given(names, st.lists(st.lists(scalars, min_size=6, max_size=6), min_size=1, max_size=5))
def test_object_rows_split_orientation_and_records_agree(columns: list[str], table: list[list[Any]]) -> None:
    rows = [dict(zip(columns, row, strict=False)) for row in table]
    data = [row[: len(columns)] for row in table]
    assert feature_rows(rows) == rows  # collector DataFrame records
    assert (
        feature_rows({"input_data": {"columns": columns, "index": list(range(len(data))), "data": data}})
        == rows
    )
    assert feature_rows(rows[0]) == [rows[0]]  # one JSON object


def test_outputs_one_prediction_per_row() -> None:
    assert feature_rows([0.2, 0.9], outputs=True) == [{"prediction": 0.2}, {"prediction": 0.9}]
    assert feature_rows([[0.1, 0.9]], outputs=True) == [{"0": 0.1, "1": 0.9}]
    assert feature_rows(0.3, outputs=True) == [{"prediction": 0.3}]
    assert feature_rows([1, 2, 3]) == [{"0": 1, "1": 2, "2": 3}]  # an input: one row of three


@settings(max_examples=300, deadline=None)
@given(st.lists(scalars, max_size=40))
def test_values_are_counted_by_type_and_nothing_is_lost(values: list[Any]) -> None:
    feature = FeatureValues("x")
    for value in values:
        feature.add(value)
    nulls = sum(v is None for v in values)
    assert feature.present == len(values) - nulls == sum(feature.types.values())
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    assert feature.numbers().tolist() == [float(v) for v in numbers]
    assert sum(feature.categories.values()) == len(values) - nulls - len(numbers)


NOW = dt.datetime(2026, 11, 30, 12, 0, 30, tzinfo=dt.UTC)


def test_windows_relative_aligned_to_the_minute_absolute_exact() -> None:
    window = parse_window("14d..7d", "--baseline", NOW)
    assert window.start == dt.datetime(2026, 11, 16, 12, 0, tzinfo=dt.UTC)
    assert window.end == dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    assert parse_window("1d", "--current", NOW).end == dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    exact = parse_window("2026-11-01T00:00:05Z..2026-11-08", "--baseline", NOW)
    assert (exact.start.second, exact.end.day, exact.production_days) == (5, 8, 7)
    for bad in ("7d..14d", "..1d", "yesterday", "1d..x"):
        with pytest.raises(UsageError):
            parse_window(bad, "--baseline", NOW)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_thresholds_apply_to_the_kinds_they_exist_for(value: float) -> None:
    both = Thresholds.parse([f"jensen_shannon_distance={value}"])
    assert (
        both.get("numerical", "jensen_shannon_distance")
        == value
        == both.get("categorical", "jensen_shannon_distance")
    )
    numerical = Thresholds.parse([f"numerical.jensen_shannon_distance={value}"])
    assert numerical.get("categorical", "jensen_shannon_distance") == 0.1  # Azure ML's default kept
    p_value = value / 1e6  # a p-value threshold is between 0 and 1 (above 1 always breaches: refused)
    ks = Thresholds.parse([f"two_sample_kolmogorov_smirnov_test={p_value}"])
    assert ks.get("numerical", "two_sample_kolmogorov_smirnov_test") == p_value
    assert ks.get("categorical", "two_sample_kolmogorov_smirnov_test") is None
    assert (
        Thresholds.parse([f"chi_squared_test={p_value}"]).get("categorical", "pearsons_chi_squared_test")
        == p_value
    )
    if value > 1:
        with pytest.raises(UsageError, match="is a p-value, between 0 and 1"):
            Thresholds.parse([f"two_sample_kolmogorov_smirnov_test={value}"])


@pytest.mark.parametrize(
    "spec",
    ["jsd=0.1", "jensen_shannon_distance", "jensen_shannon_distance=-1", "jensen_shannon_distance=nan",
     "ordinal.jensen_shannon_distance=0.1", "categorical.normalized_wasserstein_distance=0.1"],
)  # fmt: skip
def test_bad_thresholds_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError):
        Thresholds.parse([spec])


def test_a_monitor_for_windows_uses_rolling_lookback_windows_and_validates() -> None:
    import json
    from pathlib import Path

    from amlmon.drift.monitor import monitor_schedule
    from tests.schema_check import validate

    report = {
        "features": [{"feature": "age", "kind": "numerical"}, {"feature": "plan", "kind": "categorical"}]
    }
    now = dt.datetime.now(dt.UTC)
    schedule = monitor_schedule(
        report,
        endpoint="credit",
        deployment="blue",
        thresholds=Thresholds.parse(["two_sample_kolmogorov_smirnov_test=0.01"]),
        current=parse_window("1d", "--current", now),
        baseline=parse_window("14d..7d", "--baseline", now),
        outputs=True,
    )
    schema = json.loads((Path(__file__).parent.parent / "data" / "monitorSchedule.schema.json").read_text())
    assert validate(schedule, schema) == []
    signal = schedule["create_monitor"]["monitoring_signals"]["prediction_drift"]
    assert signal["production_data"] == {
        "data_context": "model_outputs",
        "data_window": {"lookback_window_offset": "P0D", "lookback_window_size": "P1D"},
    }
    assert signal["reference_data"]["data_window"] == {
        "lookback_window_offset": "P7D",
        "lookback_window_size": "P7D",
    }
    assert signal["metric_thresholds"]["numerical"]["two_sample_kolmogorov_smirnov_test"] == 0.01
    assert signal["metric_thresholds"]["categorical"] == {"jensen_shannon_distance": 0.1}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.just(float("nan")), st.integers(-(10**6), 10**6)), max_size=40),
    st.sampled_from(["float64", "float32", "int64", "decimal"]),
    st.integers(0, 10),
    st.integers(0, 10),
)
def test_arrow_numbers_are_the_non_null_values_whatever_the_type_nulls_and_slice(
    values: list[Any], kind: str, start: int, drop: int
) -> None:
    """Numbers come from Arrow's buffer (not to_numpy, which imports pandas): the offset of a sliced
    array, nulls, NaN and the other numeric types must give exactly the values a Python loop gives."""
    import decimal

    import numpy as np
    import pyarrow as pa

    from amlmon.drift.inputs import add_arrow

    if kind == "decimal":
        items = [None if v is None or v != v else decimal.Decimal(v) for v in values]
        array = pa.array(items, type=pa.decimal128(12, 0))
    elif kind == "int64":
        array = pa.array([None if v is None or v != v else v for v in values], type=pa.int64())
    else:
        array = pa.array([None if v is None else float(v) for v in values], type=getattr(pa, kind)())
    sliced = array.slice(min(start, len(array)), max(0, len(array) - start - drop))
    expected = [float(v) for v in sliced.to_pylist() if v is not None and v == v]
    feature = FeatureValues("x")
    add_arrow(feature, sliced)
    assert feature.numbers().tolist() == expected
    assert feature.present == len(expected)
    assert feature.numbers().flags.writeable, "compare sorts the values in place"
    assert np.float64 == feature.numbers().dtype


def test_a_feature_name_from_the_data_reaches_the_terminal_as_text() -> None:
    """A column named with an escape sequence and rich markup is shown, not obeyed."""
    import io

    from amlmon.drift.render import render_terminal

    name = "\x1b[2J[bold red]x[/]"
    metric = {"metric": "normalized_wasserstein_distance", "value": 0.5, "threshold": 0.1, "breached": True}
    report = {
        "baseline": {"source": "a.csv", "rows": 2},
        "current": {"source": "b.csv", "rows": 2},
        "features": [
            {
                "feature": name,
                "kind": "categorical",
                "metrics": [metric],
                "histogram": {"categories": [name], "baseline": [1], "current": [1]},
            }
        ],
        "breached": True,
    }
    out = io.StringIO()
    render_terminal(report, out, no_color=True)
    text = out.getvalue()
    assert "\x1b" not in text, "no escape sequence reaches the terminal"
    assert "[bold red]x[/]" in text, "markup in a name is printed as written"
