"""`amlmon stats`: the time window and its bins, running the three summarizing queries at once, and
the stats document built from their rows (totals, breakdowns and per-bin series per target).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from amlmon import kql
from amlmon.errors import UsageError
from amlmon.queries.stats import queries
from amlmon.schema import Source
from amlmon.targets import Target
from amlmon.timeparse import iso_utc

if TYPE_CHECKING:
    from amlmon.context import AppContext


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    bin: dt.timedelta

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


_NICE_BINS = [
    dt.timedelta(seconds=s)
    for s in (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
]
MAX_BINS = 2000
BIN_EXAMPLE = "--bin 5m (a whole fraction of a day: 30s, 1m, 5m, 15m, 1h, 6h, 1d)"


def check_bin(size: dt.timedelta, span: dt.timedelta) -> dt.timedelta:
    """A bin that divides a day evenly (so the query service and amlmon align bins alike), not too many."""
    micros = round(size.total_seconds() * 1_000_000)
    if micros < 1_000_000 or (86_400_000_000 % micros != 0):
        raise UsageError(
            f"--bin {kql.timespan(size)} does not divide a day evenly", hint=f"use e.g. {BIN_EXAMPLE}"
        )
    if span / size > MAX_BINS:
        raise UsageError(
            f"--bin {kql.timespan(size)} gives more than {MAX_BINS} bins over {kql.timespan(span)}",
            hint="give a larger --bin or a shorter --since",
        )
    return size


def default_bin(span: dt.timedelta, *, target_bins: int = 24) -> dt.timedelta:
    """The smallest round bin giving at most `target_bins` bins over `span` (at most a day)."""
    for size in _NICE_BINS:
        if span / size <= target_bins:
            return size
    return _NICE_BINS[-1]


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any) -> int:
    number = _num(value)
    return int(number) if number is not None else 0


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _iso(value: Any) -> str:
    return iso_utc(value, "seconds") if isinstance(value, dt.datetime) else str(value)


def _bins(window: Window) -> list[str]:
    """Every bin start in the window, so series have one value per bin even where nothing happened."""
    step = window.bin.total_seconds()
    first = math.floor(window.start.timestamp() / step) * step
    out = []
    current = first
    while current < window.end.timestamp():
        out.append(_iso(dt.datetime.fromtimestamp(current, dt.UTC)))
        current += step
    return out


def _rate_per_minute(count: int, window: Window) -> float:
    return round(count / (window.seconds / 60.0), 4) if window.seconds > 0 else 0.0


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def build_stats(
    labels: Sequence[str],
    window: Window,
    source: str,
    rows: dict[str, list[dict[str, Any]]],
    top: int = 10,
) -> dict[str, Any]:
    """The `stats` document: one entry per target, with totals, breakdowns and per-bin series."""
    bins = _bins(window)
    seen = {r.get("targetName") for section in rows.values() for r in section if r.get("targetName")}
    names = list(labels) or ["*"]
    names += sorted(str(s) for s in seen if s not in names)
    targets = [_target_stats(name, window, bins, rows, top) for name in names]
    return {
        "window": {
            "start": _iso(window.start),
            "end": _iso(window.end),
            "seconds": window.seconds,
            "bin": kql.timespan(window.bin),
            "binSeconds": window.bin.total_seconds(),
        },
        "source": source,
        "bins": bins,
        "targets": targets,
    }


def _mine(section: list[dict[str, Any]], name: str, row: str) -> list[dict[str, Any]]:
    return [r for r in section if r.get("targetName") == name and r.get("rowType") == row]


def _series(found: list[dict[str, Any]], bins: list[str], key: str) -> list[float | None]:
    by_bin = {_iso(r.get("binStart")): r.get(key) for r in found}
    return [_num(by_bin.get(b)) if by_bin.get(b) is not None else None for b in bins]


Rows = dict[str, list[dict[str, Any]]]


def _counts(total: dict[str, Any], count: int, failures: int, window: Window) -> dict[str, Any]:
    return {
        "count": count,
        "ratePerMinute": _rate_per_minute(count, window),
        "failures": failures,
        "failureRate": _round(_ratio(failures, count), 6),
        "p50": _round(_num(total.get("p50"))),
        "p95": _round(_num(total.get("p95"))),
    }


def _requests(name: str, window: Window, bins: list[str], section: list[dict[str, Any]]) -> dict[str, Any]:
    total = (_mine(section, name, "total") or [{}])[0]
    count, failures = _int(total.get("requestCount")), _int(total.get("failures"))
    per_bin = _mine(section, name, "bin")
    codes = sorted(
        ((str(r.get("code") or ""), _int(r.get("requestCount"))) for r in _mine(section, name, "code")),
        key=lambda item: (-item[1], item[0]),
    )
    return {
        **_counts(total, count, failures, window),
        "p99": _round(_num(total.get("p99"))),
        "avg": _round(_num(total.get("avgMs"))),
        "resultCodes": [{"code": code, "count": n} for code, n in codes],
        "series": {
            "requests": [int(v or 0) for v in _series(per_bin, bins, "requestCount")],
            "failures": [int(v or 0) for v in _series(per_bin, bins, "failures")],
            "p95": _series(per_bin, bins, "p95"),
        },
    }


def _dependency_group(group: dict[str, Any]) -> dict[str, Any]:
    calls, failures = _int(group.get("callCount")), _int(group.get("failures"))
    return {
        "type": str(group.get("depType") or ""),
        "target": str(group.get("depTarget") or ""),
        "count": calls,
        "failures": failures,
        "failureRate": _round(_ratio(failures, calls), 6),
        "p50": _round(_num(group.get("p50"))),
        "p95": _round(_num(group.get("p95"))),
    }


def _dependencies(
    name: str, window: Window, bins: list[str], section: list[dict[str, Any]], top: int
) -> dict[str, Any]:
    total = (_mine(section, name, "total") or [{}])[0]
    count, failures = _int(total.get("callCount")), _int(total.get("failures"))
    per_bin = _mine(section, name, "bin")
    groups = sorted(_mine(section, name, "group"), key=lambda r: -_int(r.get("callCount")))[:top]
    return {
        **_counts(total, count, failures, window),
        "top": [_dependency_group(g) for g in groups],
        "series": {
            "dependencies": [int(v or 0) for v in _series(per_bin, bins, "callCount")],
            "failures": [int(v or 0) for v in _series(per_bin, bins, "failures")],
        },
    }


def _exceptions(
    name: str, window: Window, bins: list[str], section: list[dict[str, Any]], top: int
) -> dict[str, Any]:
    total = (_mine(section, name, "total") or [{}])[0]
    count = _int(total.get("exceptionCount"))
    types = sorted(_mine(section, name, "type"), key=lambda r: -_int(r.get("exceptionCount")))[:top]
    return {
        "count": count,
        "ratePerMinute": _rate_per_minute(count, window),
        "top": [
            {
                "type": str(t.get("exType") or ""),
                "count": _int(t.get("exceptionCount")),
                "lastSeen": _iso(t.get("lastSeen")) if t.get("lastSeen") else None,
                "latestMessage": str(t.get("exMessage") or t.get("latest") or ""),
            }
            for t in types
        ],
        "series": {
            "exceptions": [int(v or 0) for v in _series(_mine(section, name, "bin"), bins, "exceptionCount")]
        },
    }


def _target_stats(name: str, window: Window, bins: list[str], rows: Rows, top: int) -> dict[str, Any]:
    return {
        "target": name,
        "requests": _requests(name, window, bins, rows.get("requests", [])),
        "dependencies": _dependencies(name, window, bins, rows.get("dependencies", []), top),
        "exceptions": _exceptions(name, window, bins, rows.get("exceptions", []), top),
    }


# ---------------------------------------------------------------------------------------------------
# Running the queries
# ---------------------------------------------------------------------------------------------------
def collect(
    ctx: AppContext,
    targets: Sequence[Target],
    window: Window,
    *,
    source: Source = "app-insights",
    top: int = 10,
) -> dict[str, Any]:
    """Run the three summarizing queries; a partial result is an error (a gate must not pass on it).

    The three run at once (the query API takes 5 concurrent queries per user): the answer takes as long
    as the slowest section, not the sum. An error is reported for the first section that had one.
    """
    from amlmon.azure.logs import QueryResult, run_query
    from amlmon.background import Background

    _ = ctx.workspace_info, ctx.logs_client  # resolved here once, not raced for by three threads
    api = ctx.query_api

    def section_query(text: str) -> QueryResult:
        return run_query(api, text, timespan=(window.start, window.end), source=source, allow_partial=False)

    running = {
        section: Background(partial(section_query, text))
        for section, text in queries(targets, window, source, top).items()
    }
    rows: dict[str, list[dict[str, Any]]] = {}
    for section, answer in running.items():
        result = answer.result()
        rows[section] = [record for table in result.tables[:1] for record in table.records()]
    return build_stats([str(t) for t in targets], window, source, rows, top)
