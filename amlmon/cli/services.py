"""`amlmon services list`: every deployed model of the workspace — v1 ACI/AKS services and v2 online deployments."""

from __future__ import annotations

from typing import IO, Any

import typer

from amlmon.cli.common import app_context, output, warn
from amlmon.cli.params import kind_option, name_option

services_app = typer.Typer(
    help="Deployed models: v1 ACI/AKS web services and v2 online deployments.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")


@services_app.command("list")
def list_services(
    kind: list[str] = kind_option(),
    name: str | None = name_option(),
) -> None:
    """List services and deployments: target, kind, state, diagnostics, modelData, scoringUri, updated.

    target is `svc` for a v1 service and `endpoint/deployment` for a v2 deployment; modelData is v1's
    dataCollection.storageEnabled or v2's model_inputs/model_outputs collections. v2 rows also carry
    dataCollector (each collection's mode, sampling rate, data asset) and endpointLogs in JSON.
    """
    from amlmon import diagnostics as diag

    ctx = app_context()
    kinds = diag.parse_kinds(kind)
    ws = diag.Workspace(ctx)
    try:
        need_v1 = not kinds or bool(kinds & {"ACI", "AKS"})
        need_v2 = not kinds or bool(kinds & {"Managed", "Kubernetes"})
        items = ws.inventory(v1=need_v1, v2=need_v2, details=True)
    finally:
        ws.close()
    warn_unlisted(ws)
    rows = [item.row() for item in items if diag.matches(item, kinds, name)]
    if name is not None and not rows:  # a --name that matches nothing is an error, not `[]`
        raise _not_matched(name, kinds, [item.target for item in items])
    rows.sort(key=lambda row: str(row["target"]).lower())
    output(rows, table=render_rows)


def _not_matched(name: str | None, kinds: set[str], names: list[str]) -> Any:
    """NotFound (exit 3) for a --name/--kind selection that matched no service or deployment."""
    from amlmon.errors import NotFound
    from amlmon.targets import suggest

    selection = " ".join(
        [*(f"--kind {k}" for k in sorted(kinds)), *([f"--name {name!r}"] if name is not None else [])]
    )
    close = suggest(name.strip("*?[]"), names) if name else []
    return NotFound(
        f"no service or deployment matched {selection or '--all'}",
        hint=f"did you mean {' or '.join(close)}?"
        if close
        else "list the workspace's services and deployments with `amlmon services list`",
    )


def nothing_matched(ctx: Any, kinds: set[str], name: str | None) -> Any:
    """`_not_matched` with the workspace's own names as did-you-mean (best effort: listing may fail)."""
    from amlmon import diagnostics as diag

    names: list[str] = []
    ws = diag.Workspace(ctx)
    try:
        names = [item.target for item in ws.inventory()]
    except Exception:  # the suggestion is a courtesy; the error stands without it
        names = []
    finally:
        ws.close()
    return _not_matched(name, kinds, names)


def warn_unlisted(ws: Any) -> None:
    """One warning per endpoint whose deployments 404'd while listing (the other targets go on)."""
    from amlmon.diagnostics.workspace import unlisted_warnings

    for line in unlisted_warnings(ws):
        warn(line)


def on_off(value: Any) -> str:
    return "-" if value is None else ("on" if value else "off")


def render_rows(rows: Any, stream: IO[str]) -> None:
    """The table view: on/off instead of true/false."""
    from amlmon.render.table import render_table

    if not rows:
        print("no services or deployments", file=stream)
        return
    shown = [_table_row(row) for row in rows]
    render_table(shown, stream, no_color=app_context().options.no_color, keep=("target",))


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    """Nested v2 details condensed to on/off columns (the JSON keeps all of it)."""
    collector = row.get("dataCollector")
    logs = row.get("endpointLogs")
    payloads = None
    if isinstance(collector, dict):
        modes = [(collector["collections"].get(c) or {}).get("mode") for c in ("request", "response")]
        payloads = any(str(mode or "").lower() == "enabled" for mode in modes)
    categories = (logs or {}).get("categories") or []
    endpoint_logs = (
        "-"
        if logs is None
        else (",".join(c.removeprefix("AmlOnlineEndpoint").removesuffix("Log") for c in categories) or "off")
    )
    return {
        "target": row["target"],
        "kind": row["kind"],
        "state": row["state"],
        "diagnostics": on_off(row.get("diagnostics")),
        "modelData": on_off(row.get("modelData")),
        "payloads": on_off(payloads),
        "endpointLogs": endpoint_logs,
        "scoringUri": row["scoringUri"],
        "updated": row["updated"],
    }
