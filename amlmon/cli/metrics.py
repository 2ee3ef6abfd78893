"""`amlmon stats` (request, dependency and exception health) and `amlmon check` (the CI gate).

Exit codes of `check`: 0 every threshold holds; 1 a threshold is breached (including too few
requests); 2 bad option; 3 workspace not found; 4 authentication; 5 throttled / timed out;
6 the gate could not be evaluated (query service error, partial result) — never a pass.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

import typer

from amlmon.cli.common import app_context, output

TARGETS_HELP = (
    "Services (svc), endpoints (ep) or deployments (ep/dep); none means all telemetry of the workspace."
)
LA_HELP = "Query the Log Analytics workspace (AppRequests, …) instead of the App Insights component."
PRINT_HELP = "Print the KQL queries instead of running them."
PM_HELP = "v2: health from the endpoints' Azure Monitor platform metrics (rate, latency, CPU/memory, data collection)."


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
    app.command("check")(check)


def _window(since: str, until: str | None, bin_size: str | None) -> Any:
    from amlmon import health
    from amlmon.timeparse import parse_duration, time_range

    start, end = time_range(since, until, default_since=since)
    if bin_size:
        size = health.check_bin(parse_duration(bin_size, option="--bin"), end - start)
    else:
        size = health.default_bin(end - start)
    return health.Window(start, end, size)


def _print_queries(targets: list[Any], window: Any, log_analytics: bool) -> None:
    from amlmon import health
    from amlmon.targets import Schema

    schema: Schema = "workspace" if log_analytics else "classic"
    source = "log-analytics" if log_analytics else "app-insights"
    timespan = f"{window.start.isoformat()}/{window.end.isoformat()}"
    for name, text in health.queries(targets, window, schema).items():
        print(f"// {name} ({source}, timespan {timespan})\n{text}\n")


def stats(
    targets: list[str] = typer.Argument(None, metavar="[TARGET]...", help=TARGETS_HELP, show_default=False),
    since: str = typer.Option("1h", "--since", help="Start of the window: a duration ago (1h) or a time."),
    until: str | None = typer.Option(None, "--until", help="End of the window (default now)."),
    bin_size: str | None = typer.Option(
        None, "--bin", help="Time bin of the series, e.g. 5m (default: about 24 bins)."
    ),
    top: int = typer.Option(
        5, "--top", min=1, max=100, help="How many dependency groups and exception types."
    ),
    log_analytics: bool = typer.Option(False, "--log-analytics", help=LA_HELP),
    role: str | None = typer.Option(
        None,
        "--role",
        metavar="NAME",
        help="The role name / Service Name the target's telemetry carries, when it is not the "
        "deployment or endpoint name (v2 sets an undocumented one; amlmon lists those present).",
    ),
    print_query: bool = typer.Option(False, "--print-query", help=PRINT_HELP),
    endpoint_logs: bool = typer.Option(
        False,
        "--endpoint-logs",
        help="v2: request health from the endpoints' AmlOnlineEndpointTrafficLog in the Log Analytics "
        "workspace (real codes and durations), per deployment.",
    ),
    metrics: bool = typer.Option(False, "--metrics", help=PM_HELP),
) -> None:
    """Requests, dependencies and exceptions of deployed models: counts, rates, failure rates, latency."""
    from amlmon import health
    from amlmon.targets import parse_targets, with_role

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
        output(endpoint_stats.collect(app_context(), parsed, window), table=endpoint_stats.render_table)
        return
    if print_query:
        _print_queries(parsed, window, log_analytics)
        return
    from amlmon.evidence import known_targets

    parsed = known_targets(app_context(), parsed)  # unknown: exit 3; none: every target and `*`
    result = health.collect(app_context(), parsed, window, log_analytics=log_analytics, top=top)
    output(result, table=_render_stats)
    _explain_empty(parsed, window, result, log_analytics, "stats")


def check(
    targets: list[str] = typer.Argument(None, metavar="[TARGET]...", help=TARGETS_HELP, show_default=False),
    since: str = typer.Option("15m", "--since", help="Start of the window: a duration ago (15m) or a time."),
    until: str | None = typer.Option(None, "--until", help="End of the window (default now)."),
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
    log_analytics: bool = typer.Option(False, "--log-analytics", help=LA_HELP),
    role: str | None = typer.Option(
        None,
        "--role",
        metavar="NAME",
        help="The role name / Service Name the target's telemetry carries, when it is not the "
        "deployment or endpoint name (v2 sets an undocumented one; amlmon lists those present).",
    ),
    print_query: bool = typer.Option(False, "--print-query", help=PRINT_HELP),
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
    from amlmon import health
    from amlmon.targets import parse_targets, with_role

    thresholds = health.build_thresholds(
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
    measured = health.collect_for_gate(app_context(), parsed, window, log_analytics=log_analytics)
    verdict = health.evaluate(measured, thresholds)
    _write_step_summary(verdict)
    output(verdict, table=_render_check)
    _explain_empty(parsed, window, measured, log_analytics, "check")
    if not verdict["passed"]:
        raise typer.Exit(health.EXIT_GATE_FAILED)


def _explain_empty(
    targets: list[Any], window: Any, stats: dict[str, Any], log_analytics: bool, command: str
) -> None:
    """One stderr line per target that had no requests and no exceptions: why, when amlmon can tell."""
    from amlmon import evidence
    from amlmon.cli.common import warn
    from amlmon.targets import ALL, Schema

    by_name = {entry["target"]: entry for entry in stats["targets"]}
    # Targets the user named, each; with none, the workspace as a whole (not every idle service).
    wanted: list[Any] = [None] if not targets or ALL in targets else list(targets)
    for target in wanted:
        entry = by_name.get(str(target) if target else "*") or {}
        if (entry.get("requests") or {}).get("count") or (entry.get("exceptions") or {}).get("count"):
            continue
        schema: Schema = "workspace" if log_analytics else "classic"
        note = evidence.explain_empty(
            app_context(), target, schema, (window.start, window.end), "requests", command
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
    from amlmon import endpoint_stats, health
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
    measured = endpoint_stats.collect_for_gate(app_context(), parsed, window)
    verdict = health.evaluate(measured, thresholds)
    _write_step_summary(verdict)
    output(verdict, table=_render_check)
    if not verdict["passed"]:
        raise typer.Exit(health.EXIT_GATE_FAILED)


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
def _console(stream: IO[str]) -> Any:
    from amlmon.render.console import make_console

    return make_console(stream, no_color=app_context().options.no_color)


def _render_check(verdict: Any, stream: IO[str]) -> None:
    console = _console(stream)
    styles = {"PASS": "green", "FAIL": "bold red", "SKIP": "yellow"}
    for result in verdict["results"]:
        status = result["status"]
        console.print(f"[{styles[status]}]{status}[/] {result['reason']}", markup=True, highlight=False)
    summary = "passed" if verdict["passed"] else "FAILED"
    console.print(
        f"gate {summary} ({verdict['window']['start']} .. {verdict['window']['end']})", highlight=False
    )


def _render_stats(data: Any, stream: IO[str]) -> None:
    """One panel per target (side by side when they fit). Like every table, a row stays one line: on a
    terminal, cells are cut with an ellipsis to its width, widest columns first."""
    from rich.columns import Columns
    from rich.text import Text

    from amlmon.render.table import ellipsize

    console = _console(stream)
    window = data["window"]
    header = f"{window['start']} .. {window['end']}  bin {window['bin']}  source {data['source']}"
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    console.print(Text(ellipsize(header, console.width) if terminal else header, style="dim"), crop=False)
    panels = [_stats_panel(target, console.width if terminal else None) for target in data["targets"]]
    console.print(Columns(panels, padding=(1, 4)))


def _stats_rows(target: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(metric, value, series or message, message?) rows of one target's panel."""
    from amlmon import health

    req, dep, exc = target["requests"], target["dependencies"], target["exceptions"]
    series = req["series"]
    codes = ", ".join(f"{c['code']}:{c['count']}" for c in req["resultCodes"][:5])
    rows = [
        (
            "requests",
            f"{req['count']} ({req['ratePerMinute']:.1f}/min)",
            health.sparkline(series["requests"]),
            False,
        ),
        (
            "failures",
            f"{req['failures']} ({health.format_rate(req['failureRate'])})",
            health.sparkline(series["failures"]),
            False,
        ),
        (
            "p50/p95/p99",
            "/".join(health.format_ms(req[k]) for k in ("p50", "p95", "p99")),
            health.sparkline(series["p95"]),
            False,
        ),
        ("result codes", codes or "-", "", False),
        (
            "dependencies",
            f"{dep['count']} ({health.format_rate(dep['failureRate'])} failed, p95 {health.format_ms(dep['p95'])})",
            health.sparkline(dep["series"]["dependencies"]),
            False,
        ),
    ]
    rows += [
        (f"  {g['type']}", f"{g['target']}: {g['count']} ({health.format_rate(g['failureRate'])})", "", False)
        for g in dep["top"]
    ]
    rows.append(
        (
            "exceptions",
            f"{exc['count']} ({exc['ratePerMinute']:.1f}/min)",
            health.sparkline(exc["series"]["exceptions"]),
            False,
        )
    )
    for item in exc["top"]:
        message = item["latestMessage"]
        message = message if len(message) <= 60 else message[:57] + "..."
        rows.append((f"  {item['type']}", f"{item['count']}", message, True))
    return rows


def _stats_panel(target: dict[str, Any], width: int | None) -> Any:
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    from amlmon.render.table import ellipsize, fit_widths

    rows = _stats_rows(target)
    natural = [max([1] + [cell_len(str(row[i])) for row in rows]) for i in range(3)]
    widths = fit_widths(natural, max(width - 4, 0)) if width is not None else natural  # 2 gaps of 2
    title = target["target"] if width is None else ellipsize(target["target"], width)
    table = Table(title=title, show_header=False, box=None, pad_edge=False, title_justify="left")
    table.add_column("metric", style="bold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("series", no_wrap=True)
    for metric, value, series, is_message in rows:
        cells = [ellipsize(text, w) for text, w in zip((metric, value, series), widths, strict=True)]
        table.add_row(cells[0], cells[1], Text(cells[2], style="dim") if is_message else cells[2])
    return table


def _write_step_summary(verdict: dict[str, Any]) -> None:
    """GitHub Actions shows $GITHUB_STEP_SUMMARY (Markdown) on the run page; appended, never replaced."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    icon = {"PASS": "✅", "FAIL": "❌", "SKIP": "➖"}
    lines = [
        f"### amlmon check: {'passed' if verdict['passed'] else 'FAILED'}",
        "",
        f"Window {verdict['window']['start']} .. {verdict['window']['end']} ({verdict['source']})",
        "",
        "| | target | check | result |",
        "|---|---|---|---|",
    ]
    for result in verdict["results"]:
        reason = str(result["reason"]).replace("|", "\\|")
        lines.append(f"| {icon[result['status']]} | {result['target']} | {result['check']} | {reason} |")
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")
    except OSError as exc:
        print(f"warning: could not write the step summary to {path}: {exc.strerror}", file=sys.stderr)
