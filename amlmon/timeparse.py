"""Time syntax shared by every command: `30s`, `10m`, `2h`, `7d`, `1w`, ISO 8601 durations and instants."""

from __future__ import annotations

import datetime as dt
import re
from functools import partial

from amlmon.errors import UsageError

_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$", re.IGNORECASE)
_ISO_DURATION = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_EXAMPLE = "30s, 10m, 2h, 7d, 1w or PT1H"
TIME_EXAMPLE = "2026-11-25T10:00:00Z, 2026-11-25, or a duration ago such as 2h"
TIMESPAN_EXAMPLE = "PT10M, PT1H, P7D or START/END"
# Every instant a user types is checked against this range once, here: wide enough for any telemetry,
# narrow enough that adding or taking a duration (at most ten years) never leaves what datetime and
# a 4-digit ISO 8601 year can hold.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
RANGE_TEXT = "from 1900-01-01 to 9000-01-01 (UTC)"


# ISO 8601 `P10M` is ten months (and `P1Y` a year): calendar units a timespan cannot hold.
_ISO_CALENDAR = re.compile(r"^P(\d+(?:\.\d+)?)(Y|M)$", re.IGNORECASE)


def parse_duration(text: str, *, option: str = "duration", example: str = DURATION_EXAMPLE) -> dt.timedelta:
    """A positive duration: `90s`, `10m`, `1.5h`, `7d`, `1w`, `500ms` or ISO 8601 `PT1H30M`.

    `example` is what the error suggests: an option that takes only ISO 8601 passes ISO examples.
    """
    match = _SHORT.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    else:
        iso = _ISO_DURATION.match(text.strip())
        calendar = _ISO_CALENDAR.match(text.strip())
        if calendar and not iso:
            number, unit = calendar.group(1), calendar.group(2).upper()
            raise UsageError(
                f"{option} {text!r} means {number} {'month' if unit == 'M' else 'year'}(s) in ISO 8601; "
                "durations take weeks, days, hours, minutes and seconds only",
                hint=f"for {number} minutes use PT{number}M"
                if unit == "M"
                else f"use days, e.g. P{round(float(number) * 365)}D",
            )
        if not iso or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
            raise UsageError(f"{option} {text!r} is not a duration", hint=f"use e.g. {example}")
        parts = {k: float(v) for k, v in iso.groupdict().items() if v}
        seconds = (
            parts.get("w", 0) * 604800
            + parts.get("d", 0) * 86400
            + parts.get("h", 0) * 3600
            + parts.get("m", 0) * 60
            + parts.get("s", 0)
        )
    if seconds <= 0:
        raise UsageError(f"{option} {text!r} must be longer than zero", hint=f"use e.g. {example}")
    if seconds > 3650 * 86400:
        raise UsageError(f"{option} {text!r} is longer than ten years", hint=f"use e.g. {example}")
    return dt.timedelta(seconds=seconds)


def parse_instant(text: str, *, now: dt.datetime | None = None, option: str = "time") -> dt.datetime:
    """An instant in UTC: ISO 8601 (naive means UTC; a date means midnight UTC) or a duration ago."""
    now = now or dt.datetime.now(dt.UTC)
    stripped = text.strip()
    if _SHORT.match(stripped) or stripped.upper().startswith("P"):
        return now - parse_duration(stripped, option=option)
    candidate = stripped[:-1] + "+00:00" if stripped.endswith(("Z", "z")) else stripped
    try:
        value = dt.datetime.fromisoformat(candidate)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a time", hint=f"use e.g. {TIME_EXAMPLE}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before what datetime holds in UTC
        raise _out_of_range(option, text) from None
    return in_range(value, option=option, text=text)


def parse_until(text: str, *, now: dt.datetime | None = None, option: str = "--until") -> dt.datetime:
    """A stop time for something that runs from now on (a follow): a duration means from now
    (`--until 10m`: ten minutes from now), anything else is an instant as parse_instant reads it."""
    now = now or dt.datetime.now(dt.UTC)
    stripped = text.strip()
    if _SHORT.match(stripped) or stripped.upper().startswith("P"):
        return in_range(now + parse_duration(stripped, option=option), option=option, text=text)
    return parse_instant(text, now=now, option=option)


def in_range(value: dt.datetime, *, option: str, text: str) -> dt.datetime:
    """`value` itself, or the usage error naming the accepted range."""
    if not EARLIEST <= value <= LATEST:
        raise _out_of_range(option, text)
    return value


def _out_of_range(option: str, text: str) -> UsageError:
    return UsageError(f"{option} {text!r} is out of range", hint=f"give a time {RANGE_TEXT}")


def parse_timespan(
    text: str, *, now: dt.datetime | None = None, option: str = "--timespan"
) -> tuple[dt.datetime, dt.datetime]:
    """The query API's timespan syntax: a duration ending now (`PT1H`), `START/END`, `START/DURATION`
    or `DURATION/END`; start must come before end."""
    now = now or dt.datetime.now(dt.UTC)
    # The timespan takes ISO 8601 only, so its errors suggest ISO values.
    duration = partial(parse_duration, option=option, example=TIMESPAN_EXAMPLE)
    if "/" not in text:
        if not text.strip().upper().startswith("P"):
            raise UsageError(
                f"{option} {text!r} is not an ISO 8601 duration or interval", hint="e.g. PT1H or START/END"
            )
        return (now - duration(text), now)
    first, second = (part.strip() for part in text.split("/", 1))
    if first.upper().startswith("P"):
        finish = parse_instant(second, now=now, option=option)
        begin = in_range(finish - duration(first), option=option, text=text)
    else:
        begin = parse_instant(first, now=now, option=option)
        if second.upper().startswith("P"):
            finish = in_range(begin + duration(second), option=option, text=text)
        else:
            finish = parse_instant(second, now=now, option=option)
    if begin >= finish:
        raise UsageError(
            f"start ({iso_utc(begin)}) is not before end ({iso_utc(finish)})",
            hint="give an earlier start or a later end",
        )
    return (begin, finish)


def iso_utc(value: dt.datetime, timespec: str = "microseconds") -> str:
    """ISO 8601 in UTC with a `Z` and always a 4-digit year (strftime's %Y does not pad year 1).
    Naive values are taken as UTC. Every timestamp amlmon sends is written by this."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def time_range(
    since: str | None, until: str | None, *, default_since: str, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """(start, end) from --since/--until; start must come before end."""
    now = now or dt.datetime.now(dt.UTC)
    end = parse_instant(until, now=now, option="--until") if until else now
    start = parse_instant(since or default_since, now=now, option="--since")
    return ordered(start, end, "--since", "--until", hint="give an earlier --since or a later --until")


def future_window(start: dt.datetime, end: dt.datetime, *, now: dt.datetime | None = None) -> str | None:
    """A warning when the window [start, end) lies wholly after now (--since and --until both in the
    future): nothing can have been recorded in it yet. Not an error: a query of such a window (traces,
    query) runs and finds nothing, and so may a pull; the warning says why it is empty."""
    now = now or dt.datetime.now(dt.UTC)
    if start <= now:
        return None
    return (
        f"the window {iso_utc(start, 'seconds')} to {iso_utc(end, 'seconds')} lies wholly in the future "
        f"(now: {iso_utc(now, 'seconds')}): nothing can have been recorded in it yet; check --since and --until"
    )


def ordered(
    begin: dt.datetime, finish: dt.datetime, first: str, second: str, *, hint: str
) -> tuple[dt.datetime, dt.datetime]:
    """(begin, finish), or the usage error saying the option `first` is not before `second`."""
    if begin >= finish:
        raise UsageError(
            f"{first} ({begin.isoformat()}) is not before {second} ({finish.isoformat()})", hint=hint
        )
    return begin, finish


def query_window(
    since: str | None,
    timespan: str | None,
    start: str | None,
    end: str | None,
    *,
    now: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime] | None:
    """`amlmon query`'s time options (--since, --timespan, --from/--to; one of them) as an interval.

    None: no option given, the query's own filters decide the range.
    """
    given = [
        name for name, value in (("--since", since), ("--timespan", timespan), ("--from", start)) if value
    ]
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(given)} exclude each other", hint="use one of --since, --timespan or --from/--to"
        )
    if end and not start:
        raise UsageError("--to needs --from", hint="e.g. --from 2026-11-25T10:00Z --to 2026-11-25T11:00Z")
    now = now or dt.datetime.now(dt.UTC)
    if since:
        return (now - parse_duration(since, option="--since"), now)
    if start:
        begin = parse_instant(start, now=now, option="--from")
        finish = parse_instant(end, now=now, option="--to") if end else now
        return ordered(begin, finish, "--from", "--to", hint="give an earlier start or a later end")
    if timespan:
        return parse_timespan(timespan, now=now)
    return None


def utc_instant(text: object) -> str | None:
    """One format for both APIs' timestamps (7 fractional digits, +00:00, Z…): `2026-11-25T06:11:38Z`."""
    if not text:
        return None
    value = str(text).strip()
    trimmed = re.sub(r"(\.\d{1,6})\d*", r"\1", value).replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(trimmed)
    except ValueError:
        return value  # unknown shape: shown as the service wrote it
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_timespan(start: dt.datetime, end: dt.datetime) -> str:
    """The query API's timespan for an interval: `start/end` in ISO 8601."""

    return f"{iso_utc(start)}/{iso_utc(end)}"
