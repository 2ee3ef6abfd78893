"""CLI glue of `stats --metrics` and `check --metrics / --max-cpu / --max-memory /
--max-collection-errors` (v2 platform metrics; the logic is in amlmon.platform_metrics)."""

from __future__ import annotations

from typing import Any

import typer

METRICS_HELP = (
    "v2: request rate, latency percentiles, CPU/memory and data-collection events/errors from the "
    "endpoints' Azure Monitor platform metrics (no setup needed), per deployment."
)


def stats_metrics(parsed: list[Any], window: Any, print_query: bool) -> None:
    from amlmon import platform_metrics
    from amlmon.cli.common import app_context, output, table_view
    from amlmon.render.v2_stats import metrics_table, v2_tsv_rows

    if print_query:
        print(platform_metrics.requests_text(parsed, window))
        return
    from amlmon.evidence import v2_deployments

    parsed = v2_deployments(app_context(), parsed, "stats")  # unknown: exit 3; a v1 service: exit 2
    collected = platform_metrics.collect(app_context(), parsed, window)
    output(collected, table=table_view(metrics_table), tsv=v2_tsv_rows)


def wants_metrics(metrics: bool, *limits: str | None) -> bool:
    return metrics or any(limit is not None for limit in limits)


def check_metrics(
    parsed: list[Any],
    window: Any,
    thresholds: list[Any],
    limits: tuple[str | None, str | None, str | None],
    print_query: bool,
    endpoint_logs: bool,
) -> None:
    """The gate on platform metrics: the request thresholds plus --max-cpu/--max-memory/--max-collection-errors."""
    from amlmon import gate, platform_metrics
    from amlmon.cli.common import app_context, output
    from amlmon.errors import UsageError
    from amlmon.render.stats import render_check, write_step_summary

    if endpoint_logs:
        raise UsageError(
            "--metrics (--max-cpu, --max-memory, --max-collection-errors) and --endpoint-logs "
            "(--max-throttle-delay) are different sources",
            hint="gate on one source per run: run check twice",
        )
    thresholds = [*thresholds, *platform_metrics.metric_thresholds(*limits)]
    if print_query:
        print(platform_metrics.requests_text(parsed, window))
        return
    from amlmon.evidence import v2_deployments

    parsed = v2_deployments(app_context(), parsed, "check")  # unknown: exit 3; a v1 service: exit 2
    verdict = platform_metrics.check(app_context(), parsed, window, thresholds)
    write_step_summary(verdict)
    no_color = app_context().options.no_color
    output(
        verdict,
        table=lambda data, stream: render_check(data, stream, no_color=no_color),
        exit_code=gate.exit_code(verdict),
    )
    if gate.exit_code(verdict):
        raise typer.Exit(gate.exit_code(verdict))
