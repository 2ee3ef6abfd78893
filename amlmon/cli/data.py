"""`amlmon data pull|extract`: model inputs and predictions as a dataset (Parquet, JSONL or CSV)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from amlmon.cli.common import app_context, output, warn
from amlmon.cli.params import (
    connection_string_option,
    datastore_url_option,
    log_analytics_option,
    print_query_option,
    role_option,
    since_option,
    targets_argument,
    until_option,
)

data_app = typer.Typer(
    help="Model inputs and predictions (model_data_collection) as datasets for labelling and retraining.",
    no_args_is_help=True,
)

OUT_HELP = (
    "Output file; the format follows the extension: .parquet, .jsonl or .csv. An existing file is "
    "kept unless --overwrite."
)
OVERWRITE_HELP = "Replace --out if it exists (the new file replaces it only when complete)."
FLATTEN_HELP = (
    "Also write input/prediction values as columns (input.data[0][1], prediction[0], …) when every "
    "record has the same shape."
)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


def _progress() -> Any:
    """A progress callback: a bar on an interactive terminal, nothing otherwise."""
    from amlmon.context import is_interactive

    if not is_interactive():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task = progress.add_task("rows", total=None)
    progress.start()

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total or None)

    update.stop = progress.stop  # type: ignore[attr-defined]
    return update


@data_app.command("pull")
def pull(
    targets: list[str] = targets_argument("every model of the workspace"),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    since: str = since_option("7d"),
    until: str | None = until_option(),
    fmt: str | None = typer.Option(None, "--format", help="parquet, jsonl or csv (default: from --out)."),
    log_analytics: bool = log_analytics_option(),
    flatten: bool = typer.Option(False, "--flatten", help=FLATTEN_HELP),
    role: str | None = role_option(),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted pull to the same --out."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    print_query: bool = print_query_option(),
    datastore_url: str | None = datastore_url_option(
        "v2: read the data collector's blobs (model_inputs joined with model_outputs) from the "
        "workspace's default datastore container, https://ACCOUNT.blob.core.windows.net/azureml-blobstore-{workspace id}."
    ),
    connection_string: str | None = connection_string_option(
        "Storage connection string for --datastore-url (better in $AZURE_STORAGE_CONNECTION_STRING; never printed)."
    ),
) -> None:
    """Pull model_data_collection records (inputs, predictions) from the query API into a dataset.

    Reads both inference-server generations. Large ranges are split in time slices under the
    service's 500,000-row cap and streamed to the file; the file appears only when complete. An
    interrupted run (Ctrl-C, crash) continues with --resume. Records App Insights cut at 8,192
    characters are kept with truncated=true and their raw text.
    """
    if datastore_url:
        from amlmon.cli.data_collector import pull_collector

        if print_query or log_analytics:
            from amlmon.errors import UsageError

            raise UsageError(
                f"{'--print-query' if print_query else '--log-analytics'} is about KQL; --datastore-url reads blobs",
                hint="drop one of them",
            )

        pull_collector(
            targets or [], out, since, until, fmt, flatten, resume, datastore_url, connection_string
        )
        return
    from amlmon import datasets, modeldata
    from amlmon.schema import source_of
    from amlmon.targets import parse_targets, with_role
    from amlmon.timeparse import time_range

    parsed = with_role(parse_targets(targets or []), role)
    start, end = time_range(since, until, default_since="7d")
    source = source_of(log_analytics)
    if print_query:
        print(modeldata.rows_query(parsed, source, start, end))
        return
    datasets.check_destination(out, overwrite=overwrite or resume)
    if parsed:
        from amlmon.evidence import known_targets

        # A name that matches nothing is exit 3, not an empty file; an endpoint learns its deployments.
        parsed = known_targets(app_context(), parsed)
    file_format = datasets.format_for(out, fmt)
    app_context().long_run()  # a pull runs as long as the data takes (and resumes); --timeout bounds it
    params = {
        "targets": [str(t) for t in parsed],
        "role": role,
        "since": since,
        "until": until,
        "schema": source,
        "format": file_format,
        "flatten": flatten,
    }
    destination = datasets.DatasetOutput(out, file_format, params, resume=resume)
    if destination.discarded_rows:
        warn(
            f"started over: an interrupted pull to {out} had {destination.discarded_rows} rows (--resume continues one)"
        )
    if resume and destination.checkpoint.parts:
        # The interrupted run's range: a relative --until/--since must not move between runs.
        start = datetime_from(destination.checkpoint.params.get("_start"), start)
        end = datetime_from(destination.checkpoint.params.get("_end"), end)
    destination.checkpoint.params["_start"], destination.checkpoint.params["_end"] = (
        start.isoformat(),
        end.isoformat(),
    )
    progress = _progress()
    try:
        result = modeldata.Puller(
            app_context(), parsed, source, start, end, destination, progress, flatten=flatten
        ).run()
    except BaseException as exc:  # Ctrl-C, a crash, a service error: keep finished slices for --resume
        _interrupted(destination, isinstance(exc, KeyboardInterrupt))
        raise
    finally:
        if progress is not None:
            progress.stop()
    _report(result.truncated, 0)
    _report_flatten(destination)
    if not result.rows:
        from amlmon import evidence

        wanted: list[Any] = [*parsed] or [None]
        for target in wanted:
            if target is not None and evidence.collector_on(app_context(), target):  # data in blobs
                warn(evidence.collector_note(target))
                continue
            note = evidence.explain_empty(
                app_context(), target, source, (start, end), "modelData", "data pull"
            )
            if note:
                warn(note)
    if not result.verified:
        warn(
            f"wrote {result.rows} rows but count() now finds {result.expected} in the same range "
            "(late-arriving telemetry?); pull again later with a fixed --until"
        )
    output(
        {
            "path": result.path,
            "format": file_format,
            "rows": result.rows,
            "truncated": result.truncated,
            "slices": result.slices,
            "halvings": result.halvings,
            "counted": result.expected,
            "verified": result.verified,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "flattened": sorted(destination.flattened),
        }
    )


def datetime_from(text: Any, default: Any) -> Any:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(text)) if text else default
    except ValueError:
        return default


def _interrupted(destination: Any, by_user: bool) -> None:
    if destination.checkpoint.parts:
        print(
            f"note: {destination.rows_done} rows are saved in {destination.parts_dir}; "
            "run the same command with --resume to continue",
            file=sys.stderr,
        )
        return
    destination.discard()
    if by_user:  # Ctrl-C before the first slice: say so, an error has its own line
        _say_nothing_kept(destination.path, "interrupted before the first slice was saved")


def _say_nothing_kept(out: Path, when: str) -> None:
    state = "left as it was" if out.exists() else "not created"
    print(f"note: {when}: nothing was kept ({out} {state})", file=sys.stderr)


def _report_flatten(destination: Any) -> None:
    for line in destination.flatten_notes.lines():
        warn(line)


def _report(truncated: int, malformed: int) -> None:
    if truncated:
        warn(
            f"{_count(truncated, 'record was', 'records were')} cut by Application Insights at 8,192 "
            "characters: kept with truncated=true and the raw text (input/prediction incomplete)"
        )
    if malformed:
        warn(f"{_count(malformed, 'line was', 'lines were')} not a JSON record and skipped")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@data_app.command("tail")
def tail(
    targets: list[str] = typer.Argument(
        None,
        metavar="[TARGET]...",
        help="v2 endpoints (ep) or deployments (ep/dep); none means all.",
        show_default=False,
    ),
    datastore_url: str = datastore_url_option(
        "The workspace's default datastore container, https://ACCOUNT.blob.core.windows.net/azureml-blobstore-{workspace id}.",
        required=True,
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Also print records from this time (duration ago or time); default: only new ones.",
    ),
    interval: str = typer.Option("2s", "--interval", help="Time between polls (at least 200ms)."),
    connection_string: str | None = connection_string_option(),
) -> None:
    """Follow the v2 data collector's records as they are appended: one JSON line per collected row.

    Each append blob is read from after its last whole line to its current length on every poll, so a
    line still being written is printed once it is complete, and never twice. Ctrl-C stops.
    """
    from amlmon.cli.data_collector import tail_collector

    tail_collector(targets or [], datastore_url, connection_string, since, interval)


@data_app.command("extract")
def extract(
    source: str = typer.Argument(
        ...,
        metavar="SOURCE",
        help="A local folder of exported files, or a blob container URL "
        "(https://ACCOUNT.blob.core.windows.net/insights-logs-apptraces[/prefix]) or account URL.",
    ),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    since: str | None = since_option(None),
    until: str | None = until_option(),
    fmt: str | None = typer.Option(None, "--format", help="parquet, jsonl or csv (default: from --out)."),
    flatten: bool = typer.Option(False, "--flatten", help=FLATTEN_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    connection_string: str | None = connection_string_option(),
) -> None:
    """Build the `data pull` dataset from exported telemetry (diagnostic setting or data export blobs).

    Blobs are found by listing (insights-logs-apptraces/…/PT1H.json, am-apptraces/…/PT05M.json),
    not by building names. Lines that are not model data are skipped; malformed lines are counted.
    """
    from amlmon import datasets, modeldata
    from amlmon.timeparse import parse_instant

    start = parse_instant(since, option="--since") if since else None
    end = parse_instant(until, option="--until") if until else None
    stats = modeldata.ExtractStats()
    datasets.check_destination(out, overwrite=overwrite)
    file_format = datasets.format_for(out, fmt)
    files = None if "://" in source else _folder_files(Path(source))
    if files is None:
        rows = _blob_rows(source, connection_string, start, end, stats)
    else:
        rows = _folder_rows(files, start, end, stats)
    destination = datasets.DatasetOutput(out, file_format, {"source": "extract"}, resume=False)
    try:
        destination.write_part(destination.part_name(0), rows, {})
        written = destination.finish(flatten=flatten)
    except BaseException as exc:
        destination.discard()  # extract has no --resume: nothing half-made is kept
        if isinstance(exc, KeyboardInterrupt):
            _say_nothing_kept(out, "interrupted")
        raise
    _report(stats.truncated, stats.malformed)
    _report_flatten(destination)
    output(
        {
            "path": str(out),
            "format": file_format,
            "rows": written,
            "truncated": stats.truncated,
            "blobs": stats.blobs,
            "records": stats.records,
            "skipped": stats.skipped,
            "malformed": stats.malformed,
            "flattened": sorted(destination.flattened),
        }
    )


def _folder_files(folder: Path) -> list[tuple[Any, Path]]:
    """The export files under `folder`; a folder without any is not found, and .json files that are not
    export files are named as skipped (a folder of some other JSON must not look like 0 rows of data)."""
    from amlmon import modeldata
    from amlmon.errors import NotFound

    if not folder.is_dir():
        raise NotFound(
            f"{str(folder)!r} is not a folder", hint="give a folder of exported files or a blob container URL"
        )
    found, others = modeldata.local_blobs(folder)
    if others:
        warn(
            f"{_count(len(others), '.json file was', '.json files were')} not read: export files are named "
            f"PT1H.json or PT05M.json (e.g. {others[0]})"
        )
    if not found:
        raise NotFound(
            f"no export files (PT1H.json, PT05M.json) under {str(folder)!r}",
            hint="give the folder a diagnostic setting or data export wrote (…/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json)",
        )
    return found


def _folder_rows(files: list[tuple[Any, Path]], start: Any, end: Any, stats: Any) -> Any:
    from amlmon import modeldata

    for hour, path in files:
        if hour is not None and not modeldata.keep_blob(hour, start, end):
            continue
        stats.blobs += 1
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from modeldata.rows_from_lines(iter(handle), start, end, stats)


def _blob_rows(url: str, connection_string: str | None, start: Any, end: Any, stats: Any) -> Any:
    import datetime as dt

    from amlmon import modeldata
    from amlmon.azure.blobs import BlobSource

    ctx = app_context()
    blob_source = BlobSource(ctx.session, url, connection_string, modeldata.TRACE_CONTAINERS)
    try:
        listed = []
        for container, name in blob_source.blobs():
            hour = modeldata.blob_hour(name)
            if hour is None and not modeldata.is_export_file(name):
                continue
            # An export file outside its time folders (copied there) is read; only its records' times filter it.
            if hour is None or modeldata.keep_blob(hour, start, end):
                listed.append((hour, container, name))
        first = dt.datetime.min.replace(tzinfo=dt.UTC)
        for _hour, container, name in sorted(listed, key=lambda item: (item[0] or first, item[1], item[2])):
            stats.blobs += 1
            yield from modeldata.rows_from_lines(blob_source.lines(container, name), start, end, stats)
    finally:
        blob_source.close()
