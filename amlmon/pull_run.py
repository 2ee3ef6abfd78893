"""`data pull` from the query API as one run: the destination checked, the named targets resolved, the
slicer (`amlmon.pull.Puller`) run into a resumable dataset, an empty result explained, the summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.datasets import DatasetOutput
from amlmon.pull import Progress, Puller, PullResult
from amlmon.schema import Source
from amlmon.targets import Target

if TYPE_CHECKING:
    from amlmon.context import AppContext


@dataclass(frozen=True)
class PullRequest:
    """`data pull` as the user asked for it (targets already parsed, with --role applied)."""

    targets: list[Target]
    role: str | None
    since: str
    until: str | None
    source: Source
    out: Path
    fmt: str | None
    flatten: bool
    resume: bool
    overwrite: bool


Say = Callable[[str], None]


def checked_targets(ctx: AppContext, request: PullRequest) -> list[Target]:
    """The destination checked (exit 2 before any Azure call), then the named targets as Azure knows
    them: a name that matches nothing is exit 3, not an empty file; an endpoint learns its deployments."""
    from amlmon import datasets

    datasets.check_destination(request.out, overwrite=request.overwrite, resume=request.resume)
    if not request.targets:
        return []
    from amlmon.evidence import known_targets

    return known_targets(ctx, request.targets)


def pull_dataset(
    ctx: AppContext,
    request: PullRequest,
    targets: list[Target],
    start: dt.datetime,
    end: dt.datetime,
    *,
    progress: Callable[[], Progress | None],
    warn: Say,
    note: Say,
) -> dict[str, Any]:
    """Run `data pull` from the query API into `request.out` for `targets` (from `checked_targets`);
    the summary record the command prints."""
    from amlmon import datasets
    from amlmon.datasets.runs import interrupted, pinned_range, report
    from amlmon.timeparse import future_window

    file_format = datasets.format_for(request.out, request.fmt)
    ahead = future_window(start, end)
    if ahead:  # as a collector pull says (pull_collector): why the dataset will be empty
        warn(ahead)
    ctx.long_run()  # a pull runs as long as the data takes (and resumes); --timeout bounds it
    destination = _destination(request, targets, file_format, warn)
    start, end = pinned_range(destination, start, end, request.resume)
    bar = progress()
    try:
        result = Puller(
            ctx, targets, request.source, start, end, destination, bar, flatten=request.flatten
        ).run()
    except BaseException as exc:  # Ctrl-C, a crash, a service error: keep finished slices for --resume
        interrupted(destination, isinstance(exc, KeyboardInterrupt), note)
        raise
    finally:
        if bar is not None:
            bar.stop()
    report(destination, result.truncated, 0, warn)
    if not result.rows:
        _explain_empty(ctx, targets, request.source, (start, end), warn)
    else:
        _name_collector_targets(ctx, targets, warn)
    if not result.verified:
        warn(
            f"wrote {result.rows} rows but count() now finds {result.expected} in the same range "
            "(late-arriving telemetry?); pull again later with a fixed --until"
        )
    return _summary(result, file_format, start, end, destination)


def _destination(request: PullRequest, targets: list[Target], file_format: str, warn: Say) -> DatasetOutput:
    """The resumable output; its params are what a --resume must repeat."""
    params = {
        "targets": [str(t) for t in targets],
        "role": request.role,
        "since": request.since,
        "until": request.until,
        "schema": request.source,
        "format": file_format,
        "flatten": request.flatten,
    }
    destination = DatasetOutput(request.out, file_format, params, resume=request.resume)
    if destination.discarded_rows:
        warn(
            f"started over: an interrupted pull to {request.out} had {destination.discarded_rows} rows "
            "(--resume continues one)"
        )
    return destination


def _name_collector_targets(ctx: AppContext, targets: list[Target], warn: Say) -> None:
    """Rows came, but a v2 target among v1 ones has its data collector on: its model data is in blobs,
    not in this App Insights pull — said, where it once was left out of the file without a word."""
    from amlmon import evidence

    if len(targets) == 1:
        return  # one target: the pull read its collector's blobs, or had no rows and _explain_empty said why
    for target in targets or _collector_deployments(ctx):  # no TARGET: every model of the workspace
        if targets and not evidence.collector_on(ctx, target):
            continue
        warn(
            f"{target}'s data collector is on: its model data is in blobs, which this pull from App "
            f"Insights does not read; pull {target} on its own (`amlmon data pull {target} …` reads the "
            "workspace's datastore)"
        )


def _collector_deployments(ctx: AppContext) -> list[Target]:
    """The workspace's v2 deployments whose data collector is on (best effort: none when unsure)."""
    from amlmon import diagnostics as diag
    from amlmon.targets import parse_targets

    ws = diag.Workspace(ctx)
    try:
        inventory = ws.inventory(v1=False, v2=True)
    except Exception:  # naming what is not in the file is best effort
        return []
    finally:
        ws.close()
    return parse_targets([item.target for item in inventory if item.api == "v2" and item.model_data])


def _explain_empty(
    ctx: AppContext,
    targets: list[Target],
    source: Source,
    window: tuple[dt.datetime, dt.datetime],
    warn: Say,
) -> None:
    """Why no rows: a v2 target's data is in the collector's blobs, or evidence of what is missing."""
    from amlmon import evidence

    wanted: list[Target | None] = [*targets] or [None]
    for target in wanted:
        if target is not None and evidence.collector_on(ctx, target):  # data in blobs
            warn(evidence.collector_note(target))
            continue
        if target is not None:  # a v2 deployment's collector that is off: where its model data would be
            for deployment in evidence.collector_off(ctx, target):
                warn(evidence.collector_off_note(deployment))
        note = evidence.explain_empty(ctx, target, source, window, "modelData", "data pull")
        if note:
            warn(note)


def _summary(
    result: PullResult, file_format: str, start: dt.datetime, end: dt.datetime, destination: DatasetOutput
) -> dict[str, Any]:
    return {
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
