"""`amlmon stats` (request, dependency and exception health) and `amlmon check` (the CI gate).

Exit codes of `check`: 0 every threshold holds; 1 a threshold is breached (including too few
requests); 2 bad option; 3 workspace not found; 4 authentication; 5 throttled / timed out;
6 the gate could not be evaluated (query service error, partial result) — never a pass.
"""

from __future__ import annotations

from typing import Any

import typer

from amlmon.cli.common import app_context, output, table_view, warn
from amlmon.cli.params import (
    log_analytics_option,
    print_query_option,
    role_option,
    since_option,
    targets_argument,
    until_option,
)
from amlmon.render.stats import render_check, render_stats, stats_tsv_rows, write_step_summary
from amlmon.render.v2_stats import traffic_table, v2_tsv_rows
from amlmon.schema import source_of

PM_HELP = "v2: health from the endpoints' Azure Monitor platform metrics (rate, latency, CPU/memory, data collection)."


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
    app.command("check")(check)


def _window(since: str, until: str | None, bin_size: str | None) -> Any:
    from amlmon import stats
    from amlmon.timeparse import parse_duration, time_range

    start, end = time_range(since, until, default_since=since)
    if bin_size:
        size = stats.check_bin(parse_duration(bin_size, option="--bin"), end - start)
    else:
        size = stats.default_bin(end - start)
    return stats.Window(start, end, size)


def _print_queries(targets: list[Any], window: Any, log_analytics: bool) -> None:
    from amlmon.queries.stats import queries

    source = source_of(log_analytics)
    timespan = f"{window.start.isoformat()}/{window.end.isoformat()}"
    for name, text in queries(targets, window, source).items():
        print(f"// {name} ({source}, timespan {timespan})\n{text}\n")


def stats(
    targets: list[str] = targets_argument("all telemetry of the workspace"),
    since: str = since_option("1h"),
    until: str | None = until_option(),
    bin_size: str | None = typer.Option(
        None, "--bin", help="Time bin of the series, e.g. 5m (default: about 24 bins)."
    ),
    top: int = typer.Option(
        5, "--top", min=1, max=100, help="How many dependency groups and exception types."
    ),
    log_analytics: bool = log_analytics_option(),
    role: str | None = role_option(),
    print_query: bool = print_query_option(),
    endpoint_logs: bool = typer.Option(
        False,
        "--endpoint-logs",
        help="v2: request health from the endpoints' AmlOnlineEndpointTrafficLog in the Log Analytics "
        "workspace (real codes and durations), per deployment.",
    ),
    metrics: bool = typer.Option(False, "--metrics", help=PM_HELP),
) -> None:
    """Requests, dependencies and exceptions of deployed models: counts, rates, failure rates, latency."""
    from amlmon.stats import collect
    from amlmon.targets import parse_targets, with_role

    _one_v2_source(metrics, endpoint_logs)
    _no_role_for_v2(role, metrics, endpoint_logs)
    parsed = with_role(parse_targets(targets or []), role)
    window = _window(since, until, bin_size)
    if metrics:
        from amlmon.cli.platform_metrics import stats_metrics

        return stats_metrics(parsed, window, print_query)
    if endpoint_logs:
        from amlmon import endpoint_stats

        if print_query:
            print(endpoint_stats.traffic_query(parsed, window))
            return
        parsed = endpoint_stats.checked_targets(app_context(), parsed, "stats")  # unknown: exit 3; v1: exit 2
        health = endpoint_stats.collect(app_context(), parsed, window)
        _say_if_empty(health, parsed, window)
        output(health, table=table_view(traffic_table), tsv=v2_tsv_rows)
        return
    if print_query:
        _print_queries(parsed, window, log_analytics)
        return
    from amlmon.evidence import known_targets

    parsed = known_targets(app_context(), parsed)  # unknown: exit 3; none: every target and `*`
    result = collect(app_context(), parsed, window, source=source_of(log_analytics), top=top)
    output(result, table=table_view(render_stats), tsv=stats_tsv_rows)
    _explain_empty(parsed, window, result, log_analytics, "stats")


def check(
    targets: list[str] = targets_argument("all telemetry of the workspace"),
    since: str = since_option("15m"),
    until: str | None = until_option(),
    max_failure_rate: str | None = typer.Option(None, "--max-failure-rate", help="e.g. 1% or 0.01."),
    max_p50: str | None = typer.Option(None, "--max-p50", help="Median latency limit, e.g. 200ms."),
    max_p95: str | None = typer.Option(None, "--max-p95", help="p95 latency limit, e.g. 500ms or 1.5s."),
    max_p99: str | None = typer.Option(None, "--max-p99", help="p99 latency limit, e.g. 2s."),
    max_exceptions: str | None = typer.Option(
        None, "--max-exceptions", help="Most exceptions allowed, e.g. 0."
    ),
    min_requests: str | None = typer.Option(
        None,
        "--min-requests",
        help="Fewest requests for a meaningful gate [default: 1; 0 allows no traffic].",
    ),
    max_dependency_failure_rate: str | None = typer.Option(
        None, "--max-dependency-failure-rate", help="e.g. 5% (no dependency calls passes)."
    ),
    log_analytics: bool = log_analytics_option(),
    role: str | None = role_option(),
    print_query: bool = print_query_option(),
    endpoint_logs: bool = typer.Option(
        False,
        "--endpoint-logs",
        help="v2: gate on the endpoints' AmlOnlineEndpointTrafficLog (real codes and durations), per deployment.",
    ),
    max_throttle_delay: str | None = typer.Option(
        None, "--max-throttle-delay", help="With --endpoint-logs: largest throttling delay, e.g. 100ms."
    ),
    metrics: bool = typer.Option(False, "--metrics", help=PM_HELP),
    max_cpu: str | None = typer.Option(None, "--max-cpu", help="v2 peak CPU, e.g. 80% (implies --metrics)."),
    max_memory: str | None = typer.Option(
        None, "--max-memory", help="v2 peak memory, e.g. 80% (implies --metrics)."
    ),
    max_collection_errors: str | None = typer.Option(
        None, "--max-collection-errors", help="v2 data-collection errors allowed, e.g. 0 (implies --metrics)."
    ),
) -> None:
    """A CI gate: exit 0 when every threshold holds, 1 when one is breached, 6 when it cannot be evaluated.

    Each target is checked on its own. One line per threshold (PASS/FAIL, measured, limit). Without
    traffic the gate fails ("only 0 requests in 15m") unless --min-requests 0. A Markdown summary is
    appended to $GITHUB_STEP_SUMMARY when set.
    """
    from amlmon import gate
    from amlmon.targets import parse_targets, with_role

    thresholds = gate.build_thresholds(
        max_failure_rate=max_failure_rate,
        max_p50=max_p50,
        max_p95=max_p95,
        max_p99=max_p99,
        max_exceptions=max_exceptions,
        min_requests=min_requests,
        max_dependency_failure_rate=max_dependency_failure_rate,
    )
    parsed = with_role(parse_targets(targets or []), role)
    window = _window(since, until, None)
    from amlmon.cli.platform_metrics import check_metrics, wants_metrics

    limits = (max_cpu, max_memory, max_collection_errors)
    _no_role_for_v2(role, wants_metrics(metrics, *limits), endpoint_logs or max_throttle_delay is not None)
    if wants_metrics(metrics, *limits):
        logs_asked = endpoint_logs or max_throttle_delay is not None
        return check_metrics(parsed, window, thresholds, limits, print_query, logs_asked)
    if endpoint_logs or max_throttle_delay is not None:
        _check_endpoint_logs(parsed, window, thresholds, endpoint_logs, max_throttle_delay, print_query)
        return
    if print_query:
        _print_queries(parsed, window, log_analytics)
        return
    from amlmon.evidence import known_targets

    parsed = known_targets(app_context(), parsed)  # unknown: exit 3; none: gate every target and `*`
    measured = gate.measure(app_context(), parsed, window, source=source_of(log_analytics))
    verdict = gate.evaluate(measured, thresholds)
    write_step_summary(verdict)
    output(verdict, table=table_view(render_check), exit_code=gate.exit_code(verdict))
    _explain_empty(parsed, window, measured, log_analytics, "check")
    if gate.exit_code(verdict):
        raise typer.Exit(gate.exit_code(verdict))


def _one_v2_source(metrics: bool, endpoint_logs: bool) -> None:
    """stats reads one source: both asked is refused (exit 2), not one dropped (check says it itself)."""
    from amlmon.errors import UsageError

    if metrics and endpoint_logs:
        raise UsageError(
            "--metrics and --endpoint-logs are different sources",
            hint="read one source per run: run stats twice",
        )


def _no_role_for_v2(role: str | None, metrics: bool, endpoint_logs: bool) -> None:
    """--role is App Insights' role name; the v2 sources name endpoints and deployments: refused, not ignored."""
    from amlmon.errors import UsageError

    if role is not None and (metrics or endpoint_logs):
        source = "platform metrics" if metrics else "endpoint logs"
        raise UsageError(
            f"--role names an App Insights role name; the {source} name endpoints and deployments",
            hint="drop --role: the TARGET (endpoint or endpoint/deployment) says whose health is read",
        )


def _explain_empty(
    targets: list[Any], window: Any, stats: dict[str, Any], log_analytics: bool, command: str
) -> None:
    """One stderr line per target that had no requests and no exceptions: why, when amlmon can tell."""
    from amlmon import evidence
    from amlmon.cli.common import warn
    from amlmon.targets import ALL

    by_name = {entry["target"]: entry for entry in stats["targets"]}
    # Targets the user named, each; with none, the workspace as a whole (not every idle service).
    wanted: list[Any] = [None] if not targets or ALL in targets else list(targets)
    for target in wanted:
        entry = by_name.get(str(target) if target else "*") or {}
        if (entry.get("requests") or {}).get("count") or (entry.get("exceptions") or {}).get("count"):
            continue
        note = evidence.explain_empty(
            app_context(), target, source_of(log_analytics), (window.start, window.end), "requests", command
        )
        if note:
            warn(note)


def _check_endpoint_logs(
    parsed: list[Any],
    window: Any,
    thresholds: list[Any],
    endpoint_logs: bool,
    max_throttle_delay: str | None,
    print_query: bool,
) -> None:
    """`check --endpoint-logs`: the request thresholds (and --max-throttle-delay) on the traffic log."""
    from amlmon import endpoint_stats, gate
    from amlmon.errors import UsageError

    if not endpoint_logs:
        raise UsageError(
            "--max-throttle-delay needs --endpoint-logs", hint="add --endpoint-logs (v2 deployments)"
        )
    unsupported = [t.name for t in thresholds if t.name in ("maxExceptions", "maxDependencyFailureRate")]
    if unsupported:
        option = "--max-exceptions" if "maxExceptions" in unsupported else "--max-dependency-failure-rate"
        raise UsageError(
            f"{option} is not in the endpoint's traffic log", hint="drop it, or gate without --endpoint-logs"
        )
    if max_throttle_delay is not None:
        thresholds.append(endpoint_stats.throttle_threshold(max_throttle_delay))
    if print_query:
        print(endpoint_stats.traffic_query(parsed, window))
        return
    # Unknown: exit 3; a v1 service: exit 2; an endpoint: each deployment gated, with traffic or not.
    parsed = endpoint_stats.checked_targets(app_context(), parsed, "check")
    measured = endpoint_stats.collect_for_gate(app_context(), parsed, window)
    verdict = gate.evaluate(measured, thresholds)
    write_step_summary(verdict)
    output(verdict, table=table_view(render_check), exit_code=gate.exit_code(verdict))
    if gate.exit_code(verdict):
        raise typer.Exit(gate.exit_code(verdict))


def _say_if_empty(health: dict[str, Any], parsed: list[Any], window: Any) -> None:
    """No request in the traffic log: why that may be, on stderr (never a silent 0)."""
    if any(entry["requests"]["count"] for entry in health["targets"]):
        return
    from amlmon.endpoint_logs import table_empty_note

    names = parsed or [entry["target"] for entry in health["targets"]]
    warn(table_empty_note(health["table"], "requests", names, window.start, window.end))
