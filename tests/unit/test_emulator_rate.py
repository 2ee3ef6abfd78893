"""`amlmon emulator seed --rate`: requests per unit, always converted to requests per minute."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlmon.cli.emulator import parse_rate
from amlmon.errors import UsageError

PER_MINUTE = {"s": 60.0, "min": 1.0, "minute": 1.0, "h": 1 / 60, "hour": 1 / 60, "day": 1 / 1440}


@given(
    number=st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(sorted(PER_MINUTE)),
    upper=st.booleans(),
)
def test_a_rate_is_its_number_scaled_by_its_unit(number: float, unit: str, upper: bool) -> None:
    text = f"{number!r}/{unit.upper() if upper else unit}"
    assert parse_rate(text) == pytest.approx(number * PER_MINUTE[unit])


def test_a_bare_number_is_per_minute_and_600_an_hour_is_10_a_minute() -> None:
    assert parse_rate("50") == 50.0
    assert parse_rate("600/hour") == pytest.approx(10.0)


@given(
    text=st.one_of(
        st.sampled_from(["-5/min", "0/min", "nan/min", "inf/min", "5/fortnight", "", "/min", "5/"]),
        st.text(alphabet="abc/%-.", max_size=8),
    )
)
def test_anything_else_is_a_usage_error_with_examples(text: str) -> None:
    if text == "5/":
        assert parse_rate(text) == 5.0  # an empty unit is the default, per minute
        return
    with pytest.raises(UsageError) as info:
        parse_rate(text)
    assert info.value.exit_code == 2 and "600/hour" in str(info.value.hint)
