"""Building KQL. Every value a user gives passes through one of these literal functions.

KQL string literals are double-quoted with backslash escapes. Backslash, double quote and the
line/tab controls are escaped; other control characters have no escape in KQL and are refused rather
than passed through, so no input can end a literal early or start a new statement.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from amlmon.errors import UsageError

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def string(value: str) -> str:
    """A KQL string literal whose value is exactly `value`."""
    if _FORBIDDEN.search(value):
        raise UsageError(
            f"{value!r} contains a control character that cannot appear in a query",
            hint="remove control characters from the value",
        )
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def string_list(values: Iterable[str]) -> str:
    """`("a", "b")` for `in (...)` / `has_any (...)`."""
    return "(" + ", ".join(string(v) for v in values) + ")"


def datetime(value: dt.datetime) -> str:
    """`datetime(2026-11-25T10:00:00.000000Z)` (naive values are taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return f"datetime({value.isoformat(timespec='microseconds')}Z)"  # isoformat pads the year to 4 digits


def timespan(value: dt.timedelta) -> str:
    """A timespan literal in the largest exact unit: `90s`, `1500ms`, `7d`."""
    micros = round(value.total_seconds() * 1_000_000)
    for unit, size in (
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1000),
    ):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}microseconds"


def identifier(name: str) -> str:
    """A column or table name; names that are not plain identifiers are bracket-quoted."""
    if _IDENTIFIER.match(name):
        return name
    return "[" + string(name) + "]"


def real(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"{value} is not a finite number")
    return repr(float(value))
