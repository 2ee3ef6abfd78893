"""Durations and instants as users type them."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlmon.errors import UsageError
from amlmon.timeparse import iso_timespan, parse_duration, parse_instant, time_range

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("7d", 604800),
        ("1w", 604800),
        ("500ms", 0.5),
        ("1.5h", 5400),
        ("PT1H30M", 5400),
        ("P1D", 86400),
        (" 15M ", 900),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "abc", "10", "-5m", "0s", "PT", "P", "5 parsecs", "99999w"])
def test_bad_durations_name_the_option_and_an_example(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_duration(text, option="--since")
    assert "--since" in info.value.message and "10m" in str(info.value.hint)


@given(amount=st.integers(min_value=1, max_value=3000), unit=st.sampled_from(["s", "m", "h", "d"]))
def test_duration_round_trip(amount: int, unit: str) -> None:
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration(f"{amount}{unit}") == dt.timedelta(seconds=amount * factor)


@given(st.text(max_size=20))
def test_parse_duration_never_crashes(text: str) -> None:
    with contextlib.suppress(UsageError):
        assert parse_duration(text) > dt.timedelta(0)


def test_instants() -> None:
    assert parse_instant("2h", now=NOW) == NOW - dt.timedelta(hours=2)
    assert parse_instant("2026-11-25T10:00:00Z", now=NOW) == dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    assert parse_instant("2026-11-25", now=NOW) == dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    assert parse_instant("2026-11-25T12:00:00+02:00", now=NOW) == dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    with pytest.raises(UsageError):
        parse_instant("yesterday-ish", now=NOW)


def test_time_range_and_timespan() -> None:
    start, end = time_range("1h", None, default_since="10m", now=NOW)
    assert (start, end) == (NOW - dt.timedelta(hours=1), NOW)
    assert iso_timespan(start, end) == "2026-11-25T11:00:00.000000Z/2026-11-25T12:00:00.000000Z"
    assert time_range(None, None, default_since="10m", now=NOW)[0] == NOW - dt.timedelta(minutes=10)
    with pytest.raises(UsageError):
        time_range("1h", "2h", default_since="10m", now=NOW)
