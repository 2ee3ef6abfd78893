"""The drift report for people: a terminal table per feature with unicode histograms, and one
self-contained HTML file (inline SVG, no scripts, no network)."""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from amlmon.errors import UsageError

BARS = "▁▂▃▄▅▆▇█"


def _proportions(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [count / total if total else 0.0 for count in counts]


def sparkline(values: Sequence[float], top: float) -> str:
    """One block character per bin, heights relative to `top` (shared by baseline and current)."""
    if top <= 0:
        return " " * len(values)
    return "".join(
        " " if value <= 0 else BARS[min(len(BARS) - 1, int(value / top * (len(BARS) - 1) + 0.5))]
        for value in values
    )


def histogram_lines(histogram: dict[str, Any]) -> list[str]:
    """`baseline ▁▃█▅▂` / `current  ▂▃▆█▃` plus what the bins are."""
    if not histogram:
        return ["(no values to plot)"]
    base = _proportions(histogram["baseline"])
    cur = _proportions(histogram["current"])
    top = max([*base, *cur, 0.0])
    lines = [f"baseline {sparkline(base, top)}", f"current  {sparkline(cur, top)}"]
    if "edges" in histogram:
        edges = histogram["edges"]
        lines.append(f"         {_number(edges[0])} … {_number(edges[-1])} ({len(base)} bins)")
    else:
        from amlmon.render.text import visible

        names = visible(", ".join(str(c) for c in histogram["categories"]))
        other = " + other" if any(histogram.get("other", [0, 0])) else ""
        lines.append(f"         {names}{other}")
    return lines


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def render_terminal(report: dict[str, Any], stream: IO[str], no_color: bool = False) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from amlmon.render.console import make_console
    from amlmon.render.text import visible

    console = make_console(stream, no_color=no_color)
    b, c = report["baseline"], report["current"]
    console.print(
        visible(f"baseline {b['source']} ({b['rows']} rows)   current {c['source']} ({c['rows']} rows)"),
        markup=False,
        highlight=False,
    )
    for feature in report["features"]:
        drifted = any(m["breached"] for m in feature["metrics"])
        # a feature name comes from the data: shown as text (no rich markup, control characters visible)
        title = Text(
            f"{visible(str(feature['feature']))} ({feature['kind']}){'  BREACHED' if drifted else ''}"
        )
        table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False, pad_edge=False)
        for column in ("metric", "value", "threshold", "breached"):
            table.add_column(column, justify="right" if column in ("value", "threshold") else "left")
        for metric in feature["metrics"]:
            style = "bold red" if metric["breached"] else None
            table.add_row(
                metric["metric"],
                _number(metric["value"]),
                _number(metric["threshold"]),
                "yes" if metric["breached"] else "no",
                style=style,
            )
        console.print(table)
        for line in histogram_lines(feature["histogram"]):
            console.print("  " + line, markup=False, highlight=False)
        console.print()
    verdict = (
        "drift or a data quality fault: a threshold is breached"
        if report["breached"]
        else "no threshold breached"
    )
    console.print(verdict, markup=False, highlight=False)


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------
SVG_W, SVG_H = 360, 120
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}
.breached{color:#b00;font-weight:bold}.feature{display:inline-block;vertical-align:top;margin:0 2em 2em 0}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}"""
BASE_COLOUR, CURRENT_COLOUR = "#4e79a7", "#f28e2b"


def svg_histogram(histogram: dict[str, Any], label: str) -> str:
    """Baseline and current proportions as side-by-side bars, one group per bin or category."""
    if not histogram:
        return f'<svg class="histogram" role="img" aria-label="{html.escape(label)}" width="{SVG_W}" height="20"></svg>'
    base, cur = _proportions(histogram["baseline"]), _proportions(histogram["current"])
    top = max([*base, *cur]) or 1.0
    groups = len(base)
    width = (SVG_W - 20) / groups
    bars = []
    for index, (b, c) in enumerate(zip(base, cur, strict=True)):
        x = 10 + index * width
        for offset, value, colour in ((0.0, b, BASE_COLOUR), (width / 2, c, CURRENT_COLOUR)):
            height = value / top * (SVG_H - 30)
            bars.append(
                f'<rect x="{x + offset:.2f}" y="{SVG_H - 20 - height:.2f}" width="{max(width / 2 - 1, 0.5):.2f}" '
                f'height="{height:.2f}" fill="{colour}"><title>{value:.3f}</title></rect>'
            )
    if "edges" in histogram:
        edges = histogram["edges"]
        axis = f"{_number(edges[0])} … {_number(edges[-1])}"
    else:
        axis = ", ".join(str(c) for c in histogram["categories"])
    return (
        f'<svg class="histogram" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{html.escape(label)}" '
        f'width="{SVG_W}" height="{SVG_H}" viewBox="0 0 {SVG_W} {SVG_H}">'
        + "".join(bars)
        + f'<text x="10" y="{SVG_H - 5}" font-size="11">{html.escape(axis[:60])}</text></svg>'
    )


def html_report(report: dict[str, Any]) -> str:
    b, c = report["baseline"], report["current"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>amlmon drift</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>amlmon drift</h1>",
        f"<p>baseline <code>{html.escape(b['source'])}</code> ({b['rows']} rows) · current "
        f"<code>{html.escape(c['source'])}</code> ({c['rows']} rows) · "
        f'<strong class="{"breached" if report["breached"] else ""}">'
        f"{'a threshold is breached' if report['breached'] else 'no threshold breached'}</strong></p>",
        f'<p class="legend"><span style="background:{BASE_COLOUR}"></span>baseline'
        f'<span style="background:{CURRENT_COLOUR}"></span>current</p>',
    ]
    for feature in report["features"]:
        name = html.escape(feature["feature"])
        parts.append(
            f'<div class="feature" data-feature="{name}"><h2>{name} <small>({feature["kind"]})</small></h2>'
        )
        parts.append(svg_histogram(feature["histogram"], f"{feature['feature']}: baseline vs current"))
        parts.append("<table><tr><th>metric</th><th>value</th><th>threshold</th><th>breached</th></tr>")
        for metric in feature["metrics"]:
            css = ' class="breached"' if metric["breached"] else ""
            parts.append(
                f"<tr{css}><td>{metric['metric']}</td><td>{_number(metric['value'])}</td>"
                f"<td>{_number(metric['threshold'])}</td><td>{'yes' if metric['breached'] else 'no'}</td></tr>"
            )
        parts.append("</table></div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def check_new_file(path: Path, overwrite: bool, option: str) -> None:
    """Refuse, before any work, a --report/--emit-monitor that cannot be written or would lose something:
    a folder, a device or pipe (renamed over, /dev/null would become a plain file), an existing file
    without --overwrite, a missing folder."""
    from amlmon.datasets.destination import refuse_special_file

    default = (
        ".yml" if option == "--emit-monitor" else ".html"
    )  # a monitor is YAML: '/dev/null' hinted ./null.html
    example = f"./{path.stem if path.stem not in ('', '-') else 'drift'}{path.suffix or default}"
    refuse_special_file(path, option, example)
    if path.is_dir():
        raise UsageError(
            f"{option} {str(path)!r} is a folder", hint=f"give a file name, e.g. {option} {example}"
        )
    if path.exists() and not overwrite:
        raise UsageError(f"{str(path)!r} already exists", hint=f"choose another {option} or add --overwrite")
    if not path.parent.is_dir():
        raise UsageError(
            f"folder {str(path.parent)!r} does not exist", hint=f"create it or choose another {option}"
        )


def write_new_file(path: Path, text: str, overwrite: bool, option: str) -> None:
    """Write `text` to a temp file next to `path`, then rename it over; an existing file only with --overwrite."""
    check_new_file(path, overwrite, option)
    tmp = path.with_name(f".{path.name}.amlmon-tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_or_rename(tmp, path)
    except FileExistsError:
        raise UsageError(
            f"{str(path)!r} already exists", hint=f"choose another {option} or add --overwrite"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _link_or_rename(tmp: Path, path: Path) -> None:
    """A hard link fails when the name was taken meanwhile (no race with another writer); where the
    file system has no hard links, a rename after the existence check above."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        os.replace(tmp, path)
