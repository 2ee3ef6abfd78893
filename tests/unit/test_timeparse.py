"""Durations and instants as users type them."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

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


# --- dates at the edges (issue 12.5) -------------------------------------------------------------

from hypothesis import settings  # noqa: E402

from amlmon.timeparse import EARLIEST, LATEST, iso_utc, parse_timespan  # noqa: E402

_instants = st.datetimes(
    min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59), timezones=st.none()
)
_offsets = st.sampled_from(["", "Z", "+00:00", "+14:00", "-12:00", "+23:59", "-23:59"])
_instant_texts = st.one_of(
    st.builds(lambda v, z: v.isoformat() + z, _instants, _offsets),
    st.builds(lambda v: v.date().isoformat(), _instants),
    st.builds(
        lambda n, u: f"{n}{u}", st.integers(0, 10**30), st.sampled_from(["ms", "s", "m", "h", "d", "w"])
    ),
    st.builds(lambda n: f"P{n}D", st.integers(0, 10**12)),
    st.text(max_size=30),
)
_timespan_texts = st.one_of(
    _instant_texts,
    st.builds(lambda a, b: f"{a}/{b}", _instant_texts, _instant_texts),
    st.just("9999-12-31T23:59:59Z/P1D"),
    st.just("P1D/0001-01-01"),
)


@settings(max_examples=1500, deadline=None)
@given(_instant_texts)
def test_an_instant_parses_in_range_or_is_a_usage_error(text: str) -> None:
    try:
        value = parse_instant(text, now=NOW, option="--since")
    except UsageError:
        return
    assert EARLIEST <= value <= LATEST
    assert len(iso_utc(value).split("-")[0]) == 4


@settings(max_examples=1500, deadline=None)
@given(_timespan_texts)
def test_a_timespan_parses_in_range_or_is_a_usage_error(text: str) -> None:
    try:
        begin, finish = parse_timespan(text, now=NOW)
    except UsageError:
        return
    assert begin < finish
    assert all(iso_utc(v)[:4].isdigit() and iso_utc(v)[4] == "-" for v in (begin, finish))


@pytest.mark.parametrize(
    "text", ["0001-01-01", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z", "1899-12-31T23:59:59Z"]
)
def test_instants_outside_the_range_name_the_range(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_instant(text, now=NOW, option="--since")
    assert "out of range" in raised.value.message and "1900-01-01" in str(raised.value.hint)


def test_every_sent_timestamp_has_a_four_digit_year() -> None:
    from amlmon import kql

    early = dt.datetime(5, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert iso_utc(early) == "0005-01-02T03:04:05.000000Z"
    assert kql.datetime(early) == "datetime(0005-01-02T03:04:05.000000Z)"
    assert iso_timespan(early, early + dt.timedelta(days=1)).startswith("0005-01-02T")


@pytest.mark.parametrize(
    "args",
    [
        ["query", "traces | take 1", "--timespan", "9999-12-31T23:59:59Z/P1D"],
        ["data", "pull", "--out", "x.jsonl", "--since", "0001-01-01"],
        ["traces", "--since", "0001-01-01"],
        ["check", "--since", "9999-12-31"],
    ],
)
def test_commands_refuse_times_out_of_range_with_exit_2(args: list[str], tmp_path: Any) -> None:
    from tests.conftest import run_cli

    env = {
        "HOME": str(tmp_path),
        "AZURE_CONFIG_DIR": str(tmp_path / "az"),
        "AMLMON_CLOUD": "local",
        "AMLMON_EMULATOR_DIR": str(tmp_path / "none"),
    }
    result = run_cli([*args, "--subscription", "s", "-g", "rg", "-w", "ws"], env)
    assert result.exit_code == 2, result.stderr
    assert "out of range" in result.stderr and "1900-01-01" in result.stderr


def test_a_window_is_in_the_future_only_when_it_starts_after_now() -> None:
    from amlmon.timeparse import future_window

    now = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    tick = dt.timedelta(microseconds=1)
    assert future_window(now - dt.timedelta(hours=1), now + dt.timedelta(hours=1), now=now) is None
    assert future_window(now, now + dt.timedelta(hours=1), now=now) is None  # starts now: not ahead
    said = future_window(now + tick, now + dt.timedelta(days=1), now=now)
    assert said is not None and said.startswith("the window 2026-12-01T08:00:00Z to 2026-12-02T08:00:00Z")
    assert "now: 2026-12-01T08:00:00Z" in said
