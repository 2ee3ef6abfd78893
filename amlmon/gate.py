"""`amlmon check`: threshold values, the gate's thresholds and their evaluation — apart from stats.

The gate reads the `stats` document (amlmon.stats) and never fetches on its own: `measure` runs the
stats queries and turns anything that stops the gate from being evaluated into GateError (exit 6),
so a service error never looks like a breach (exit 1) nor, ever, like a pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from amlmon.errors import EXIT_FAILED, AmlmonError, GateError, QueryTimedOut, UsageError
from amlmon.schema import Source

_T = TypeVar("_T")

if TYPE_CHECKING:
    from amlmon.context import AppContext
    from amlmon.stats import Window
    from amlmon.targets import Target

EXIT_GATE_FAILED = EXIT_FAILED  # a threshold was breached (or too few requests)

# ---------------------------------------------------------------------------------------------------
# Threshold values
# ---------------------------------------------------------------------------------------------------
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_RATE = re.compile(rf"^\s*{_NUMBER}\s*(%?)\s*$")
_LATENCY = re.compile(rf"^\s*{_NUMBER}\s*(ms|s|m)?\s*$", re.IGNORECASE)  # unit checked apart: a clear error
_COUNT = re.compile(r"^\s*(\d+)\s*$")
# A minus sign before what would otherwise be a value of the option: refused as negative, not as
# "not a number" (-1 is a whole number; the option allows none below zero).
_NEGATIVE = re.compile(rf"^\s*-\s*{_NUMBER}")
_LATENCY_UNITS_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_rate(text: str, *, option: str = "rate") -> float:
    """`1%`, `0.5 %` or a fraction below 1 `0.01` → a fraction between 0 and 1 (a bare 1 or more: refused)."""
    _not_negative(text, option, f"a percentage from 0% to 100% (or a fraction from 0 to 1), e.g. {option} 1%")
    match = _RATE.match(text)
    if not match:
        raise UsageError(
            f"{option} {text!r} is not a rate", hint=f"use a percentage or a fraction, e.g. {option} 1%"
        )
    value = float(match.group(1))
    if match.group(2):
        value /= 100.0
    elif value >= 1:
        # A bare 1 (or 5) is ambiguous: 1% or 100%? A gate that reads 100% passes every failure rate.
        raise UsageError(
            f"{option} {text!r} is ambiguous: a rate without % is a fraction below 1",
            hint=f"write a percentage, e.g. {option} {match.group(1)}% or {option} 100%, or a fraction like 0.01 (= 1%)",
        )
    if value > 1:
        raise UsageError(
            f"{option} {text!r} is more than 100%",
            hint=f"{option} takes a percentage from 0% to 100% (or a fraction from 0 to 1)",
        )
    return value


LATENCY_FORMS = "500ms, 1.5s or 1m (units: ms, s, m)"


def parse_latency(text: str, *, option: str = "latency") -> float:
    """`500ms`, `1.5s`, `2s` or `1m` → milliseconds. The unit is required: a bare `2` could mean 2 ms or
    2 s, and a gate that silently reads one when the user meant the other passes what it should fail."""
    _not_negative(text, option, f"a duration of 0 or more, e.g. {option} {LATENCY_FORMS}")
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
    _not_negative(text, option, f"a whole number of 0 or more, e.g. {option} 0")
    match = _COUNT.match(text)
    if not match:
        raise UsageError(f"{option} {text!r} is not a whole number", hint=f"e.g. {option} 100")
    return int(match.group(1))


def _not_negative(text: str, option: str, allowed: str) -> None:
    """A threshold below zero is a usage error that says so (the option and the value) and what it takes."""
    negative = _NEGATIVE.match(text)
    if negative and float(negative.group(1)) != 0:  # "-0" is 0: left to the parser, which reads it
        raise UsageError(f"{option} {text!r} is negative", hint=f"{option} takes {allowed}")


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
# Thresholds and their evaluation
# ---------------------------------------------------------------------------------------------------
Kind = Literal["max", "min"]
Formatter = Callable[[float | None], str]


@dataclass(frozen=True)
class Threshold:
    name: str  # stable name in JSON, e.g. "failureRate"
    label: str  # what a person reads, e.g. "failure rate"
    kind: Kind  # "max": the measured value must not exceed limit; "min": must reach it
    limit: float
    metric: Callable[[dict[str, Any]], float | None]  # reads the measured value from a target's stats
    fmt: Formatter
    needs_requests: bool = True  # undefined when there are no requests


def format_count(value: float | None) -> str:
    return "n/a" if value is None else str(int(value))


def reading(path: str) -> Callable[[dict[str, Any]], float | None]:
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
    found = [
        Threshold(
            "minRequests",
            "requests",
            "min",
            float(parse_count(min_requests, option="--min-requests")) if min_requests is not None else 1.0,
            reading("requests.count"),
            format_count,
            needs_requests=False,
        )
    ]
    # option, its value, JSON name, what a person reads, where the stats hold it, parse, format,
    # undefined without requests — in the order the results are listed.
    maxima: tuple[tuple[str, str | None, str, str, str, Callable[..., float], Formatter, bool], ...] = (
        ("--max-failure-rate", max_failure_rate, "maxFailureRate", "failure rate", "requests.failureRate", parse_rate, format_rate, True),
        ("--max-p50", max_p50, "maxP50", "p50 latency", "requests.p50", parse_latency, format_ms, True),
        ("--max-p95", max_p95, "maxP95", "p95 latency", "requests.p95", parse_latency, format_ms, True),
        ("--max-p99", max_p99, "maxP99", "p99 latency", "requests.p99", parse_latency, format_ms, True),
        ("--max-exceptions", max_exceptions, "maxExceptions", "exceptions", "exceptions.count", parse_count, format_count, False),
        ("--max-dependency-failure-rate", max_dependency_failure_rate, "maxDependencyFailureRate",
         "dependency failure rate", "dependencies.failureRate", parse_rate, format_rate, False),
    )  # fmt: skip
    for option, value, name, label, path, parse, fmt, needs_requests in maxima:
        if value is not None:
            limit = float(parse(value, option=option))
            found.append(
                Threshold(name, label, "max", limit, reading(path), fmt, needs_requests=needs_requests)
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


def exit_code(verdict: dict[str, Any]) -> int:
    """The gate's exit code: 0 passed, EXIT_GATE_FAILED when a threshold failed."""
    return 0 if verdict["passed"] else EXIT_GATE_FAILED


def _evaluate_one(target: dict[str, Any], threshold: Threshold, window: str) -> dict[str, Any]:
    measured: float | int | None = threshold.metric(target)
    counted = threshold.fmt is format_count
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
# Measuring for the gate
# ---------------------------------------------------------------------------------------------------
def measure(
    ctx: AppContext, targets: Sequence[Target], window: Window, *, source: Source = "app-insights"
) -> dict[str, Any]:
    """The App Insights / Log Analytics statistics of `targets` for the gate (see `evaluable`)."""
    from amlmon.stats import collect

    return evaluable(lambda: collect(ctx, targets, window, source=source), "the query service")


def evaluable(collect: Callable[[], _T], service: str) -> _T:
    """`collect()`, but anything that stops the gate from being evaluated exits EXIT_GATE_ERROR.

    A breached threshold exits 1; a service error must not look like one (nor, ever, like a pass).
    Usage, not-found, auth and throttling errors keep their own exit codes (2, 3, 4, 5); a query that
    outlived the server timeout (504) cannot be evaluated either (6). Every gate source (App Insights,
    the endpoint traffic log, platform metrics) measures through here.
    """
    try:
        return collect()
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
                hint=_gate_hint(translated) or f"retry the check; {service} failed",
            ) from None
        raise translated from None


def _gate_hint(exc: AmlmonError) -> str | None:
    if isinstance(exc, QueryTimedOut):  # check has no --server-timeout: less data is the way out
        return "the query outlived the service's timeout: give a shorter --since or fewer targets"
    return exc.hint
