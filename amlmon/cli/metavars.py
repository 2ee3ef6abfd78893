"""Placeholders in help: what a value is (DURATION, RATE, PATH, TARGET…), not its Python type.

One table for every command, applied to the click command tree when it is built, so an option reads
the same wherever it appears; an option that means something else in one command is named there.
"""

from __future__ import annotations

from typing import Any

# Option (its first long name) → placeholder.
METAVARS: dict[str, str] = {
    "--since": "WHEN",
    "--until": "WHEN",
    "--from": "WHEN",
    "--to": "WHEN",
    "--timespan": "TIMESPAN",
    "--max-p50": "DURATION",
    "--max-p95": "DURATION",
    "--max-p99": "DURATION",
    "--max-throttle-delay": "DURATION",
    "--interval": "DURATION",
    "--overlap": "DURATION",
    "--bin": "DURATION",
    "--timeout": "DURATION",
    "--ingestion-delay": "DURATION",
    "--jitter": "DURATION",
    "--max-failure-rate": "RATE",
    "--max-dependency-failure-rate": "RATE",
    "--max-cpu": "RATE",
    "--max-memory": "RATE",
    "--max-collection-errors": "N",
    "--tail": "N",
    "--container": "inference-server|storage-initializer",
    "--source": "container|endpoint-logs",
    "--max-exceptions": "N",
    "--min-requests": "N",
    "--limit": "N",
    "--top": "N",
    "--count": "N",
    "--services": "N",
    "--server-timeout": "SECONDS",
    "--retry-after": "SECONDS",
    "--delay": "SECONDS",
    "--hours": "HOURS",
    "--query-row-limit": "ROWS",
    "--query-byte-limit": "BYTES",
    "--file": "PATH",
    "--out": "PATH",
    "--data": "DIR",
    "--message": "TEXT",
    "--grep": "REGEX",
    "--path": "REGEX",
    "--severity": "LEVEL",
    "--format": "FORMAT",
    "--storage-account": "NAME|ID",
    "--event-hub-rule": "ID",
    "--event-hub": "NAME",
    "--log-analytics": "ID",
    "--tables": "TABLES",
    "--name": "NAME",
    "--connection-string": "STRING",
    "--port": "PORT",
    "--host": "ADDRESS",
    "--sub": "ID",
    "--rg": "NAME",
    "--ws": "NAME",
    "--rate": "RATE",
    "--rolling-rate": "minute|hour|day|month|year",  # diagnostics.plan.ROLLING_RATES, a unit, not a number
    "--generation": "GENERATION",
    "--method": "METHOD",
    "--status": "STATUS",
}
# (command path without "amlmon", option) → placeholder, where one command's option means something else.
OVERRIDES: dict[tuple[str, str], str] = {
    ("emulator faults add", "--rate"): "PROBABILITY",
    ("emulator seed", "--rate"): "N/min",
    ("query", "--since"): "DURATION",
    ("doctor", "--since"): "DURATION",
    ("query", "--file"): "FILE",
    ("traces", "--source"): "app-insights|endpoint-logs",
    ("traces", "--request"): "REQUEST_ID",
}


def apply(command: Any, path: str = "") -> None:
    """Give every value option of `command` and its subcommands its placeholder (an explicit one stays)."""
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "argument":
            _name_argument(param)
            continue
        if getattr(param, "param_type_name", "") != "option" or param.is_flag or param.metavar:
            continue
        long_names = [name for name in param.opts if name.startswith("--")]
        if not long_names:
            continue
        name = long_names[0]
        placeholder = OVERRIDES.get((path, name)) or METAVARS.get(name)
        if placeholder:
            param.metavar = placeholder
    for name, sub in (getattr(command, "commands", None) or {}).items():
        apply(sub, f"{path} {name}".strip())


def _name_argument(param: Any) -> None:
    """An argument reads as its name: a choice would show as {kind}, and Typer's usage line wraps a
    required one in braces ({TARGET}), which reads as a set of choices; click's own usage shows TARGET."""
    if not param.metavar and param.name:
        param.metavar = param.name.upper()
    if param.required and param.metavar:
        param.get_usage_pieces = lambda ctx: [param.metavar + ("..." if param.nargs != 1 else "")]
