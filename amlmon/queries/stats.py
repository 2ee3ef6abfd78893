"""The KQL behind `amlmon stats` and `amlmon check`: one summarizing query per section.

Where the numbers come from matters. The 1.5.x inference server sends placeholder standard request
fields (success true, duration 0, result code "0") and puts the real values in custom dimensions
(`success` "True"/"False", `duration` "HH:MM:SS.mmm", `resultCode`); 1.4.x and other SDKs fill the
standard columns. Every query reads the property when it is present and falls back to the column,
so one query is right for both generations, in either source. Each section (requests, dependencies,
exceptions) is ONE summarizing query whose rows carry a `rowType` column: "total" per target, "bin"
per target and time bin, and a breakdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from amlmon import kql
from amlmon.schema import (
    APP,
    DURATION_DIMENSION,
    RAW_STACK,
    RESULT_CODE_DIMENSION,
    SENT_STACK,
    AppTelemetry,
    Source,
)
from amlmon.targets import ALL, Kind, Target, telemetry_filter

if TYPE_CHECKING:
    from amlmon.stats import Window

# The first unindented `Type: message` line of a Python traceback: the user's own error (the cause),
# listed before "The above exception was the direct cause …" and the server's generic
# UserScriptException that wraps it. 1.5.x sends the traceback as the stack; 1.4.x only inside the
# exception's `message`, after the exc_info tuple (a first line this pattern never matches).
_STACK_ERROR = r"(?m)^([A-Za-z_][A-Za-z0-9_.]*)(?::[ ]?([^\n]*))?$"
_GENERIC_EXCEPTION = "UserScriptException"
# Without a stack, the 1.5.x message is the exc_info tuple: "(<class 'ValueError'>, ValueError('bad'), <traceback …>)".
_TUPLE_ERROR = r"^\(<class '([^']+)'>, [A-Za-z_][A-Za-z0-9_.]*\([\'\"](.*)[\'\"]\), <traceback"


def _base(
    table: str, c: AppTelemetry, targets: Sequence[Target], source: Source, window: Window, kind: Kind
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
        f"| extend _pDuration = {c.dimension(DURATION_DIMENSION)}, _pCode = {c.dimension(RESULT_CODE_DIMENSION)}\n"
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
        f"| extend _raw = tostring({details}[0].{RAW_STACK}), _sent = tostring({details}[0].{SENT_STACK})\n"
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
