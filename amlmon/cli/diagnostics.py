"""`amlmon diagnostics enable|disable|status`: Application Insights diagnostics on deployed models."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any

import typer

from amlmon.cli.common import app_context, output, warn
from amlmon.cli.params import kind_option, name_option, targets_argument

diagnostics_app = typer.Typer(
    help="Application Insights diagnostics on v1 ACI/AKS services and v2 online deployments.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(diagnostics_app, name="diagnostics")


SAMPLING_HELP = "Fraction of requests the collections enabled by this run keep, 0..1 (v2)."
ROLLING_HELP = "How often the collector starts a new folder: minute, hour (default), day, month, year (v2)."
HEADER_HELP = "Request header to log with the payloads; repeat for several (v2, replaces the list)."
MODEL_DATA_PIPES = "v1 dataCollection.storageEnabled; v2 the model_inputs and model_outputs collections"
PAYLOAD_PIPES = "the request and response collections (v2)"
ENDPOINT_LOGS = "Endpoint logs (console, traffic, event; v2)"
ENDPOINT_LOGS_ON = "to Log Analytics through amlmon's diagnostic setting"
LAW_HELP = "Log Analytics workspace resource ID for --endpoint-logs (default: the App Insights one's)."


def keep_help(pipe: str, *, default: bool = False, example: str = "") -> str:
    """--no-X's help: the same words on enable and disable, because it does the same on both."""
    also = " (the default)" if default else ""
    why = f", e.g. {example}" if example else ""
    return f"Leave {pipe} unchanged{also}{why}."


@diagnostics_app.command("enable")
def enable(
    targets: list[str] | None = targets_argument(),
    all_targets: bool = typer.Option(
        False, "--all", help="Every service and deployment (narrow with --kind/--name)."
    ),
    kind: list[str] = kind_option(),
    name: str | None = name_option(),
    app_insights: bool = typer.Option(False, "--app-insights", help="Application Insights on (the default)."),
    keep_app_insights: bool = typer.Option(
        False, "--no-app-insights", help=keep_help("Application Insights")
    ),
    model_data: bool = typer.Option(False, "--model-data", help=f"Model data on: {MODEL_DATA_PIPES}."),
    keep_model_data: bool = typer.Option(
        False, "--no-model-data", help=keep_help("model data", default=True)
    ),
    payloads: bool = typer.Option(False, "--payloads", help=f"Payload logging on: {PAYLOAD_PIPES}."),
    keep_payloads: bool = typer.Option(
        False, "--no-payloads", help=keep_help("payload logging", default=True)
    ),
    sampling_rate: float | None = typer.Option(None, "--sampling-rate", help=SAMPLING_HELP, metavar="RATE"),
    rolling_rate: str | None = typer.Option(None, "--rolling-rate", help=ROLLING_HELP),
    capture_header: list[str] = typer.Option(
        [], "--capture-header", help=HEADER_HELP, metavar="HEADER", show_default=False
    ),
    endpoint_logs: bool = typer.Option(
        False, "--endpoint-logs", help=f"{ENDPOINT_LOGS} on: {ENDPOINT_LOGS_ON}."
    ),
    keep_endpoint_logs: bool = typer.Option(
        False, "--no-endpoint-logs", help=keep_help("endpoint logs", default=True)
    ),
    log_analytics_workspace: str | None = typer.Option(
        None, "--log-analytics-workspace", help=LAW_HELP, metavar="ID"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print target, field, old → new; change nothing."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return the operation IDs without waiting."),
    timeout: str = typer.Option(
        "15m", "--timeout", metavar="DURATION", help="How long to wait for each target."
    ),
) -> None:
    """Turn telemetry on: Application Insights (the portal's "Enable AppInsights diagnostics") and, for
    v2 deployments, the data collector and endpoint logs when asked.

    Idempotent: a target already on is reported `unchanged` and nothing is written. Several targets are
    updated concurrently; a failure does not stop the others (exit 1, with a summary).
    """
    from amlmon import diagnostics as diag
    from amlmon.diagnostics.run import check_capture_headers, check_sampling_rate, pipe_wishes

    switch = pipe_wishes(
        True,
        app_insights=(app_insights, keep_app_insights),
        model_data=(model_data, keep_model_data),
        payloads=(payloads, keep_payloads),
        endpoint_logs=(endpoint_logs, keep_endpoint_logs),
    )
    want = diag.V2Want(
        **switch,
        sampling_rate=check_sampling_rate(sampling_rate),
        rolling_rate=diag.parse_rolling_rate(rolling_rate),
        capture_headers=check_capture_headers(capture_header),
        log_analytics_workspace=log_analytics_workspace,
    )
    _change(True, targets or [], all_targets, kind, name, want.model_data, want, dry_run, no_wait, timeout)


@diagnostics_app.command("disable")
def disable(
    targets: list[str] | None = targets_argument(),
    all_targets: bool = typer.Option(
        False, "--all", help="Every service and deployment (narrow with --kind/--name)."
    ),
    kind: list[str] = kind_option(),
    name: str | None = name_option(),
    app_insights: bool = typer.Option(
        False, "--app-insights", help="Application Insights off (the default)."
    ),
    keep_app_insights: bool = typer.Option(
        False, "--no-app-insights", help=keep_help("Application Insights", example="to turn off only a pipe")
    ),
    model_data: bool = typer.Option(False, "--model-data", help=f"Model data off: {MODEL_DATA_PIPES}."),
    keep_model_data: bool = typer.Option(
        False, "--no-model-data", help=keep_help("model data", default=True)
    ),
    payloads: bool = typer.Option(False, "--payloads", help=f"Payload logging off: {PAYLOAD_PIPES}."),
    keep_payloads: bool = typer.Option(
        False, "--no-payloads", help=keep_help("payload logging", default=True)
    ),
    endpoint_logs: bool = typer.Option(
        False,
        "--endpoint-logs",
        help=f"{ENDPOINT_LOGS} off: remove amlmon's diagnostic setting (never others').",
    ),
    keep_endpoint_logs: bool = typer.Option(
        False, "--no-endpoint-logs", help=keep_help("endpoint logs", default=True)
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print target, field, old → new; change nothing."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return the operation IDs without waiting."),
    timeout: str = typer.Option(
        "15m", "--timeout", metavar="DURATION", help="How long to wait for each target."
    ),
) -> None:
    """Turn telemetry off: Application Insights and the pipes named. Idempotent, concurrent, goes on
    past failures."""
    from amlmon import diagnostics as diag
    from amlmon.diagnostics.run import pipe_wishes

    switch = pipe_wishes(
        False,
        app_insights=(app_insights, keep_app_insights),
        model_data=(model_data, keep_model_data),
        payloads=(payloads, keep_payloads),
        endpoint_logs=(endpoint_logs, keep_endpoint_logs),
    )
    want = diag.V2Want(**switch)
    _change(False, targets or [], all_targets, kind, name, want.model_data, want, dry_run, no_wait, timeout)


@diagnostics_app.command("status")
def status(
    targets: list[str] | None = targets_argument("every one"),
    kind: list[str] = kind_option(),
    name: str | None = name_option(),
) -> None:
    """Diagnostics and model data collection of the given targets (all when none is given)."""
    from amlmon import diagnostics as diag
    from amlmon.cli.services import render_rows, warn_unlisted

    ctx = app_context()
    kinds = diag.parse_kinds(kind)
    ws = diag.Workspace(ctx)
    try:
        resolution = diag.collect(
            ws, targets or [], all_targets=not targets, kinds=kinds, name_glob=name, details=True
        )
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
    want: Any,
    dry_run: bool,
    no_wait: bool,
    timeout_text: str,
) -> None:
    from amlmon import diagnostics as diag
    from amlmon.diagnostics import run
    from amlmon.diagnostics.apply import InterruptedRun

    kinds, timeout = run.check_wish(texts, all_targets, want, kind, timeout_text)
    ctx = app_context()
    ctx.long_run(timeout, timeout_text)  # the wait on Azure's operations bounds its retries too
    try:
        if want.app_insights:
            ctx.workspace_info.require_app_insights()
        ws = diag.Workspace(ctx)
    except KeyboardInterrupt:
        raise run.nothing_submitted() from None
    options = diag.Options(enable, model_data, dry_run=dry_run, wait=not no_wait, timeout=timeout, v2=want)
    try:
        results = run.change(
            ws,
            texts,
            all_targets=all_targets,
            kinds=kinds,
            name_glob=name,
            options=options,
            warn=warn,
            progress_for=make_progress,
        )
    except InterruptedRun as exc:  # per target, whether a change reached Azure, before the error line
        for line in exc.targets:
            print(f"note: {line}", file=sys.stderr)
        raise
    finally:
        ws.close()
    if not results:  # a bulk selection that matches nothing is an error, never an empty success
        from amlmon.cli.services import nothing_matched

        raise nothing_matched(ctx, kinds, name)
    output(run.document(enable, dry_run, results), table=render_results)
    code = diag.exit_code(results)
    if code:
        raise typer.Exit(code)


def _value(value: Any) -> str:
    import json

    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "on" if value is True else "off" if value is False else str(value)


def _short_field(field: str) -> str:
    """The table's name for a field: without the `properties.` envelope (JSON keeps the full path)."""
    return field.removeprefix("properties.dataCollector.collections.").removeprefix("properties.")


def _short(value: Any) -> str:
    """ARM ids by their names (data asset `name:version`), an endpoint-logs setting as categories → workspace."""
    if isinstance(value, str) and value.startswith("/subscriptions/"):
        parts = value.rstrip("/").split("/")
        if len(parts) >= 4 and parts[-2] == "versions" and parts[-4].lower() == "data":
            return f"data asset {parts[-3]}:{parts[-1]}"
        return parts[-1]
    if isinstance(value, dict) and "categories" in value:
        names = ",".join(c.removeprefix("AmlOnlineEndpoint").removesuffix("Log") for c in value["categories"])
        return f"{names} to {_short(value.get('workspaceId'))}"
    return _value(value)


def render_results(document: Any, stream: IO[str]) -> None:
    """One row per target (what changed, old → new, operation or reason) and the summary line."""
    from amlmon.render.table import render_table

    rows = []
    for result in document.get("results") or []:
        changes = [
            f"{_short_field(c['field'])}: {_short(c['old'])} → {_short(c['new'])}"
            for c in result.get("changes") or []
        ]
        # v1 rows keep their one-line form; v2 rows carry many fields, one per line
        change = "; ".join(changes) if result["kind"] in ("ACI", "AKS") else "\n".join(changes)
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
    render_table(rows, stream, no_color=app_context().options.no_color, keep=("target",))
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
