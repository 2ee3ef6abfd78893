"""`amlmon drift`: data drift, prediction drift and data quality between a baseline and current data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from amlmon.cli.common import app_context, info, output, warn
from amlmon.cli.params import connection_string_option, datastore_url_option, log_analytics_option

BASELINE_HELP = (
    "Baseline: a dataset amlmon wrote (.parquet/.jsonl/.csv), a training-data table, or a window of the "
    "TARGET's model data: 14d..7d (14 to 7 days ago), 2026-11-01..2026-11-08."
)
CURRENT_HELP = "Current data: a file or a window as for --baseline (default: 1d, the TARGET's last day)."
FEATURES_HELP = (
    "Comma-separated features to compare (default: every feature of the baseline); for positional "
    'inputs ({"data": [[…]]}) the names of the columns in order.'
)
THRESHOLD_HELP = (
    "METRIC=VALUE, or numerical.METRIC=VALUE / categorical.METRIC=VALUE (repeatable). Defaults as Azure "
    "ML: normalized_wasserstein_distance=0.1 (numerical), jensen_shannon_distance=0.1 (categorical), "
    "null_value_rate, data_type_error_rate, out_of_bounds_rate=0. p-value metrics "
    "(two_sample_kolmogorov_smirnov_test, pearsons_chi_squared_test) breach below their threshold; rates "
    "and p-values are fractions (0.05) or percentages (5%)."
)


def register(app: typer.Typer) -> None:
    from amlmon.stopping import stopped_as_by_ctrl_c

    app.command("drift")(stopped_as_by_ctrl_c(drift))


def drift(
    target: str | None = typer.Argument(
        None,
        metavar="[TARGET]",
        help="The service (svc) or deployment (ep/dep) whose model data windows are read; optional with files.",
        show_default=False,
    ),
    baseline: str = typer.Option(..., "--baseline", help=BASELINE_HELP, metavar="FILE|WINDOW"),
    current: str | None = typer.Option(None, "--current", help=CURRENT_HELP, metavar="FILE|WINDOW"),
    features: str | None = typer.Option(None, "--features", help=FEATURES_HELP, metavar="A,B,…"),
    categorical: str | None = typer.Option(
        None, "--categorical", help="Comma-separated features to treat as categorical.", metavar="A,B,…"
    ),
    outputs: bool = typer.Option(False, "--outputs", help="Prediction drift: compare the model's outputs."),
    threshold: list[str] = typer.Option(
        [], "--threshold", help=THRESHOLD_HELP, metavar="METRIC=VALUE", show_default=False
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Also write a self-contained HTML report (histograms, table).",
        metavar="FILE.html",
    ),
    emit_monitor: Path | None = typer.Option(
        None,
        "--emit-monitor",
        help="Also write the Azure ML model-monitor schedule YAML for the same check (az ml schedule create -f).",
        metavar="FILE.yml",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace existing --report/--emit-monitor files."
    ),
    log_analytics: bool = log_analytics_option(),
    datastore_url: str | None = datastore_url_option(
        "v2: read windows from the data collector's blobs (model_inputs, with --outputs model_outputs) "
        "in this container, https://ACCOUNT.blob.core.windows.net/azureml-blobstore-{workspace id}. Not "
        "needed for a v2 deployment with its data collector on: amlmon reads the workspace's "
        "workspaceblobstore datastore."
    ),
    connection_string: str | None = connection_string_option(
        "Storage connection string for the collector's blobs (better in $AZURE_STORAGE_CONNECTION_STRING; never printed)."
    ),
) -> None:
    """Compare current model inputs (or outputs) with a baseline: drift and data quality per feature.

    Metrics carry Azure ML model monitoring's names, definitions and default thresholds. Exit 0 when
    every threshold holds, 1 when one is breached, 6 when there is nothing to compare (no rows) or a
    window cannot be read (the service keeps failing).
    Windows are pulled like `data pull` (v2: from the data collector's blobs) and cached under ~/.cache/amlmon/drift
    (AMLMON_CACHE_DIR).
    """
    from amlmon.drift import compare as cmp

    if datastore_url and log_analytics:
        from amlmon.errors import UsageError

        raise UsageError(
            "--log-analytics reads v1 model data by KQL; --datastore-url reads v2 collector blobs",
            hint="drop one of them",
        )
    pull = _Pull(log_analytics, datastore_url, connection_string)
    _check_files(report, emit_monitor, overwrite, [baseline, current or ""])

    options = cmp.Options(
        features=_names(features, "--features"),
        categorical=_names(categorical, "--categorical"),
        outputs=outputs,
        thresholds=cmp.Thresholds.parse(threshold),
    )
    targets = _targets(target)
    windowed = [text for text in (baseline, current or "1d") if _is_window(text)]
    if len(windowed) == 2:
        _refuse_overlap(baseline, current)
    if targets and not windowed and not datastore_url and _workspace_configured():
        targets = _checked_offline_target(targets)
    if windowed and targets and not datastore_url:  # blobs (--datastore-url) need no workspace
        from amlmon.evidence import known_targets

        targets = known_targets(app_context(), targets)  # unknown: exit 3 with did-you-mean, before pulling
        if not log_analytics:
            from amlmon.cli.data_collector import collector_targets, collector_url

            if collector_targets(targets):  # v2 model data is in blobs: the workspace's datastore
                pull = _Pull(False, collector_url(None, connection_string), connection_string)
    baseline_source, baseline_spec = _source(baseline, "--baseline", targets, pull)
    current_source, current_spec = _source(current or "1d", "--current", targets, pull)
    try:
        result = cmp.compare(baseline_source, current_source, options)
    except cmp.NothingToCompare as error:
        raise _v2_hint(error, targets, windowed, pull) from None
    _warn_skipped(result, outputs)
    if report is not None:
        from amlmon.drift.render import html_report, write_new_file

        write_new_file(report, html_report(result), overwrite, "--report")
    if emit_monitor is not None:
        _emit_monitor(emit_monitor, result, targets, options, baseline_spec, current_spec, overwrite)
    _output(result, exit_code=1 if result["breached"] else 0)
    if result["breached"]:
        raise typer.Exit(1)


def _checked_offline_target(targets: list[Any]) -> list[Any]:
    """Two files: TARGET only names the monitor's deployment, so a workspace at hand checks that it exists
    (exit 3 with did-you-mean), but one that cannot be asked (not signed in, offline) does not stop a
    comparison that needs no Azure: said, and TARGET taken as given."""
    from amlmon.errors import AmlmonError, NotFound
    from amlmon.evidence import known_targets

    try:
        return list(known_targets(app_context(), targets))
    except NotFound:
        raise
    except AmlmonError as exc:
        warn(f"{targets[0]} not checked against the workspace ({exc.message}): taken as given")
        return targets


def _workspace_configured() -> bool:
    """Whether a workspace is named somewhere (flags, variables, config.json, az defaults): comparing two
    files needs none, and without one TARGET is taken as given (an --emit-monitor written offline)."""
    from amlmon.errors import ConfigError

    try:
        ref = app_context().workspace_ref
    except ConfigError:
        return False
    return ref.subscription.found and ref.resource_group.found and ref.workspace.found


def _warn_skipped(result: dict[str, Any], outputs: bool) -> None:
    unmeasured = [
        str(feature["feature"])
        for feature in result["features"]
        if all(m["value"] is None for m in feature["metrics"] if m["signal"] != "data_quality")
    ]
    if unmeasured:  # no breach can come from a metric that has no value: a gate that holds by default
        warn(
            f"no drift measured for {', '.join(unmeasured[:10])}{' …' if len(unmeasured) > 10 else ''}: "
            "the baseline or the current data has no value of it (only its data quality is checked)"
        )
    for side in ("baseline", "current"):
        skipped = result[side]["skipped"]
        if skipped:
            records = "record had" if skipped == 1 else "records had"
            warn(
                f"{skipped} {side} {records} no readable {'prediction' if outputs else 'input'} "
                "(cut at 8,192 characters, or not JSON): skipped"
            )


def _check_files(report: Path | None, emit_monitor: Path | None, overwrite: bool, inputs: list[str]) -> None:
    """--report and --emit-monitor checked before any pull: a place that cannot take the file fails now,
    not after the windows were downloaded and one file written; and one path for both would have the
    monitor YAML replace the report just written."""
    from amlmon.drift.render import check_new_file
    from amlmon.errors import UsageError

    same = report is not None and emit_monitor is not None and _same_path(report, emit_monitor)
    if same:
        raise UsageError(
            f"--report and --emit-monitor name the same file {str(report)!r}: one would replace the other",
            hint="give each its own file, e.g. --report drift.html --emit-monitor monitor.yml",
        )
    for path, option in ((report, "--report"), (emit_monitor, "--emit-monitor")):
        if path is None:
            continue
        for given, name in zip(inputs, ("--baseline", "--current"), strict=True):
            if given and Path(given).expanduser().exists() and _same_path(path, Path(given)):
                raise UsageError(  # --overwrite would replace the data being compared with the report
                    f"{option} {str(path)!r} is the {name} file",
                    hint=f"write {option} to a file of its own",
                )
        check_new_file(path, overwrite, option)


def _same_path(one: Path, other: Path) -> bool:
    return one.expanduser().resolve() == other.expanduser().resolve()


_FILE_SUFFIXES = (".parquet", ".pq", ".jsonl", ".ndjson", ".csv")


def _is_window(text: str) -> bool:
    """Whether --baseline/--current TEXT is a window of model data rather than a file."""
    path = Path(text).expanduser()
    return not path.exists() and path.suffix.lower() not in _FILE_SUFFIXES


def _refuse_overlap(baseline: str, current: str | None) -> None:
    """Two windows that share time compare the same rows and pass: refused (the default --current
    1d overlaps any --baseline within the last day)."""
    import datetime as dt

    from amlmon.drift import windows
    from amlmon.errors import UsageError

    now = dt.datetime.now(dt.UTC)
    b = windows.parse_window(baseline, "--baseline", now)
    c = windows.parse_window(current or "1d", "--current", now)
    if b.start < c.end and c.start < b.end:
        current_text = current or "1d (the default)"
        raise UsageError(
            f"--baseline {baseline} and --current {current_text} overlap: both would read the same rows",
            hint="give both windows, apart, e.g. --baseline 14d..7d --current 1d",
        )


def _v2_hint(error: Any, targets: list[Any], windowed: list[str], pull: _Pull) -> Any:
    """No rows of a v2 target without --datastore-url: its data collector writes blobs, not App Insights."""
    from amlmon.evidence import collector_note, collector_on

    if not windowed or pull.datastore_url:
        return error
    v2 = [t for t in targets if collector_on(app_context(), t)]
    if v2:
        error.hint = collector_note(v2[0])
    return error


def _names(text: str | None, option: str) -> list[str]:
    if text is None:
        return []
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        from amlmon.errors import UsageError

        raise UsageError(f"{option} {text!r} has an empty name", hint=f"e.g. {option} age,income")
    return list(dict.fromkeys(names))


def _targets(target: str | None) -> list[Any]:
    from amlmon.targets import parse_targets

    return parse_targets([target]) if target else []


@dataclass(frozen=True)
class _Pull:
    """Where windows come from: v1 model-data traces (App Insights or Log Analytics) or v2 collector blobs."""

    log_analytics: bool
    datastore_url: str | None
    connection_string: str | None


def _source(text: str, option: str, targets: list[Any], pull: _Pull) -> tuple[Any, Any]:
    """A FileSource for a file, or for a window's pulled (cached) dataset; and what was asked for."""
    from amlmon.drift import inputs, windows
    from amlmon.errors import UsageError

    path = Path(text).expanduser()
    if path.exists():
        if path.is_dir():
            raise UsageError(f"{option} {text!r} is a folder", hint="give a .parquet, .jsonl or .csv file")
        return inputs.FileSource(path), text
    if path.suffix.lower() in _FILE_SUFFIXES:
        # A local file is input, not an Azure resource: exit 2 (3 is for what Azure does not have).
        raise UsageError(
            f"{option} file {str(path)!r} does not exist",
            hint=f"check the path, or give a window of the TARGET's model data, e.g. {option} 14d..7d",
        )
    window = windows.parse_window(text, option)
    if not targets:
        raise UsageError(
            f"{option} {text!r} is a window of model data: which service or deployment?",
            hint="name the TARGET, e.g. amlmon drift my-svc --baseline 14d..7d --current 1d",
        )
    pulled = _pulled(targets, pull, window)
    info(
        f"{option} {text}: {'cached' if pulled.cached else f'pulled {pulled.rows} records into'} {pulled.path}"
    )
    label = f"{targets[0]} {window.start:%Y-%m-%dT%H:%MZ}..{window.end:%Y-%m-%dT%H:%MZ}"
    return inputs.FileSource(pulled.path, label=label), window


def _pulled(targets: list[Any], pull: _Pull, window: Any) -> Any:
    """A window's model data, pulled (or cached). A service that keeps failing (5xx, an unreachable
    storage account) leaves the gate unevaluated — exit 6, as `check` — never 1, which says "drifted"."""
    from amlmon.drift import windows
    from amlmon.gate import evaluable
    from amlmon.schema import source_of

    if pull.datastore_url:
        url = pull.datastore_url
        return evaluable(
            lambda: windows.pull_collector_window(
                app_context().session, targets, url, pull.connection_string, window
            ),
            "the storage account",
        )
    source = source_of(pull.log_analytics)
    return evaluable(lambda: windows.pull_window(app_context(), targets, source, window), "the query service")


def _emit_monitor(
    path: Path,
    result: dict[str, Any],
    targets: list[Any],
    options: Any,
    baseline: Any,
    current: Any,
    overwrite: bool,
) -> None:
    from amlmon.drift import monitor
    from amlmon.drift.render import write_new_file

    target = targets[0] if targets else None
    if target is None or target.deployment is None:
        warn(
            "the monitor has no monitoring_target: Azure ML model monitoring watches v2 online deployments; "
            "name one as TARGET (endpoint/deployment)"
        )
    schedule = monitor.monitor_schedule(
        result,
        endpoint=target.name if target and target.deployment else None,
        deployment=target.deployment if target else None,
        thresholds=options.thresholds,
        current=current,
        baseline=baseline,
        outputs=options.outputs,
    )
    write_new_file(path, monitor.to_yaml(schedule), overwrite, "--emit-monitor")


def _output(result: dict[str, Any], exit_code: int) -> None:
    from amlmon.drift.compare import flat_rows

    def table(_data: Any, stream: Any) -> None:
        from amlmon.drift.render import render_terminal

        render_terminal(result, stream, no_color=app_context().options.no_color)

    output(flat_rows(result), table=table, exit_code=exit_code)
