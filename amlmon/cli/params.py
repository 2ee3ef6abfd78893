"""Shared typed parameters of the command modules, declared once with one help text each.

A command takes one by calling the factory as its default: `since: str = since_option("1h")`. Each call
makes a fresh typer parameter (typer keeps per-command state on them), so no object is shared between
commands; only the declaration is. Defaults differ per command and are shown by the help as
[default: …], never written into the help text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

TARGETS_HELP = "Services (svc), endpoints (ep: all their deployments) or deployments (ep/dep)"
SINCE_HELP = "Start: a duration ago (30s, 10m, 2h, 7d, 1w) or a time."
UNTIL_HELP = "End (default now): a time or a duration ago."
UNTIL_FOLLOW_HELP = (
    f"{UNTIL_HELP} With --follow, when to stop: a time or a duration from now (--until 10m stops ten "
    "minutes from now)."
)
LOOKBACK_HELP = "How far back to look: a duration (30s, 10m, 2h, 7d, 1w), not a time."
LOG_ANALYTICS_HELP = (
    "Read the Log Analytics workspace (AppTraces, AppRequests, …) instead of the App Insights component."
)
PRINT_QUERY_HELP = "Print the KQL instead of running it."
ROLE_HELP = (
    "The role name / Service Name the target's telemetry carries, when it is not the deployment or "
    "endpoint name (v2 sets an undocumented one; amlmon lists those present)."
)
KIND_HELP = "Only these kinds: ACI, AKS, Managed, Kubernetes (repeat or comma-separate)."
NAME_HELP = "Only targets matching this glob, e.g. 'churn-*' or 'credit-ep/*'."
OUT_HELP = (
    "Output file; the format follows the extension: .parquet, .jsonl or .csv. An existing file is "
    "kept unless --overwrite."
)
DATASET_FORMAT_HELP = "parquet, jsonl or csv (default: from --out)."
OVERWRITE_HELP = "Replace --out if it exists (the new file replaces it only when complete)."
FLATTEN_HELP = (
    "Also write input/prediction values as columns (input.data[0][1], prediction[0], …) when every "
    "record has the same shape."
)


def targets_argument(none_means: str | None = None) -> Any:
    """[TARGET]...: what the command reads (see targets.py for the forms); `none_means` says what giving
    none does, where that is allowed."""
    help_text = f"{TARGETS_HELP}; none means {none_means}." if none_means else f"{TARGETS_HELP}."
    return typer.Argument(None, metavar="[TARGET]...", help=help_text, show_default=False)


def _scoped(help_text: str, only: str | None) -> str:
    """A shared help text for an option that applies to one mode of a command (`endpoint-logs: …`)."""
    return f"{only}: {help_text}" if only else help_text


def since_option(default: str | None, *, only: str | None = None, later_default: str | None = None) -> Any:
    """`--since`; `later_default` is the default the help names when the command decides it once the
    other options are known (the parameter's own default is then None)."""
    help_text = _scoped(SINCE_HELP, only)
    if later_default is not None:
        help_text += f"  [default: {later_default}]"  # as click shows a default
    return typer.Option(default, "--since", help=help_text)


def until_option(*, follow: bool = False, only: str | None = None) -> Any:
    """`--until`; `follow=True` where --follow makes it the time to stop."""
    return typer.Option(None, "--until", help=_scoped(UNTIL_FOLLOW_HELP if follow else UNTIL_HELP, only))


def lookback_option(default: str | None) -> Any:
    """`--since` as a duration only (doctor, query): a look-back window, never an instant."""
    return typer.Option(default, "--since", help=LOOKBACK_HELP)


def log_analytics_option() -> Any:
    """The source choice: App Insights (classic schema, the default) or the Log Analytics workspace."""
    return typer.Option(False, "--log-analytics", help=LOG_ANALYTICS_HELP)


def print_query_option() -> Any:
    return typer.Option(False, "--print-query", help=PRINT_QUERY_HELP)


def role_option() -> Any:
    return typer.Option(None, "--role", metavar="NAME", help=ROLE_HELP)


def kind_option() -> Any:
    return typer.Option([], "--kind", help=KIND_HELP, metavar="KIND", show_default=False)


def name_option() -> Any:
    return typer.Option(None, "--name", help=NAME_HELP, metavar="GLOB")


def out_option() -> Any:
    """`--out`: the dataset file `data pull` / `data extract` write."""
    return typer.Option(..., "--out", help=OUT_HELP, parser=dataset_path)


def dataset_path(text: str) -> Path:
    """--out as given. An empty (or blank) one is refused here, while it is still text: as a Path it
    would be `.`, the current folder, and the error then named a folder the user never typed."""
    from amlmon.errors import UsageError

    if not text.strip():
        raise UsageError(
            f"--out {text!r} is blank" if text else "--out is empty",
            hint="give the dataset file to write, e.g. --out models.parquet (.parquet, .jsonl or .csv)",
        )
    return Path(text)


def dataset_format_option() -> Any:
    return typer.Option(None, "--format", help=DATASET_FORMAT_HELP)


def overwrite_option() -> Any:
    return typer.Option(False, "--overwrite", help=OVERWRITE_HELP)


def flatten_option() -> Any:
    return typer.Option(False, "--flatten", help=FLATTEN_HELP)


CONNECTION_STRING_HELP = (
    "Storage connection string (better in $AZURE_STORAGE_CONNECTION_STRING; never printed)."
)


def connection_string_option(help_text: str = CONNECTION_STRING_HELP) -> Any:
    """`--connection-string`, also read from AZURE_STORAGE_CONNECTION_STRING (never shown as a default)."""
    return typer.Option(
        None,
        "--connection-string",
        envvar="AZURE_STORAGE_CONNECTION_STRING",
        help=help_text,
        show_default=False,
    )


def datastore_url_option(help_text: str, *, required: bool = False) -> Any:
    """`--datastore-url`: the container the v2 data collector writes to."""
    return typer.Option(... if required else None, "--datastore-url", metavar="URL", help=help_text)
