"""The `-o table` views of v2 request health: the endpoints' traffic log (`stats --endpoint-logs`) and
Azure Monitor platform metrics (`stats --metrics`). Input: the records `amlmon.endpoint_stats.collect`
and `amlmon.platform_metrics.collect` return."""

from __future__ import annotations

from typing import IO, Any


def traffic_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Headers and one row per deployment, for the table."""
    from amlmon.gate import format_ms, format_rate

    headers = [
        "target",
        "requests",
        "failures",
        "failureRate",
        "4xx",
        "p50",
        "p95",
        "p99",
        "modelP95",
        "codes",
    ]
    body = []
    for item in data["targets"]:
        r = item["requests"]
        body.append(
            [
                item["target"],
                r["count"],
                r["failures"],
                format_rate(r["failureRate"]),
                r["clientErrors"],
                format_ms(r["p50"]),
                format_ms(r["p95"]),
                format_ms(r["p99"]),
                format_ms(r["modelP95"]),
                " ".join(f"{code}:{n}" for code, n in r["codes"].items()),
            ]
        )
    return headers, body


def metrics_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    from amlmon.gate import format_ms, format_rate

    def percent(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}%"

    headers = [
        "target",
        "requests",
        "req/min",
        "5xx",
        "p50",
        "p95",
        "p99",
        "cpu avg/max",
        "mem max",
        "dc events/errors",
    ]
    body = []
    for item in data["targets"]:
        r = item["requests"]
        body.append(
            [
                item["target"],
                r["count"],
                "n/a" if r["perMinute"] is None else f"{r['perMinute']:.2f}",
                f"{r['failures']} ({format_rate(r['failureRate'])})",
                format_ms(r["p50"]),
                format_ms(r["p95"]),
                format_ms(r["p99"]),
                "n/a"
                if item["cpu"]["maxPercent"] is None
                else f"{percent(item['cpu']['averagePercent'])}/{percent(item['cpu']['maxPercent'])}",
                percent(item["memory"]["maxPercent"]),
                f"{item['dataCollection']['events']}/{item['dataCollection']['errors']}",
            ]
        )
    return headers, body


def v2_tsv_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """-o tsv of the v2 stats, as v1's: one row per target (target, window start and end, source), then
    each figure by its dotted JSON name; counts by code or status class as `code:count,…`."""
    window = data["window"]
    rows = []
    for target in data["targets"]:
        row: dict[str, Any] = {"target": target["target"], "start": window["start"], "end": window["end"]}
        row["source"] = data["source"]
        for part, figures in target.items():
            for key, value in figures.items() if isinstance(figures, dict) else ():
                if isinstance(value, dict):
                    value = ",".join(f"{name}:{count}" for name, count in value.items())
                row[f"{part}.{key}"] = value
        rows.append(row)
    return rows


def traffic_table(data: dict[str, Any], stream: IO[str], *, no_color: bool) -> None:
    window = data["window"]
    title = f"{window['start']} .. {window['end']}  source {data['source']} ({data['table']})"
    _print(title, *traffic_rows(data), stream, no_color)


def metrics_table(data: dict[str, Any], stream: IO[str], *, no_color: bool) -> None:
    window = data["window"]
    title = f"{window['start']} .. {window['end']}  source {data['source']} (Azure Monitor, interval FULL)"
    _print(title, *metrics_rows(data), stream, no_color)


def _print(title: str, headers: list[str], body: list[list[Any]], stream: IO[str], no_color: bool) -> None:
    """The title, then the table as every amlmon table: one line per row, cut to a terminal, the target
    never cut (render_table), drawn without a header rule."""
    from amlmon.render.console import make_console
    from amlmon.render.table import render_table

    make_console(stream, no_color=no_color).print(title)
    rows = [dict(zip(headers, (str(cell) for cell in row), strict=True)) for row in body]
    render_table(rows, stream, no_color=no_color, keep=("target",), rule=False)
