"""`amlmon services list`: every deployed model of the workspace — v1 ACI/AKS services and v2 online deployments."""

from __future__ import annotations

from typing import IO, Any

import typer

from amlmon.cli.common import app_context, output, warn

services_app = typer.Typer(
    help="Deployed models: v1 ACI/AKS web services and v2 online deployments.", no_args_is_help=True
)

KIND_HELP = "Only these kinds: ACI, AKS, Managed, Kubernetes (repeat or comma-separate)."
NAME_HELP = "Only targets matching this glob, e.g. 'churn-*' or 'credit-ep/*'."


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")


@services_app.command("list")
def list_services(
    kind: list[str] = typer.Option([], "--kind", help=KIND_HELP, metavar="KIND", show_default=False),
    name: str | None = typer.Option(None, "--name", help=NAME_HELP, metavar="GLOB"),
) -> None:
    """List services and deployments: target, kind, state, diagnostics, modelData, scoringUri, updated.

    target is `svc` for a v1 service and `endpoint/deployment` for a v2 deployment; modelData (model data
    collection) is a v1 setting and empty for v2.
    """
    from amlmon import diagnostics as diag

    ctx = app_context()
    kinds = diag.parse_kinds(kind)
    ws = diag.Workspace(ctx)
    try:
        need_v1 = not kinds or bool(kinds & {"ACI", "AKS"})
        need_v2 = not kinds or bool(kinds & {"Managed", "Kubernetes"})
        items = ws.inventory(v1=need_v1, v2=need_v2)
    finally:
        ws.close()
    warn_unlisted(ws)
    rows = [item.row() for item in items if diag.matches(item, kinds, name)]
    rows.sort(key=lambda row: str(row["target"]).lower())
    output(rows, table=render_rows)


def warn_unlisted(ws: Any) -> None:
    """One line per endpoint whose deployments 404'd while listing (the other targets go on)."""
    for endpoint in ws.unlisted:
        warn(
            f"endpoint {endpoint!r}: its deployments could not be listed (not found; deleted meanwhile?); "
            "the other targets are listed"
        )


def on_off(value: Any) -> str:
    return "-" if value is None else ("on" if value else "off")


def render_rows(rows: Any, stream: IO[str]) -> None:
    """The table view: on/off instead of true/false."""
    from amlmon.render.table import render_table

    if not rows:
        print("no services or deployments", file=stream)
        return
    shown = [
        {**row, "diagnostics": on_off(row.get("diagnostics")), "modelData": on_off(row.get("modelData"))}
        for row in rows
    ]
    render_table(shown, stream, no_color=app_context().options.no_color)
