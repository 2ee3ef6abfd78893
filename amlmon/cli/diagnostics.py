"""`amlmon diagnostics enable|disable|status`: Application Insights diagnostics on deployed models."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any

import typer

from amlmon.cli.common import app_context, output, warn

diagnostics_app = typer.Typer(
    help="Application Insights diagnostics on v1 ACI/AKS services and v2 online deployments.",
    no_args_is_help=True,
)

TARGETS_HELP = "Service names, endpoints (all their deployments) or endpoint/deployment."
KIND_HELP = "Only these kinds: ACI, AKS, Managed, Kubernetes (repeat or comma-separate)."
NAME_HELP = "Only targets matching this glob, e.g. 'churn-*'."


def register(app: typer.Typer) -> None:
    app.add_typer(diagnostics_app, name="diagnostics")


def _targets_argument() -> Any:
    return typer.Argument(None, help=TARGETS_HELP, show_default=False, metavar="TARGET...")


@diagnostics_app.command("enable")
def enable(
    targets: list[str] | None = _targets_argument(),
    all_targets: bool = typer.Option(
        False, "--all", help="Every service and deployment (narrow with --kind/--name)."
    ),
    kind: list[str] = typer.Option([], "--kind", help=KIND_HELP, metavar="KIND", show_default=False),
    name: str | None = typer.Option(None, "--name", help=NAME_HELP, metavar="GLOB"),
    model_data: bool | None = typer.Option(
        None,
        "--model-data/--no-model-data",
        help="Also turn model data collection (inputs and predictions as traces) on/off; v1 services only.",
        show_default=False,
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print target, field, old → new; change nothing."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return the operation IDs without waiting."),
    timeout: str = typer.Option(
        "15m", "--timeout", metavar="DURATION", help="How long to wait for each target."
    ),
) -> None:
    """Turn Application Insights diagnostics on (the portal's "Enable AppInsights diagnostics").

    Idempotent: a target already on is reported `unchanged` and nothing is written. Several targets are
    updated concurrently; a failure does not stop the others (exit 1, with a summary).
    """
    _change(True, targets or [], all_targets, kind, name, model_data, dry_run, no_wait, timeout)


@diagnostics_app.command("disable")
def disable(
    targets: list[str] | None = _targets_argument(),
    all_targets: bool = typer.Option(
        False, "--all", help="Every service and deployment (narrow with --kind/--name)."
    ),
    kind: list[str] = typer.Option([], "--kind", help=KIND_HELP, metavar="KIND", show_default=False),
    name: str | None = typer.Option(None, "--name", help=NAME_HELP, metavar="GLOB"),
    no_model_data: bool = typer.Option(
        False, "--no-model-data", help="Also turn model data collection off (v1 services)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print target, field, old → new; change nothing."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return the operation IDs without waiting."),
    timeout: str = typer.Option(
        "15m", "--timeout", metavar="DURATION", help="How long to wait for each target."
    ),
) -> None:
    """Turn Application Insights diagnostics off. Idempotent, concurrent, goes on past failures."""
    _change(
        False,
        targets or [],
        all_targets,
        kind,
        name,
        False if no_model_data else None,
        dry_run,
        no_wait,
        timeout,
    )


@diagnostics_app.command("status")
def status(
    targets: list[str] | None = _targets_argument(),
    kind: list[str] = typer.Option([], "--kind", help=KIND_HELP, metavar="KIND", show_default=False),
    name: str | None = typer.Option(None, "--name", help=NAME_HELP, metavar="GLOB"),
) -> None:
    """Diagnostics and model data collection of the given targets (all when none is given)."""
    from amlmon import diagnostics as diag
    from amlmon.cli.services import render_rows, warn_unlisted

    ctx = app_context()
    kinds = diag.parse_kinds(kind)
    ws = diag.Workspace(ctx)
    try:
        resolution = diag.collect(ws, targets or [], all_targets=not targets, kinds=kinds, name_glob=name)
    finally:
        ws.close()
    warn_unlisted(ws)
    if resolution.unknown and not resolution.items:
        raise diag.not_found_error(resolution.unknown)
    for text, suggestions in resolution.unknown:
        warn(f"{text!r} not found" + (f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""))
    rows = sorted((item.row() for item in resolution.items), key=lambda row: str(row["target"]).lower())
    output(rows, table=render_rows)
    if resolution.unknown:
        raise typer.Exit(1)


def _change(
    enable: bool,
    texts: list[str],
    all_targets: bool,
    kind: list[str],
    name: str | None,
    model_data: bool | None,
    dry_run: bool,
    no_wait: bool,
    timeout_text: str,
) -> None:
    from amlmon import diagnostics as diag
    from amlmon.cli.services import warn_unlisted
    from amlmon.errors import UsageError
    from amlmon.timeparse import parse_duration

    if texts and all_targets:
        raise UsageError("give TARGET… or --all, not both", hint="use --name GLOB / --kind to narrow --all")
    timeout = parse_duration(timeout_text, option="--timeout").total_seconds()
    kinds = diag.parse_kinds(kind)
    ctx = app_context()
    if enable:
        ctx.workspace_info.require_app_insights()
    ws = diag.Workspace(ctx)
    try:
        resolution = diag.collect(ws, texts, all_targets=all_targets, kinds=kinds, name_glob=name)
        warn_unlisted(ws)
        if resolution.unknown and not resolution.items:
            raise diag.not_found_error(resolution.unknown)
        if model_data is not None and any(item.api == "v2" for item in resolution.items):
            warn(
                "--model-data/--no-model-data applies to v1 services; v2 deployments only get appInsightsEnabled"
            )
        options = diag.Options(enable, model_data, dry_run=dry_run, wait=not no_wait, timeout=timeout)
        progress = make_progress([item.target for item in resolution.items])
        try:
            results = diag.apply(ws, resolution.items, options, progress.update)
        finally:
            progress.close()
    finally:
        ws.close()
    for text, suggestions in resolution.unknown:
        hint = f"did you mean {' or '.join(suggestions)}?" if suggestions else "see `amlmon services list`"
        failed = diag.Result(text, "?", "failed", reason=f"not found; {hint}")
        failed.error = diag.NotFound(f"{text!r} not found", hint=hint)
        results.append(failed)
    if not results:
        warn("no service or deployment matched")
    document = {
        "action": "enable" if enable else "disable",
        "dryRun": dry_run,
        "results": [result.to_dict() for result in results],
        "summary": diag.summary(results),
    }
    output(document, table=render_results)
    code = diag.exit_code(results)
    if code:
        raise typer.Exit(code)


def _value(value: Any) -> str:
    return "on" if value is True else "off" if value is False else str(value)


def render_results(document: Any, stream: IO[str]) -> None:
    """One row per target (what changed, old → new, operation or reason) and the summary line."""
    from amlmon.render.table import render_table

    rows = []
    for result in document.get("results") or []:
        change = "; ".join(
            f"{c['field']}: {_value(c['old'])} → {_value(c['new'])}" for c in result.get("changes") or []
        )
        detail = result.get("reason") or (
            f"operation {result['operationId']}" if result.get("operationId") else ""
        )
        rows.append(
            {
                "target": result["target"],
                "kind": result["kind"],
                "result": result["status"],
                "change": change,
                "detail": detail,
            }
        )
    render_table(rows, stream, no_color=app_context().options.no_color)
    counts = document.get("summary") or {}
    text = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    prefix = "dry run: " if document.get("dryRun") else ""
    print(f"{prefix}{text or 'nothing to do'}", file=stream)


# --- progress ---------------------------------------------------------------------------------
class PlainProgress:
    """CI and pipes: one plain line per event on stderr."""

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet
        self._lock = threading.Lock()

    def update(self, target: str, message: str) -> None:
        if self._quiet:
            return
        with self._lock:
            print(f"{target}: {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        return None


class SpinnerProgress:
    """A terminal: one spinner line per target with its elapsed time, redrawn in place."""

    def __init__(self, targets: list[str], no_color: bool) -> None:
        from rich.live import Live

        from amlmon.render.console import make_console

        self._started = {target: time.monotonic() for target in targets}
        self._message = dict.fromkeys(targets, "reading")
        self._done: dict[str, float] = {}
        self._lock = threading.Lock()
        self._live = Live(
            self, console=make_console(sys.stderr, no_color=no_color), refresh_per_second=8, transient=False
        )
        self._live.start()

    def update(self, target: str, message: str) -> None:
        with self._lock:
            self._message[target] = message
            if message.split(" ", 1)[0].rstrip(":") in (
                "changed",
                "unchanged",
                "would-change",
                "submitted",
                "failed",
            ):
                self._done[target] = time.monotonic() - self._started.get(target, time.monotonic())

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.text import Text

        rows: list[Any] = []
        now = time.monotonic()
        with self._lock:
            for target, message in self._message.items():
                if target in self._done:
                    rows.append(Text(f"  {target}: {message}"))
                else:
                    elapsed = now - self._started[target]
                    rows.append(Spinner("dots", text=Text(f"{target}: {message} ({elapsed:.0f}s)")))
        return Group(*rows)

    def close(self) -> None:
        self._live.stop()


def make_progress(targets: list[str]) -> Any:
    opts = app_context().options
    if sys.stderr.isatty() and not os.environ.get("CI") and not opts.only_show_errors and targets:
        return SpinnerProgress(targets, opts.no_color)
    return PlainProgress(quiet=opts.only_show_errors)
