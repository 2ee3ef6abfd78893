"""Gate thresholds: `1%`, `0.01`, `500ms`, `1.5s`, counts — and how a gate decides."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon import stats
from amlmon.errors import UsageError
from amlmon.gate import build_thresholds, evaluate, parse_count, parse_latency, parse_rate
from amlmon.render import stats as render_stats


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1%", 0.01),
        ("0.01", 0.01),
        ("0.5 %", 0.005),
        ("100%", 1.0),
        ("0", 0.0),
        (" 2.5% ", 0.025),
        (".1", 0.1),
    ],
)
def test_rates(text: str, expected: float) -> None:
    assert parse_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"), [("500ms", 500), ("2s", 2000), ("1.5s", 1500), ("250 MS", 250), ("1m", 60000)]
)
def test_latencies(text: str, expected: float) -> None:
    assert parse_latency(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["", "%", "1%%", "-1%", "1.5", "1", "1.0", "5", "101%", "one", "1e-2", "nan", "inf", "0x10"]
)
def test_bad_rates_are_usage_errors_with_an_example(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_rate(text, option="--max-failure-rate")
    assert "--max-failure-rate" in caught.value.message
    assert caught.value.hint and "--max-failure-rate" in caught.value.hint
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("text", ["", "ms", "-5ms", "5 sec", "5h", "1e3", "inf", "500us"])
def test_bad_latencies(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_latency(text, option="--max-p95")
    assert caught.value.hint and "500ms" in caught.value.hint


@pytest.mark.parametrize("text", ["2", "250", "0.5", " 7 "])
def test_a_latency_without_a_unit_is_refused_with_the_accepted_forms(text: str) -> None:
    # `--max-p95 2` used to mean 2 ms: a gate the user meant as 2 s failed (or one meant as 2 ms passed).
    with pytest.raises(UsageError, match="has no unit") as caught:
        parse_latency(text, option="--max-p95")
    hint = caught.value.hint or ""
    assert f"--max-p95 {text.strip()}ms" in hint and f"--max-p95 {text.strip()}s" in hint
    assert "units: ms, s, m" in hint


@pytest.mark.parametrize("text", ["", "-1", "1.5", "ten", "1e3"])
def test_bad_counts(text: str) -> None:
    with pytest.raises(UsageError):
        parse_count(text, option="--min-requests")


@settings(max_examples=200, deadline=None)
@given(percent=st.decimals(min_value=0, max_value=100, places=3))
def test_a_percentage_is_the_fraction_it_names(percent: Any) -> None:
    text = f"{percent}%"
    assert parse_rate(text) == pytest.approx(float(percent) / 100)
    assert 0.0 <= parse_rate(text) <= 1.0


@settings(max_examples=200, deadline=None)
@given(fraction=st.decimals(min_value=0, max_value="0.9999", places=4))
def test_a_fraction_is_itself_and_equals_its_percentage(fraction: Any) -> None:
    assert parse_rate(str(fraction)) == pytest.approx(float(fraction))
    assert parse_rate(f"{fraction * 100}%") == pytest.approx(float(fraction))


@settings(max_examples=200, deadline=None)
@given(ms=st.integers(min_value=0, max_value=10_000_000))
def test_units_agree(ms: int) -> None:
    assert parse_latency(f"{ms}ms") == ms
    assert parse_latency(f"{ms / 1000}s") == pytest.approx(ms)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=12))
def test_parsers_return_a_value_or_a_usage_error_never_anything_else(text: str) -> None:
    for parse in (parse_rate, parse_latency, parse_count):
        try:
            value = parse(text)
        except UsageError:
            continue
        assert isinstance(value, int | float) and math.isfinite(value) and value >= 0


def _stats(count: int, failures: int = 0, p95: float | None = None, exceptions: int = 0) -> dict[str, Any]:
    rate = failures / count if count else None
    return {
        "window": {"start": "s", "end": "e", "seconds": 900.0},
        "source": "app-insights",
        "targets": [
            {
                "target": "svc",
                "requests": {"count": count, "failureRate": rate, "p95": p95 if count else None, "p99": None},
                "dependencies": {"count": 0, "failureRate": None},
                "exceptions": {"count": exceptions},
            }
        ],
    }


def test_every_threshold_holding_passes() -> None:
    gate = build_thresholds(max_failure_rate="1%", max_p95="500ms", max_exceptions="3")
    verdict = evaluate(_stats(200, failures=2, p95=480.0, exceptions=3), gate)
    assert verdict["passed"]
    assert [r["status"] for r in verdict["results"]] == ["PASS"] * 4


def test_a_breach_fails_with_a_line_naming_value_and_limit() -> None:
    gate = build_thresholds(max_failure_rate="1%", max_p95="500ms")
    verdict = evaluate(_stats(200, failures=3, p95=480.0), gate)
    assert not verdict["passed"]
    failed = [r for r in verdict["results"] if r["status"] == "FAIL"]
    assert [r["check"] for r in failed] == ["maxFailureRate"]
    assert failed[0]["reason"] == "svc: failure rate 1.50% > 1%"


def test_no_traffic_fails_by_default_even_with_other_thresholds_vacuous() -> None:
    verdict = evaluate(_stats(0), build_thresholds(max_failure_rate="1%", max_p95="1s"))
    assert not verdict["passed"]
    assert verdict["results"][0]["reason"] == "svc: only 0 requests in 15m, at least 1 required"
    assert {r["status"] for r in verdict["results"][1:]} == {"SKIP"}


def test_no_traffic_passes_only_when_explicitly_allowed() -> None:
    verdict = evaluate(_stats(0), build_thresholds(max_failure_rate="1%", min_requests="0"))
    assert verdict["passed"]


def test_too_few_requests() -> None:
    verdict = evaluate(_stats(3), build_thresholds(min_requests="10"))
    assert not verdict["passed"]
    assert verdict["results"][0]["reason"] == "svc: only 3 requests in 15m, at least 10 required"


def test_default_bins_are_round_and_bounded() -> None:
    import datetime as dt

    for minutes in (1, 15, 60, 24 * 60, 7 * 24 * 60, 90 * 24 * 60):
        size = stats.default_bin(dt.timedelta(minutes=minutes))
        assert dt.timedelta(minutes=minutes) / size <= 24 or size == dt.timedelta(days=1)
        assert dt.timedelta(days=1) % size == dt.timedelta(0)


@pytest.mark.parametrize("text", ["7m", "7s", "500ms", "2d"])
def test_a_bin_must_divide_a_day(text: str) -> None:
    import datetime as dt

    from amlmon.timeparse import parse_duration

    with pytest.raises(UsageError, match="divide a day"):
        stats.check_bin(parse_duration(text), dt.timedelta(days=7))


def test_too_many_bins_is_a_usage_error() -> None:
    import datetime as dt

    with pytest.raises(UsageError, match="more than"):
        stats.check_bin(dt.timedelta(seconds=10), dt.timedelta(days=7))


def test_sparkline() -> None:
    assert render_stats.sparkline([0, 5, 10, None]) == "▁▅█ "
    assert render_stats.sparkline([None, None]) == "  "


# Every threshold option of `check`, and a value of its own kind that it accepts (the control).
CHECK_THRESHOLDS = [
    ("--max-collection-errors", "0", "whole number of 0 or more"),
    ("--max-exceptions", "0", "whole number of 0 or more"),
    ("--min-requests", "0", "whole number of 0 or more"),
    ("--max-cpu", "80%", "percentage from 0% to 100%"),
    ("--max-memory", "80%", "percentage from 0% to 100%"),
    ("--max-failure-rate", "1%", "percentage from 0% to 100%"),
    ("--max-dependency-failure-rate", "5%", "percentage from 0% to 100%"),
    ("--max-p50", "200ms", "duration of 0 or more"),
    ("--max-p95", "500ms", "duration of 0 or more"),
    ("--max-p99", "2s", "duration of 0 or more"),
]


def _check(tmp_path: Any, *args: str) -> Any:
    """`amlmon check` with a scope and cloud that reach nothing: a usage error is found before any call."""
    from tests.conftest import run_cli

    env = {
        "HOME": str(tmp_path),
        "AZURE_CONFIG_DIR": str(tmp_path / "az"),
        "AMLMON_CLOUD": "local",
        "AMLMON_EMULATOR_DIR": str(tmp_path / "none"),
    }
    return run_cli(["check", "ep", *args, "--subscription", "s", "-g", "rg", "-w", "ws"], env)


@pytest.mark.parametrize(("option", "accepted", "allowed"), CHECK_THRESHOLDS)
@pytest.mark.parametrize("negative", ["-1", "-0.5", "-5%", "-100ms"])
def test_a_negative_threshold_is_one_error_naming_option_and_value_and_a_hint(
    tmp_path: Any, option: str, accepted: str, allowed: str, negative: str
) -> None:
    # `--max-collection-errors -1` said "'-1' is not a whole number" (it is one): now it says negative.
    result = _check(tmp_path, option, negative)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {option} {negative!r} is negative", lines
    assert lines[1].startswith(f"hint: {option} takes a ") and allowed in lines[1], lines
    assert len(lines) == 2 and result.stdout == ""


@pytest.mark.parametrize(("option", "accepted", "allowed"), CHECK_THRESHOLDS)
def test_the_same_option_with_its_value_of_zero_or_more_is_not_refused_as_negative(
    tmp_path: Any, option: str, accepted: str, allowed: str
) -> None:
    # The control: the value parses, so the run gets as far as the workspace (which is not there).
    result = _check(tmp_path, option, accepted)
    assert result.stderr.startswith("error: the local emulator is not running"), result.stderr


def test_a_negative_throttle_delay_is_refused_as_negative(tmp_path: Any) -> None:
    result = _check(tmp_path, "--endpoint-logs", "--max-throttle-delay", "-1")
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        "error: --max-throttle-delay '-1' is negative",
        "hint: --max-throttle-delay takes a duration of 0 or more, e.g. --max-throttle-delay "
        "500ms, 1.5s or 1m (units: ms, s, m)",
    ]
