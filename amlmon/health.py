"""Health of deployed models: threshold parsing, the summarizing KQL behind `stats`, and the `check` gate.

Where the numbers come from matters. The 1.5.x inference server sends placeholder standard request
fields (success true, duration 0, result code "0") and puts the real values in custom dimensions
(`success` "True"/"False", `duration` "HH:MM:SS.mmm", `resultCode`); 1.4.x and other SDKs fill the
standard columns. Every query reads the property when it is present and falls back to the column,
so one query is right for both generations, in the classic (App Insights) and the workspace (Log
Analytics) source. Each section (requests, dependencies, exceptions) is ONE summarizing query whose
rows carry a `rowType` column: "total" per target, "bin" per target and time bin, and a breakdown.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from amlmon import kql
from amlmon.errors import AmlmonError, UsageError
from amlmon.schema import APP, AppTelemetry, Source
from amlmon.targets import ALL, Target, telemetry_filter
from amlmon.targets import Kind as TableKind

if TYPE_CHECKING:
    from amlmon.context import AppContext

# ---------------------------------------------------------------------------------------------------
# Exit codes of `amlmon check`
# ---------------------------------------------------------------------------------------------------
EXIT_GATE_FAILED = 1  # a threshold was breached (or too few requests)
EXIT_GATE_ERROR = 6  # the gate could not be evaluated (service error, partial result, rejected query)


class GateError(AmlmonError):
    """The gate could not be evaluated: never a pass, and not confused with a breached threshold."""

    exit_code = EXIT_GATE_ERROR


# ---------------------------------------------------------------------------------------------------
# Threshold values
# ---------------------------------------------------------------------------------------------------
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_RATE = re.compile(rf"^\s*{_NUMBER}\s*(%?)\s*$")
_LATENCY = re.compile(rf"^\s*{_NUMBER}\s*(ms|s|m)?\s*$", re.IGNORECASE)  # unit checked apart: a clear error
_COUNT = re.compile(r"^\s*(\d+)\s*$")
_LATENCY_UNITS_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_rate(text: str, *, option: str = "rate") -> float:
    """`1%`, `0.5 %` or a fraction `0.01` → a fraction between 0 and 1."""
    match = _RATE.match(text)
    if not match:
        raise UsageError(
            f"{option} {text!r} is not a rate", hint=f"use a percentage or a fraction, e.g. {option} 1%"
        )
    value = float(match.group(1))
    if match.group(2):
        value /= 100.0
    elif value > 1:
        raise UsageError(
            f"{option} {text!r} is more than 1; a rate without % is a fraction",
            hint=f"write a percentage or a fraction, e.g. {option} {match.group(1)}% or {option} 0.01 (= 1%)",
        )
    if value > 1:
        raise UsageError(f"{option} {text!r} is more than 100%", hint=f"e.g. {option} 1%")
    return value


LATENCY_FORMS = "500ms, 1.5s or 1m (units: ms, s, m)"


def parse_latency(text: str, *, option: str = "latency") -> float:
    """`500ms`, `1.5s`, `2s` or `1m` → milliseconds. The unit is required: a bare `2` could mean 2 ms or
    2 s, and a gate that silently reads one when the user meant the other passes what it should fail."""
    match = _LATENCY.match(text)
    if not match:
        raise UsageError(f"{option} {text!r} is not a duration", hint=f"use e.g. {option} {LATENCY_FORMS}")
    if not match.group(2):
        raise UsageError(
            f"{option} {text!r} has no unit",
            hint=f"add a unit, e.g. {option} {match.group(1)}ms or {option} {match.group(1)}s (units: ms, s, m)",
        )
    value = float(match.group(1)) * _LATENCY_UNITS_MS[match.group(2).lower()]
    if not math.isfinite(value):
        raise UsageError(f"{option} {text!r} is too large", hint=f"e.g. {option} 500ms")
    return value


def parse_count(text: str, *, option: str = "count") -> int:
    """A whole number of events, 0 or more."""
    match = _COUNT.match(text)
    if not match:
        raise UsageError(f"{option} {text!r} is not a whole number", hint=f"e.g. {option} 100")
    return int(match.group(1))


def format_rate(value: float | None) -> str:
    if value is None:
        return "n/a"
    percent = value * 100
    if abs(percent - round(percent)) < 1e-9:
        return f"{round(percent)}%"
    # Never round a breach onto its limit: 2.003% shows as 2.003%, not 2%.
    text = f"{percent:.2f}"
    return f"{percent:.3g}%" if text.endswith(".00") else f"{text}%"


def format_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f}s"
    return f"{value:.0f}ms" if value >= 10 or value == int(value) else f"{value:.1f}ms"


# ---------------------------------------------------------------------------------------------------
# Gate
# ---------------------------------------------------------------------------------------------------
Kind = Literal["max", "min"]


@dataclass(frozen=True)
class Threshold:
    name: str  # stable name in JSON, e.g. "failureRate"
    label: str  # what a person reads, e.g. "failure rate"
    kind: Kind  # "max": the measured value must not exceed limit; "min": must reach it
    limit: float
    metric: Callable[[dict[str, Any]], float | None]  # reads the measured value from a target's stats
    fmt: Callable[[float | None], str]
    needs_requests: bool = True  # undefined when there are no requests


def _count(value: float | None) -> str:
    return "n/a" if value is None else str(int(value))


def _get(path: str) -> Callable[[dict[str, Any]], float | None]:
    section, key = path.split(".")

    def read(stats: dict[str, Any]) -> float | None:
        value = (stats.get(section) or {}).get(key)
        return None if value is None else float(value)

    return read


def build_thresholds(
    *,
    max_failure_rate: str | None = None,
    max_p50: str | None = None,
    max_p95: str | None = None,
    max_p99: str | None = None,
    max_exceptions: str | None = None,
    min_requests: str | None = None,
    max_dependency_failure_rate: str | None = None,
) -> list[Threshold]:
    """The gate's thresholds from the option values (each parsed; a bad one is a usage error).

    `--min-requests` defaults to 1: a gate over no traffic fails unless `--min-requests 0` allows it.
    """
    found: list[Threshold] = [
        Threshold(
            "minRequests",
            "requests",
            "min",
            float(parse_count(min_requests, option="--min-requests")) if min_requests is not None else 1.0,
            _get("requests.count"),
            _count,
            needs_requests=False,
        )
    ]
    if max_failure_rate is not None:
        limit = parse_rate(max_failure_rate, option="--max-failure-rate")
        found.append(
            Threshold(
                "maxFailureRate", "failure rate", "max", limit, _get("requests.failureRate"), format_rate
            )
        )
    for option, value, key in (
        ("--max-p50", max_p50, "p50"),
        ("--max-p95", max_p95, "p95"),
        ("--max-p99", max_p99, "p99"),
    ):
        if value is not None:
            limit = parse_latency(value, option=option)
            name = "max" + key.upper()
            found.append(Threshold(name, f"{key} latency", "max", limit, _get(f"requests.{key}"), format_ms))
    if max_exceptions is not None:
        limit = float(parse_count(max_exceptions, option="--max-exceptions"))
        found.append(
            Threshold(
                "maxExceptions",
                "exceptions",
                "max",
                limit,
                _get("exceptions.count"),
                _count,
                needs_requests=False,
            )
        )
    if max_dependency_failure_rate is not None:
        limit = parse_rate(max_dependency_failure_rate, option="--max-dependency-failure-rate")
        found.append(
            Threshold(
                "maxDependencyFailureRate",
                "dependency failure rate",
                "max",
                limit,
                _get("dependencies.failureRate"),
                format_rate,
                needs_requests=False,
            )
        )
    return found


def _window_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def evaluate(stats: dict[str, Any], thresholds: Sequence[Threshold]) -> dict[str, Any]:
    """PASS/FAIL per target and threshold; `passed` only when every result passed."""
    window = _window_text(float(stats["window"]["seconds"]))
    results = []
    for target in stats["targets"]:
        for threshold in thresholds:
            results.append(_evaluate_one(target, threshold, window))
    return {
        "passed": all(result["status"] != "FAIL" for result in results),
        "window": stats["window"],
        "source": stats["source"],
        "results": results,
    }


def _evaluate_one(target: dict[str, Any], threshold: Threshold, window: str) -> dict[str, Any]:
    measured: float | int | None = threshold.metric(target)
    counted = threshold.fmt is _count
    if counted and measured is not None:
        measured = int(measured)
    requests = int((target.get("requests") or {}).get("count") or 0)
    name = target["target"]
    limit_text = threshold.fmt(threshold.limit)
    result: dict[str, Any] = {
        "target": name,
        "check": threshold.name,
        "measured": measured,
        "limit": int(threshold.limit) if counted else threshold.limit,
        "status": "PASS",
    }
    if measured is None:
        # Undefined without data: the min-requests threshold decides whether no data is acceptable.
        why = "no requests" if threshold.needs_requests and requests == 0 else "no data"
        result["status"] = "SKIP"
        result["reason"] = f"{name}: {threshold.label} not measured ({why} in {window}); limit {limit_text}"
        return result
    ok = measured >= threshold.limit if threshold.kind == "min" else measured <= threshold.limit
    shown = threshold.fmt(measured)
    if threshold.name == "minRequests":
        reason = (
            f"{name}: {int(measured)} requests in {window} (at least {int(threshold.limit)} required)"
            if ok
            else f"{name}: only {int(measured)} requests in {window}, at least {int(threshold.limit)} required"
        )
    else:
        sign = (">=" if ok else "<") if threshold.kind == "min" else ("<=" if ok else ">")
        reason = f"{name}: {threshold.label} {shown} {sign} {limit_text}"
    result["status"] = "PASS" if ok else "FAIL"
    result["reason"] = reason
    return result


# ---------------------------------------------------------------------------------------------------
# KQL
# ---------------------------------------------------------------------------------------------------
# The first unindented `Type: message` line of a Python traceback: the user's own error (the cause),
# listed before "The above exception was the direct cause …" and the server's generic
# UserScriptException that wraps it. 1.5.x sends the traceback as the stack; 1.4.x only inside the
# exception's `message`, after the exc_info tuple (a first line this pattern never matches).
_STACK_ERROR = r"(?m)^([A-Za-z_][A-Za-z0-9_.]*)(?::[ ]?([^\n]*))?$"
_GENERIC_EXCEPTION = "UserScriptException"
# Without a stack, the 1.5.x message is the exc_info tuple: "(<class 'ValueError'>, ValueError('bad'), <traceback …>)".
_TUPLE_ERROR = r"^\(<class '([^']+)'>, [A-Za-z_][A-Za-z0-9_.]*\([\'\"](.*)[\'\"]\), <traceback"


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


def _base(
    table: str, c: AppTelemetry, targets: Sequence[Target], source: Source, window: Window, kind: TableKind
) -> str:
    """Rows of `table` in the window for each target, labelled `targetName` (a row may belong to several)."""
    time_filter = f"{c.time} between ({kql.datetime(window.start)} .. {kql.datetime(window.end)})"
    if not targets:
        return f"{table}\n| where {time_filter}\n| extend targetName = {kql.string('*')}"
    parts = [
        f"({table} | where {time_filter} | where {telemetry_filter([t], source, kind)} | extend targetName = {kql.string(str(t))})"
        if t != ALL
        else f"({table} | where {time_filter} | extend targetName = {kql.string(str(ALL))})"
        for t in targets
    ]
    return "union " + ", ".join(parts) if len(parts) > 1 else parts[0][1:-1]


def _health_columns(c: AppTelemetry) -> str:
    """`ok` (bool), `ms` (real) and `code` (string): the custom dimension when present, else the column.

    1.5.x writes its `success` property as `status < 400` beside `resultCode` = the status
    (appinsights_client.log_request), so `ok` comes from the code: one custom-dimension read fewer
    per row, the costliest part of these queries.
    """
    return (
        f"| extend _pDuration = {c.dimension('duration')}, _pCode = {c.dimension('resultCode')}\n"
        f"| extend code = iff(isnotempty(_pCode), _pCode, tostring({c.result_code}))\n"
        f'| extend ok = iff(isnotempty(_pCode), toint(_pCode) < 400, tolower(tostring({c.success})) == "true")\n'
        f"| extend ms = iff(isnotempty(_pDuration), totimespan(_pDuration) / 1ms, todouble({c.duration}))"
    )


def _bin(c: AppTelemetry, window: Window) -> str:
    return f"bin({c.time}, {kql.timespan(window.bin)})"


def requests_query(targets: Sequence[Target], window: Window, source: Source = "app-insights") -> str:
    c = APP[source]
    latency = "p50 = percentile(ms, 50), p95 = percentile(ms, 95), p99 = percentile(ms, 99)"
    return (
        f"let base = {_base(c.requests, c, targets, source, window, 'requests')}\n{_health_columns(c)};\n"
        "union\n"
        f' (base | summarize requestCount = count(), failures = countif(not(ok)), {latency}, avgMs = avg(ms) by targetName | extend rowType = "total"),\n'
        f' (base | summarize requestCount = count(), failures = countif(not(ok)), p95 = percentile(ms, 95) by targetName, binStart = {_bin(c, window)} | extend rowType = "bin"),\n'
        ' (base | summarize requestCount = count() by targetName, code | extend rowType = "code")'
    )


def dependencies_query(
    targets: Sequence[Target], window: Window, source: Source = "app-insights", top: int = 10
) -> str:
    c = APP[source]
    return (
        f"let base = {_base(c.dependencies, c, targets, source, window, 'dependencies')}\n{_health_columns(c)}\n"
        f"| extend depType = tostring({c.dep_type}), depTarget = tostring({c.dep_target});\n"
        "union\n"
        ' (base | summarize callCount = count(), failures = countif(not(ok)), p50 = percentile(ms, 50), p95 = percentile(ms, 95) by targetName | extend rowType = "total"),\n'
        f' (base | summarize callCount = count(), failures = countif(not(ok)) by targetName, binStart = {_bin(c, window)} | extend rowType = "bin"),\n'
        " (base | summarize callCount = count(), failures = countif(not(ok)), p50 = percentile(ms, 50), "
        f'p95 = percentile(ms, 95) by targetName, depType, depTarget | top {int(top) * 20} by callCount desc | extend rowType = "group")'
    )


def exceptions_query(
    targets: Sequence[Target], window: Window, source: Source = "app-insights", top: int = 10
) -> str:
    c = APP[source]
    details = c.ex_details
    return (
        f"let base = {_base(c.exceptions, c, targets, source, window, 'exceptions')}\n"
        # The stack: `rawStack` as App Insights shows it, or `stack` as the exporter sends it.
        f"| extend _raw = tostring({details}[0].rawStack), _sent = tostring({details}[0].stack)\n"
        f"| extend _type = tostring({c.ex_type}), _message = tostring({c.ex_message})\n"
        # 1.4.x sends no stack: its `message` is the exc_info tuple followed by the whole traceback text.
        "| extend _stack = iff(isnotempty(_raw), _raw, iff(isnotempty(_sent), _sent, _message))\n"
        f"| extend _stackType = extract({kql.string(_STACK_ERROR)}, 1, _stack), "
        f"_stackMessage = extract({kql.string(_STACK_ERROR)}, 2, _stack)\n"
        f"| extend _tupleType = extract({kql.string(_TUPLE_ERROR)}, 1, _message), "
        f"_tupleMessage = extract({kql.string(_TUPLE_ERROR)}, 2, _message)\n"
        "| extend _userType = iff(isnotempty(_stackType), _stackType, _tupleType), "
        "_userMessage = iff(isnotempty(_stackType), _stackMessage, _tupleMessage)\n"
        f"| extend _generic = _type endswith {kql.string(_GENERIC_EXCEPTION)} and isnotempty(_userType) "
        f"and not(_userType endswith {kql.string(_GENERIC_EXCEPTION)})\n"
        "| extend exType = iff(_generic, _userType, _type), "
        "exMessage = iff(_generic, _userMessage, iff(isnotempty(_tupleMessage), _tupleMessage, _message));\n"
        "union\n"
        ' (base | summarize exceptionCount = count() by targetName | extend rowType = "total"),\n'
        f' (base | summarize exceptionCount = count() by targetName, binStart = {_bin(c, window)} | extend rowType = "bin"),\n'
        f" (base | summarize exceptionCount = count(), arg_max({c.time}, exMessage) by targetName, exType "
        f'| extend lastSeen = {c.time} | top {int(top) * 20} by exceptionCount desc | extend rowType = "type")'
    )


def queries(targets: Sequence[Target], window: Window, source: Source, top: int = 10) -> dict[str, str]:
    return {
        "requests": requests_query(targets, window, source),
        "dependencies": dependencies_query(targets, window, source, top),
        "exceptions": exceptions_query(targets, window, source, top),
    }


# ---------------------------------------------------------------------------------------------------
# Turning query rows into stats
# ---------------------------------------------------------------------------------------------------
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
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    return str(value)


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


def _target_stats(
    name: str, window: Window, bins: list[str], rows: dict[str, list[dict[str, Any]]], top: int
) -> dict[str, Any]:
    req, dep, exc = rows.get("requests", []), rows.get("dependencies", []), rows.get("exceptions", [])
    total = (_mine(req, name, "total") or [{}])[0]
    count, failures = _int(total.get("requestCount")), _int(total.get("failures"))
    req_bins = _mine(req, name, "bin")
    codes = sorted(
        ((str(r.get("code") or ""), _int(r.get("requestCount"))) for r in _mine(req, name, "code")),
        key=lambda item: (-item[1], item[0]),
    )
    requests = {
        "count": count,
        "ratePerMinute": _rate_per_minute(count, window),
        "failures": failures,
        "failureRate": _round(_ratio(failures, count), 6),
        "p50": _round(_num(total.get("p50"))),
        "p95": _round(_num(total.get("p95"))),
        "p99": _round(_num(total.get("p99"))),
        "avg": _round(_num(total.get("avgMs"))),
        "resultCodes": [{"code": code, "count": n} for code, n in codes],
        "series": {
            "requests": [int(v or 0) for v in _series(req_bins, bins, "requestCount")],
            "failures": [int(v or 0) for v in _series(req_bins, bins, "failures")],
            "p95": _series(req_bins, bins, "p95"),
        },
    }
    dtotal = (_mine(dep, name, "total") or [{}])[0]
    dcount, dfail = _int(dtotal.get("callCount")), _int(dtotal.get("failures"))
    dep_bins = _mine(dep, name, "bin")
    groups = sorted(_mine(dep, name, "group"), key=lambda r: -_int(r.get("callCount")))[:top]
    dependencies = {
        "count": dcount,
        "ratePerMinute": _rate_per_minute(dcount, window),
        "failures": dfail,
        "failureRate": _round(_ratio(dfail, dcount), 6),
        "p50": _round(_num(dtotal.get("p50"))),
        "p95": _round(_num(dtotal.get("p95"))),
        "top": [
            {
                "type": str(g.get("depType") or ""),
                "target": str(g.get("depTarget") or ""),
                "count": _int(g.get("callCount")),
                "failures": _int(g.get("failures")),
                "failureRate": _round(_ratio(_int(g.get("failures")), _int(g.get("callCount"))), 6),
                "p50": _round(_num(g.get("p50"))),
                "p95": _round(_num(g.get("p95"))),
            }
            for g in groups
        ],
        "series": {
            "dependencies": [int(v or 0) for v in _series(dep_bins, bins, "callCount")],
            "failures": [int(v or 0) for v in _series(dep_bins, bins, "failures")],
        },
    }
    etotal = (_mine(exc, name, "total") or [{}])[0]
    ecount = _int(etotal.get("exceptionCount"))
    types = sorted(_mine(exc, name, "type"), key=lambda r: -_int(r.get("exceptionCount")))[:top]
    exceptions = {
        "count": ecount,
        "ratePerMinute": _rate_per_minute(ecount, window),
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
            "exceptions": [int(v or 0) for v in _series(_mine(exc, name, "bin"), bins, "exceptionCount")]
        },
    }
    return {"target": name, "requests": requests, "dependencies": dependencies, "exceptions": exceptions}


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

    def section_query(text: str) -> QueryResult:
        return run_query(ctx, text, timespan=(window.start, window.end), source=source, allow_partial=False)

    running = {
        section: Background(partial(section_query, text))
        for section, text in queries(targets, window, source, top).items()
    }
    rows: dict[str, list[dict[str, Any]]] = {}
    for section, answer in running.items():
        result = answer.result()
        rows[section] = [record for table in result.tables[:1] for record in table.records()]
    return build_stats([str(t) for t in targets], window, source, rows, top)


def collect_for_gate(
    ctx: AppContext, targets: Sequence[Target], window: Window, *, source: Source = "app-insights"
) -> dict[str, Any]:
    """`collect`, but anything that stops the gate from being evaluated exits EXIT_GATE_ERROR.

    A breached threshold exits 1; a service error must not look like one (nor, ever, like a pass).
    Usage, not-found, auth and throttling errors keep their own exit codes (2, 3, 4, 5); a query that
    outlived the server timeout (504) cannot be evaluated either (6).
    """
    from amlmon.errors import QueryTimedOut

    try:
        return collect(ctx, targets, window, source=source)
    except AmlmonError as exc:
        if exc.exit_code == EXIT_GATE_FAILED or isinstance(exc, QueryTimedOut):
            raise GateError(f"the gate could not be evaluated: {exc.message}", hint=_gate_hint(exc)) from None
        raise
    except Exception as exc:
        from amlmon.azure.errors import translate

        translated = translate(exc)
        if translated is None:
            raise
        # A query that outlived the server timeout is not throttling: the gate was not evaluated.
        if translated.exit_code == EXIT_GATE_FAILED or isinstance(translated, QueryTimedOut):
            raise GateError(
                f"the gate could not be evaluated: {translated.message}",
                hint=_gate_hint(translated) or "retry the check; the query service failed",
            ) from None
        raise translated from None


def _gate_hint(exc: AmlmonError) -> str | None:
    from amlmon.errors import QueryTimedOut

    if isinstance(exc, QueryTimedOut):  # check has no --server-timeout: less data is the way out
        return "the query outlived the service's timeout: give a shorter --since or fewer targets"
    return exc.hint


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One character per bin; a blank where there was no value."""
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    top = max(present)
    out = []
    for value in values:
        if value is None:
            out.append(" ")
        elif top <= 0:
            out.append(_SPARKS[0])
        else:
            out.append(_SPARKS[min(len(_SPARKS) - 1, int(value / top * (len(_SPARKS) - 1) + 0.5))])
    return "".join(out)
