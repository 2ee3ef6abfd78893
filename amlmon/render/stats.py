"""`amlmon stats` and `amlmon check` as text: stats panels with sparklines, the gate's PASS/FAIL lines,
and the Markdown summary for GitHub Actions.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from amlmon.gate import format_ms, format_rate
from amlmon.render.console import make_console
from amlmon.render.table import ellipsize, fit_widths

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


def render_check(verdict: Any, stream: IO[str], *, no_color: bool) -> None:
    from rich.markup import escape

    from amlmon.render.text import visible

    console = make_console(stream, no_color=no_color)
    styles = {"PASS": "green", "FAIL": "bold red", "SKIP": "yellow"}
    for result in verdict["results"]:
        status = result["status"]
        reason = escape(visible(str(result["reason"])))
        console.print(f"[{styles[status]}]{status}[/] {reason}", markup=True, highlight=False)
    summary = "passed" if verdict["passed"] else "FAILED"
    console.print(
        f"gate {summary} ({verdict['window']['start']} .. {verdict['window']['end']})", highlight=False
    )


def render_stats(data: Any, stream: IO[str], *, no_color: bool) -> None:
    """One panel per target (side by side when they fit). Like every table, a row stays one line: on a
    terminal, cells are cut with an ellipsis to its width, widest columns first."""
    from rich.columns import Columns
    from rich.text import Text

    console = make_console(stream, no_color=no_color)
    window = data["window"]
    header = f"{window['start']} .. {window['end']}  bin {window['bin']}  source {data['source']}"
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    console.print(Text(ellipsize(header, console.width) if terminal else header, style="dim"), crop=False)
    panels = [_stats_panel(target, console.width if terminal else None) for target in data["targets"]]
    with console.capture() as captured:  # Columns pad every line to the row's width: no trailing spaces
        console.print(Columns(panels, padding=(1, 4)))
    stream.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    stream.flush()


def stats_tsv_rows(data: Any) -> list[dict[str, Any]]:
    """-o tsv: one row per target, flat columns (target, window, then each figure by its dotted JSON
    name); the per-bin series and the top lists stay in -o json, result codes as `code:count,…`."""
    window = data["window"]
    rows = []
    for target in data["targets"]:
        row: dict[str, Any] = {"target": target["target"], "start": window["start"], "end": window["end"]}
        row.update(bin=window["bin"], source=data["source"])
        for part in ("requests", "dependencies", "exceptions"):
            for key, value in (target.get(part) or {}).items():
                if key == "resultCodes":
                    value = ",".join(f"{c['code']}:{c['count']}" for c in value)
                elif isinstance(value, dict | list):
                    continue
                row[f"{part}.{key}"] = value
        rows.append(row)
    return rows


Row = tuple[str, str, str, bool]  # metric, value, series or message, message?


def _request_rows(req: dict[str, Any]) -> list[Row]:
    series = req["series"]
    codes = ", ".join(f"{c['code']}:{c['count']}" for c in req["resultCodes"][:5])
    latency = "/".join(format_ms(req[k]) for k in ("p50", "p95", "p99"))
    return [
        (
            "requests",
            f"{req['count']} ({req['ratePerMinute']:.1f}/min)",
            sparkline(series["requests"]),
            False,
        ),
        (
            "failures",
            f"{req['failures']} ({format_rate(req['failureRate'])})",
            sparkline(series["failures"]),
            False,
        ),
        ("p50/p95/p99", latency, sparkline(series["p95"]), False),
        ("result codes", codes or "-", "", False),
    ]


def _dependency_rows(dep: dict[str, Any]) -> list[Row]:
    summary = f"{dep['count']} ({format_rate(dep['failureRate'])} failed, p95 {format_ms(dep['p95'])})"
    rows: list[Row] = [("dependencies", summary, sparkline(dep["series"]["dependencies"]), False)]
    rows += [
        (f"  {g['type']}", f"{g['target']}: {g['count']} ({format_rate(g['failureRate'])})", "", False)
        for g in dep["top"]
    ]
    return rows


def _exception_rows(exc: dict[str, Any]) -> list[Row]:
    rate = f"{exc['count']} ({exc['ratePerMinute']:.1f}/min)"
    rows: list[Row] = [("exceptions", rate, sparkline(exc["series"]["exceptions"]), False)]
    for item in exc["top"]:
        message = item["latestMessage"]
        message = message if len(message) <= 60 else message[:57] + "..."
        rows.append((f"  {item['type']}", f"{item['count']}", message, True))
    return rows


def _stats_rows(target: dict[str, Any]) -> list[Row]:
    """(metric, value, series or message, message?) rows of one target's panel."""
    return (
        _request_rows(target["requests"])
        + _dependency_rows(target["dependencies"])
        + _exception_rows(target["exceptions"])
    )


def _stats_panel(target: dict[str, Any], width: int | None) -> Any:
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    from amlmon.render.text import visible

    # Type names, dependency targets and exception messages are the service's text: shown, never run.
    rows = [(visible(m), visible(v), visible(s), is_msg) for m, v, s, is_msg in _stats_rows(target)]
    natural = [max([1] + [cell_len(str(row[i])) for row in rows]) for i in range(3)]
    widths = fit_widths(natural, max(width - 4, 0)) if width is not None else natural  # 2 gaps of 2
    name = visible(target["target"])
    title = name if width is None else ellipsize(name, width)
    table = Table(title=title, show_header=False, box=None, pad_edge=False, title_justify="left")
    table.add_column("metric", style="bold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("series", no_wrap=True)
    for metric, value, series, is_message in rows:
        cells = [ellipsize(text, w) for text, w in zip((metric, value, series), widths, strict=True)]
        table.add_row(cells[0], cells[1], Text(cells[2], style="dim") if is_message else cells[2])
    return table


def write_step_summary(verdict: dict[str, Any]) -> None:
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
