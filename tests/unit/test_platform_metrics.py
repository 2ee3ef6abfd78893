"""The metrics pieces that are pure: the emulator's `$filter` parser and percentile, and amlmon's
reading of a Metrics_List answer and its --max-cpu/--max-memory/--max-collection-errors options."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlmon.emulator.platform_metrics import _filters, _iso_duration, _percentile, _timespan
from amlmon.errors import UsageError
from amlmon.platform_metrics import _points, metric_thresholds

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DIMENSIONS = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True)
VALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


def _odata(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@FAST
@given(st.lists(st.tuples(DIMENSIONS, VALUES), min_size=1, max_size=4), st.sampled_from([" and ", "  AND  "]))
def test_filter_round_trips_any_value_including_quotes_and_and(
    clauses: list[tuple[str, str]], joiner: str
) -> None:
    text = joiner.join(f"{name} eq {_odata(value)}" for name, value in clauses)
    assert _filters(text) == [(name.lower(), value) for name, value in clauses]


@pytest.mark.parametrize(
    "text", ["deployment eq blue", "deployment eq 'blue' or x eq 'y'", "deployment eq 'blue", "eq 'x'"]
)
def test_filter_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError):
        _filters(text)


@FAST
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=200), st.sampled_from([50, 90, 95, 99]))
def test_percentile_is_the_nearest_rank(values: list[int], p: int) -> None:
    found = _percentile([float(v) for v in values], p)
    assert found in values
    at_or_below = sum(v <= found for v in values)
    assert at_or_below >= math.ceil(p / 100 * len(values))
    assert sum(v < found for v in values) < math.ceil(p / 100 * len(values))


def test_timespan_and_full_interval_forms() -> None:
    start, end = _timespan("2026-11-30T10:00:00Z/2026-11-30T11:30:00Z")
    assert end - start == 5400 and _iso_duration(end - start) == "PT1H30M"
    start, end = _timespan("2026-11-30T10:00:00Z/PT2H")
    assert end - start == 7200 and _iso_duration(86400 + 60) == "P1DT1M"


def _answer(*series: tuple[str, dict[str, str], dict[str, float]]) -> dict[str, object]:
    """A Metrics_List answer as azure-mgmt-monitor's as_dict() gives it."""
    return {
        "timespan": "x",
        "value": [
            {
                "name": {"value": name, "localized_value": name},
                "timeseries": [
                    {
                        "metadatavalues": [
                            {"name": {"value": k, "localized_value": k}, "value": v} for k, v in dims.items()
                        ],
                        "data": [{"time_stamp": "2026-11-30T10:00:00Z", **values}],
                    }
                ],
            }
            for name, dims, values in series
        ],
    }


def test_points_keep_dimensions_lower_case_and_only_present_aggregations() -> None:
    points = _points(
        _answer(
            ("RequestsPerMinute", {"deployment": "blue", "statusCodeClass": "5xx"}, {"total": 2.0}),
            ("CpuUtilizationPercentage", {}, {"average": 3.5, "maximum": 7.0}),
        )
    )
    assert [(p.metric, p.dims, p.values) for p in points] == [
        ("RequestsPerMinute", {"deployment": "blue", "statuscodeclass": "5xx"}, {"total": 2.0}),
        ("CpuUtilizationPercentage", {}, {"average": 3.5, "maximum": 7.0}),
    ]


def test_metric_thresholds_read_percent_and_counts() -> None:
    cpu, memory, errors = metric_thresholds("80%", "0.5", "0")
    assert (cpu.name, cpu.limit, memory.limit, errors.limit) == ("maxCpu", 0.8, 0.5, 0.0)
    stats = {"cpu": {"maxPercent": 85.0}, "memory": {"maxPercent": None}, "dataCollection": {"errors": 2}}
    assert cpu.metric(stats) == pytest.approx(0.85) and memory.metric(stats) is None
    assert errors.metric(stats) == 2.0
    with pytest.raises(UsageError, match="--max-memory"):
        metric_thresholds(None, "lots", None)
    with pytest.raises(UsageError, match="--max-collection-errors"):
        metric_thresholds(None, None, "-1")
