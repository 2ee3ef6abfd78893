"""`amlmon stats --endpoint-logs`: request health of v2 deployments from AmlOnlineEndpointTrafficLog.

Why this table: in App Insights a v2 `/score` request has duration 0 (the inference server's known
bug); the endpoint's traffic log has one row per request with the codes and durations the front door
measured. Its numeric columns (`ResponseCode`, `ModelStatusCode`, `TotalDurationMs`,
`ResponseDurationMs`, the throttling delays, payload sizes) are integers, so the query compares them
with numbers. Everything is aggregated in the service (rows per deployment: a "total" row and one
"code" row per response code, each named `targetName`); nothing is computed from downloaded rows.

A failure is a response code of 500 or more (the service or the model failed); 4xx answers are
counted apart as client errors. The endpoint is a column (`EndpointName`) in this table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from amlmon import kql
from amlmon.schema import ENDPOINT_LOGS
from amlmon.targets import Target

if TYPE_CHECKING:
    from amlmon.context import AppContext
    from amlmon.gate import Threshold
    from amlmon.stats import Window

TRAFFIC = ENDPOINT_LOGS.traffic
TABLE = TRAFFIC.table


def _target_filter(targets: Sequence[Target]) -> str:
    clauses = []
    for target in targets:
        clause = f"{TRAFFIC.endpoint} == {kql.string(target.name)}"
        if target.deployment:
            clause += f" and {TRAFFIC.deployment} == {kql.string(target.deployment)}"
        clauses.append(f"({clause})")
    return " or ".join(clauses)


def traffic_query(targets: Sequence[Target], window: Window) -> str:
    t = TRAFFIC
    wanted = _target_filter(targets)
    base = (
        f"let base = {t.table}\n"
        f"| where {t.time} >= {kql.datetime(window.start)} and {t.time} < {kql.datetime(window.end)}"
        + (f"\n| where {wanted}" if wanted else "")
        + ";\n"
    )
    code, total_ms = t.response_code, t.total_duration_ms
    total = (
        f"requestCount = count(), failures = countif({code} >= 500), "
        f"clientErrors = countif({code} >= 400 and {code} < 500), "
        f"modelFailures = countif({t.model_status_code} >= 500), "
        f"p50 = percentile({total_ms}, 50), p95 = percentile({total_ms}, 95), "
        f"p99 = percentile({total_ms}, 99), modelP95 = percentile({t.response_duration_ms}, 95), "
        f"maxRequestThrottleMs = max({t.request_throttle_ms}), maxResponseThrottleMs = max({t.response_throttle_ms}), "
        f"requestBytes = sum({t.request_bytes}), responseBytes = sum({t.response_bytes})"
    )
    # Grouped by the name columns and named after the union (a few rows), not by a per-row strcat:
    # naming every row of the window cost more than the whole code count.
    keys, name = [t.endpoint, t.deployment], f'strcat({t.endpoint}, "/", {t.deployment})'
    if (one := _one_deployment(targets)) is not None:
        # The filter pins both names: no grouping by them (strings, on every row) is needed.
        keys, name = [], kql.string(str(one))
    by_target = f" by {', '.join(keys)}" if keys else ""
    by_code = ", ".join([*keys, f"code = {code}"])
    return (
        base + "union\n"
        f' (base | summarize {total}{by_target} | extend rowType = "total"),\n'
        f' (base | summarize requestCount = count() by {by_code} | extend rowType = "code")\n'
        f"| extend targetName = {name}"
    )


def _one_deployment(targets: Sequence[Target]) -> Target | None:
    """The target when exactly one deployment (EP/DEP) is asked for: every row the filter keeps is it."""
    return targets[0] if len(targets) == 1 and targets[0].deployment else None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _num(value: Any) -> float | None:
    try:
        return None if value is None else round(float(value), 3)
    except (TypeError, ValueError):
        return None


def _by_target(rows: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, int]]]:
    """The answer's "total" row and its requests per response code, by deployment."""
    found: dict[str, dict[str, Any]] = {}
    codes: dict[str, dict[str, int]] = {}
    for row in rows:
        name = str(row.get("targetName") or "")
        if row.get("rowType") == "total":
            found[name] = row
        elif row.get("rowType") == "code":
            codes.setdefault(name, {})[str(_int(row.get("code")))] = _int(row.get("requestCount"))
    return found, codes


def _add_silent_targets(
    found: dict[str, dict[str, Any]], targets: Sequence[Target], listed: Sequence[Target] = ()
) -> None:
    """A target without traffic is reported with zero requests (a gate must see it and fail); with no
    TARGET, so is each of the workspace's deployments (`listed`)."""
    for target in targets or listed:
        if target.deployment and str(target) not in found:
            found[str(target)] = {}
        if not target.deployment and not any(name.startswith(f"{target.name}/") for name in found):
            found[target.name] = {}
    if not targets and not listed and not found:
        found["*"] = {}


def _target_entry(name: str, row: dict[str, Any], codes: dict[str, int]) -> dict[str, Any]:
    count = _int(row.get("requestCount"))
    failures = _int(row.get("failures"))
    return {
        "target": name,
        "requests": {
            "count": count,
            "failures": failures,
            "failureRate": round(failures / count, 6) if count else None,
            "clientErrors": _int(row.get("clientErrors")),
            "modelFailures": _int(row.get("modelFailures")),
            "p50": _num(row.get("p50")),
            "p95": _num(row.get("p95")),
            "p99": _num(row.get("p99")),
            "modelP95": _num(row.get("modelP95")),
            "codes": dict(sorted(codes.items())),
        },
        "throttling": {
            "maxRequestDelayMs": _int(row.get("maxRequestThrottleMs")),
            "maxResponseDelayMs": _int(row.get("maxResponseThrottleMs")),
            # the gate's --max-throttle-delay; undefined without requests
            "maxDelayMs": max(_int(row.get("maxRequestThrottleMs")), _int(row.get("maxResponseThrottleMs")))
            if count
            else None,
        },
        "payloadBytes": {
            "request": _int(row.get("requestBytes")),
            "response": _int(row.get("responseBytes")),
        },
    }


def build(
    rows: list[dict[str, Any]], window: Window, targets: Sequence[Target], listed: Sequence[Target] = ()
) -> dict[str, Any]:
    """Per deployment: counts, failure rate, latency percentiles, throttling, payload bytes, codes.
    `listed`: with no TARGET, the workspace's deployments (each shown, with rows or not)."""
    found, codes = _by_target(rows)
    _add_silent_targets(found, targets, listed)
    return {
        "source": "endpoint-logs",
        "table": TABLE,
        "window": {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "seconds": window.seconds,
        },
        "targets": [_target_entry(name, found[name], codes.get(name, {})) for name in sorted(found)],
    }


def throttle_threshold(value: str) -> Threshold:
    """`--max-throttle-delay 100ms`: the largest request or response throttling delay allowed."""
    from amlmon.gate import Threshold, format_ms, parse_latency, reading

    limit = parse_latency(value, option="--max-throttle-delay")
    return Threshold(
        "maxThrottleDelay", "throttling delay", "max", limit, reading("throttling.maxDelayMs"), format_ms
    )


def checked_targets(ctx: AppContext, targets: list[Target], command: str) -> list[Target]:
    """The named targets resolved as v2 deployments (amlmon.evidence.v2_deployments: its errors first,
    unchanged), while the Log Analytics workspace the query goes to is read on a thread: the two sets
    of ARM reads are independent, so the command waits for the longer, not for both."""
    from amlmon.evidence import v2_deployments

    ctx.read_workspace_ahead()
    try:
        return v2_deployments(ctx, targets, command)
    except Exception:
        # a workspace that is not there fails the listing too: say that, not the listing's raw 404;
        # any other failure of the workspace read is said where it is used, after the targets' error
        from amlmon.errors import WorkspaceNotFound

        try:
            ctx.workspace_info  # noqa: B018 - awaited for its error
        except WorkspaceNotFound:
            raise
        except Exception:
            pass
        raise


def collect_for_gate(ctx: AppContext, targets: Sequence[Target], window: Window) -> dict[str, Any]:
    """`collect` for `check`: a service error is "the gate could not be evaluated" (exit 6), never a breach."""
    from amlmon.gate import evaluable

    return evaluable(lambda: collect(ctx, targets, window), "the query service")


def collect(ctx: AppContext, targets: Sequence[Target], window: Window) -> dict[str, Any]:
    """The traffic log's health of `targets`; none named: every deployment that has rows (deleted ones
    too) and every deployment the workspace lists, with rows or not."""
    from amlmon.azure.logs import run_query
    from amlmon.evidence import every_v2_deployment

    if not targets:  # the workspace first: a wrong one is said as such, not as the listing's raw 404
        ctx.workspace_info  # noqa: B018 - read (or awaited: context.read_workspace_ahead) for its error
    listed = every_v2_deployment(ctx) if not targets else []

    result = run_query(
        ctx.query_api,
        traffic_query(targets, window),
        timespan=(window.start, window.end),
        source="log-analytics",
        allow_partial=False,
    )
    rows = [record for table in result.tables[:1] for record in table.records()]
    return build(rows, window, targets, listed)
