"""`amlmon data pull|extract`: model inputs and predictions as a dataset (Parquet, JSONL or CSV)."""

from __future__ import annotations

from pathlib import Path

import typer

from amlmon.cli.common import app_context, note, output, warn
from amlmon.cli.params import (
    connection_string_option,
    dataset_format_option,
    datastore_url_option,
    flatten_option,
    log_analytics_option,
    out_option,
    overwrite_option,
    print_query_option,
    role_option,
    since_option,
    targets_argument,
    until_option,
)
from amlmon.stopping import terminate_as_interrupt

V1_PULL_HINT = (
    "a v1 service's model data is in App Insights: drop --datastore-url/--payloads, e.g. amlmon data pull {}"
)

data_app = typer.Typer(
    help="Model inputs and predictions (model_data_collection) as datasets for labelling and retraining.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("pull")
@terminate_as_interrupt  # a pull stopped by SIGTERM cleans up as after Ctrl-C
def pull(
    targets: list[str] = targets_argument("every model of the workspace"),
    out: Path = out_option(),
    since: str = since_option("7d"),
    until: str | None = until_option(),
    fmt: str | None = dataset_format_option(),
    log_analytics: bool = log_analytics_option(),
    flatten: bool = flatten_option(),
    role: str | None = role_option(),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted pull to the same --out."),
    overwrite: bool = overwrite_option(),
    print_query: bool = print_query_option(),
    datastore_url: str | None = datastore_url_option(
        "v2: read the data collector's blobs (model_inputs joined with model_outputs) from this "
        "container, https://ACCOUNT.blob.core.windows.net/azureml-blobstore-{workspace id}. Not needed "
        "when every TARGET is a v2 deployment with its data collector on: amlmon then reads the "
        "workspace's workspaceblobstore datastore."
    ),
    connection_string: str | None = connection_string_option(
        "Storage connection string for the collector's blobs (better in $AZURE_STORAGE_CONNECTION_STRING; never printed)."
    ),
    payloads: bool = typer.Option(
        False,
        "--payloads",
        help="v2: the payload-logging collections instead: each request body (input) joined with its "
        "response body (prediction) on correlationid.",
    ),
) -> None:
    """Model inputs and predictions as a dataset: v1 from App Insights, v2 from the data collector's blobs.

    v1 services, v2 deployments whose collector is off, and any pull with --log-analytics or --role:
    model_data_collection traces (both inference-server generations) from App Insights' query API, in
    time slices under its 500,000-row cap; records it cut at 8,192 characters are kept with truncated=true
    and their raw text. v2 with the collector on (every TARGET), --datastore-url or --payloads: the data
    collector's blobs, model_inputs joined with model_outputs, folder by folder. The file appears only
    when complete; an interrupted run (Ctrl-C, SIGTERM, crash) continues with --resume.
    """
    if datastore_url or payloads:
        from amlmon.cli.data_collector import collector_url, pull_collector

        if print_query or log_analytics or role:  # --role names App Insights' cloud role: no blob has it
            from amlmon.errors import UsageError

            chosen = "--datastore-url" if datastore_url else "--payloads"
            given = "--print-query" if print_query else "--log-analytics" if log_analytics else "--role"
            raise UsageError(f"{given} is about KQL; {chosen} reads blobs", hint="drop one of them")
        from amlmon.cli.data_collector import checked_collector_targets
        from amlmon.collector_pull import datastore_container
        from amlmon.datasets import check_destination

        if datastore_url:
            datastore_container(datastore_url)  # its shape: exit 2 before any Azure call
        # as every pull: an --out that exists (without --overwrite, or --resume of a run to it) or cannot be written is
        # refused before anything is read
        check_destination(out, overwrite=overwrite, resume=resume)
        # The names before any blob is read or file created: unknown exit 3, a v1 service exit 2.
        checked = checked_collector_targets(targets or [], V1_PULL_HINT, datastore_url)
        url = collector_url(datastore_url, connection_string)
        pull_collector(checked, out, since, until, fmt, flatten, resume, url, connection_string, payloads)
        return
    from amlmon import pull_run as domain
    from amlmon.queries.model_data import rows_query
    from amlmon.render.progress import row_progress
    from amlmon.schema import source_of
    from amlmon.targets import parse_targets, with_role
    from amlmon.timeparse import time_range

    parsed = with_role(parse_targets(targets or []), role)
    start, end = time_range(since, until, default_since="7d")
    source = source_of(log_analytics)
    if print_query:
        print(rows_query(parsed, source, start, end))
        return
    request = domain.PullRequest(
        parsed, role, since, until, source, out, fmt, flatten, resume=resume, overwrite=overwrite
    )
    known = domain.checked_targets(app_context(), request)
    if known and not log_analytics and not role:
        from amlmon.cli.data_collector import collector_targets, collector_url, pull_collector

        if collector_targets(known):  # in blobs, never in App Insights; `known`: the workspace's spelling
            url = collector_url(None, connection_string)
            pull_collector(known, out, since, until, fmt, flatten, resume, url, connection_string)
            return
    summary = domain.pull_dataset(
        app_context(), request, known, start, end, progress=row_progress, warn=warn, note=note
    )
    output(summary)


@data_app.command("tail")
def tail(
    targets: list[str] = typer.Argument(
        None,
        metavar="[TARGET]...",
        help="v2 endpoints (ep) or deployments (ep/dep); none means all.",
        show_default=False,
    ),
    datastore_url: str | None = datastore_url_option(
        "The container the data collector writes to (default: the workspace's workspaceblobstore "
        "datastore, asked of Azure), https://ACCOUNT.blob.core.windows.net/azureml-blobstore-{workspace id}."
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
@terminate_as_interrupt  # as pull: nothing half-made is left (extract has no --resume)
def extract(
    source: str = typer.Argument(
        ...,
        metavar="SOURCE",
        help="A local folder of exported files, or a blob container URL "
        "(https://ACCOUNT.blob.core.windows.net/insights-logs-apptraces[/prefix]) or account URL.",
    ),
    out: Path = out_option(),
    since: str | None = since_option(None),
    until: str | None = until_option(),
    fmt: str | None = dataset_format_option(),
    flatten: bool = flatten_option(),
    overwrite: bool = overwrite_option(),
    connection_string: str | None = connection_string_option(),
) -> None:
    """Build the `data pull` dataset from exported telemetry (diagnostic setting or data export blobs).

    Blobs are found by listing (insights-logs-apptraces/…/PT1H.json, am-apptraces/…/PT05M.json),
    not by building names. Lines that are not model data are skipped; malformed lines are counted.
    """
    from amlmon.extract import extract_dataset
    from amlmon.timeparse import ordered, parse_instant

    start = parse_instant(since, option="--since") if since else None
    end = parse_instant(until, option="--until") if until else None
    if start is not None and end is not None:  # as `data pull`: an empty window is a mistake, not 0 rows
        ordered(start, end, "--since", "--until", hint="give an earlier --since or a later --until")
    summary = extract_dataset(
        app_context(),
        source,
        out,
        start=start,
        end=end,
        fmt=fmt,
        flatten=flatten,
        overwrite=overwrite,
        connection_string=connection_string,
        warn=warn,
        note=note,
    )
    output(summary)
