"""One `diagnostics enable|disable` run: check the wish, resolve the targets, warn, apply, report.

The CLI parses options into `Options` and renders what comes back; warnings and progress go through
the callables it passes (this module prints nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypedDict

from amlmon.diagnostics.apply import apply
from amlmon.diagnostics.inventory import Item, endpoint_items
from amlmon.diagnostics.plan import V2Want
from amlmon.diagnostics.resolution import not_found_error
from amlmon.diagnostics.results import Options, Result, summary
from amlmon.diagnostics.workspace import Workspace, collect, unlisted_warnings
from amlmon.errors import Interrupted, NotFound, UsageError

Warn = Callable[[str], None]


class ProgressSink(Protocol):
    def update(self, target: str, message: str) -> None: ...

    def close(self) -> None: ...


def check_wish(
    texts: Sequence[str], all_targets: bool, want: V2Want, kind: Sequence[str], timeout: str
) -> tuple[set[str], float]:
    """The kinds and the timeout in seconds; usage errors the options make before anything is read."""
    from amlmon.diagnostics.inventory import parse_kinds
    from amlmon.timeparse import parse_duration

    if texts and all_targets:
        raise UsageError("give TARGET… or --all, not both", hint="use --name GLOB / --kind to narrow --all")
    seconds = parse_duration(timeout, option="--timeout").total_seconds()
    kinds = parse_kinds(kind)
    if want.log_analytics_workspace is not None:
        check_log_analytics_workspace(want.log_analytics_workspace)
    if want.sampling_rate is not None and not (want.model_data or want.payloads):
        raise UsageError(
            "--sampling-rate applies to the collections this run enables",
            hint="add --model-data and/or --payloads",
        )
    return kinds, seconds


PIPE_NAMES = {
    "app_insights": "Application Insights",
    "model_data": "model data",
    "payloads": "payload logging",
    "endpoint_logs": "endpoint logs",
}


class PipeWishes(TypedDict):
    """Each pipe's wish: True on, False off, None leave it (V2Want's fields of the same names)."""

    app_insights: bool | None
    model_data: bool | None
    payloads: bool | None
    endpoint_logs: bool | None


def pipe_wishes(enable: bool, **pairs: tuple[bool, bool]) -> PipeWishes:
    """Each pipe's wish from its `--X` and `--no-X`: on (enable) or off (disable) with `--X`, None (leave it
    as it is) with `--no-X` or neither (App Insights: changed unless `--no-app-insights`). Both at once is
    a usage error rather than the last one silently winning."""
    wish: dict[str, bool | None] = {}
    for key, (change, keep) in pairs.items():
        option = "--" + key.replace("_", "-")
        if change and keep:
            verb = "on" if enable else "off"
            raise UsageError(
                f"{option} and --no-{option[2:]} contradict each other",
                hint=f"{option} turns {PIPE_NAMES[key]} {verb}; --no-{option[2:]} leaves it unchanged: give one",
            )
        wish[key] = None if keep else (enable if change else None)
    if not pairs["app_insights"][1]:  # the one pipe a run changes unless told to leave it
        wish["app_insights"] = enable
    return PipeWishes(
        app_insights=wish["app_insights"],
        model_data=wish.get("model_data"),
        payloads=wish.get("payloads"),
        endpoint_logs=wish.get("endpoint_logs"),
    )


LOG_ANALYTICS_TYPE = "Microsoft.OperationalInsights/workspaces"


def check_log_analytics_workspace(value: str) -> None:
    """--log-analytics-workspace is a Log Analytics workspace's resource ID (what the diagnostic setting's
    workspaceId takes; Azure refuses anything else): checked before any plan, so a dry run never
    predicts a change Azure would refuse."""
    from amlmon.azure import paths

    option = "--log-analytics-workspace"
    if not value.startswith("/"):
        try:
            name = paths.LOG_ANALYTICS_WORKSPACE.check(value, option)
        except UsageError:
            name = "<name>"
        raise UsageError(
            f"{option} {value!r} is not a Log Analytics workspace resource ID",
            hint=f"give /subscriptions/<guid>/resourceGroups/<rg>/providers/{LOG_ANALYTICS_TYPE}/{name} "
            f"(`az monitor log-analytics workspace show -g <rg> -n {name} --query id`), "
            "or leave it out for the App Insights component's own workspace",
        )
    paths.parse_resource_id(value, option=option, expect_type=LOG_ANALYTICS_TYPE, strict=True)


def check_sampling_rate(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise UsageError(f"--sampling-rate {value} is not between 0 and 1", hint="e.g. --sampling-rate 0.25")
    return value


# RFC 9110 §5.1: a field name is a token (tchar: letters, digits and !#$%&'*+-.^_`|~).
_HEADER_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def check_capture_headers(values: Sequence[str]) -> list[str] | None:
    """--capture-header values: HTTP header names, which are tokens (no spaces, colons or quotes)."""
    for value in values:
        if not _HEADER_TOKEN.match(value):
            raise UsageError(
                f"--capture-header {value!r} is not an HTTP header name",
                hint="HTTP header names are tokens (letters, digits and !#$%&'*+-.^_`|~, no spaces), "
                "e.g. --capture-header x-request-id",
            )
    return list(values) or None


def change(
    ws: Workspace,
    texts: Sequence[str],
    *,
    all_targets: bool,
    kinds: set[str],
    name_glob: str | None,
    options: Options,
    warn: Warn,
    progress_for: Callable[[list[str]], ProgressSink],
) -> list[Result]:
    """Every named target's result, unknown targets as failed results after the others."""
    try:
        resolution = collect(ws, texts, all_targets=all_targets, kinds=kinds, name_glob=name_glob)
        for line in unlisted_warnings(ws):
            warn(line)
        if resolution.unknown and not resolution.items:
            raise not_found_error(resolution.unknown)
        for line in advice(options.v2, resolution.items):
            warn(line)
        items = list(resolution.items)
        if options.v2.endpoint_logs is not None:
            items += endpoint_items(items)
    except KeyboardInterrupt:
        raise nothing_submitted() from None
    progress = progress_for([item.target for item in items])
    try:
        results = apply(ws, items, options, progress.update)
    finally:
        progress.close()
    return results + unknown_results(resolution.unknown)


def nothing_submitted() -> Interrupted:
    """Ctrl-C before the run wrote anything (while reading the workspace and the targets)."""
    return Interrupted(
        "interrupted while reading the targets; nothing was submitted to Azure",
        hint="run the command again; `amlmon diagnostics status TARGET…` shows where each target stands",
    )


def advice(want: V2Want, items: Sequence[Item]) -> list[str]:
    """What the user should know before the run: options v1 ignores, monitoring and latency traps."""
    lines = []
    v2_only = [
        option
        for option, value in (
            ("--payloads", want.payloads),
            ("--sampling-rate", want.sampling_rate),
            ("--rolling-rate", want.rolling_rate),
            ("--capture-header", want.capture_headers),
            ("--endpoint-logs", want.endpoint_logs),
        )
        if value is not None
    ]
    v1_only = bool(items) and not any(item.api == "v2" for item in items)
    if v2_only and v1_only:
        verb = "applies" if len(v2_only) == 1 else "apply"
        them = "it" if len(v2_only) == 1 else "them"
        named = " and ".join([", ".join(v2_only[:-1]), v2_only[-1]] if len(v2_only) > 1 else v2_only)
        lines.append(f"{named} {verb} to v2 deployments only; v1 services ignore {them}")
    if want.rolling_rate and want.rolling_rate != "Hour":
        lines.append(
            f"rollingRate {want.rolling_rate}: Azure ML model monitoring reads hourly folders "
            "(yyyy/MM/dd/HH) and will find no data; keep --rolling-rate hour if you use it"
        )
    if want.endpoint_logs and not v1_only:  # the hour's wait only concerns a setting that is made
        lines.append(
            "endpoint logs can take up to an hour after the setting is created before the first rows appear"
        )
    return lines


def unknown_results(unknown: Sequence[tuple[str, list[str]]]) -> list[Result]:
    """A failed result per target that named nothing (a bulk run reports them beside the others)."""
    results = []
    for text, suggestions in unknown:
        hint = f"did you mean {' or '.join(suggestions)}?" if suggestions else "see `amlmon services list`"
        failed = Result(text, "?", "failed", reason=f"not found; {hint}")
        failed.error = NotFound(f"{text!r} not found", hint=hint)
        results.append(failed)
    return results


def document(enable: bool, dry_run: bool, results: Sequence[Result]) -> dict[str, Any]:
    """The run's output: action, every result, the summary counts."""
    return {
        "action": "enable" if enable else "disable",
        "dryRun": dry_run,
        "results": [result.to_dict() for result in results],
        "summary": summary(results),
    }
