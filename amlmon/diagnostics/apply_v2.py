"""Applying the plan to one v2 deployment: wait until idle, refuse a lossy PUT, write, wait, verify."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from amlmon.diagnostics.inventory import ALL_COLLECTIONS, Item
from amlmon.diagnostics.plan import Change, collection_asset_name, collection_data_uri, plan_v2
from amlmon.diagnostics.results import Options, Progress, Step
from amlmon.diagnostics.workspace import Workspace
from amlmon.errors import OperationFailed


def apply_v2(ws: Workspace, step: Step) -> None:
    from amlmon.azure import deployments_v2 as v2api

    item, options, progress, result = step.item, step.options, step.progress, step.result
    deadline, stopped = step.deadline, step.stopped
    assert item.endpoint is not None
    endpoint, name = item.endpoint, item.target.split("/", 1)[1]

    def reread() -> Any:
        """A fresh read, once no other operation is running on the deployment."""
        fresh = v2api.get_deployment(ws.v2, endpoint, name)
        if fresh.state in v2api.BUSY_STATES and not options.dry_run:
            if not options.wait:
                raise OperationFailed(
                    f"{item.target} is being updated (provisioningState {fresh.state})",
                    hint="run again without --no-wait to wait for it, or later",
                )
            progress(item.target, f"waiting: the deployment is mid-update ({fresh.state})")
            fresh = v2api.wait_not_busy(ws.v2, fresh, deadline=deadline, stop=stopped)
        return fresh

    current = reread()
    data_ids = {c: collection_asset_id(ws.v2, endpoint, name, c) for c in ALL_COLLECTIONS}
    result.changes, body = plan_v2(current.body, options.v2, data_ids)
    result.changes += _missing_assets(ws, current.body, options, data_ids)
    if not result.changes:
        result.status = "unchanged"
        return
    changed = [change.field for change in result.changes if not change.field.endswith(ASSET_ONLY)]
    if changed:
        _check_round_trip(ws, item, current, body, changed, progress)
    if options.dry_run:
        result.status = "would-change"
        return
    step.before_write()
    _ensure_assets(ws, item, result.changes, progress)
    if not changed:  # only data assets were missing: the deployment itself stays as it is
        result.status = "changed"
        return
    step.before_write()
    written = v2api.write(ws.v2, current, body, wait=options.wait, reread=reread)
    if written is None:  # someone else made the same change meanwhile: amlmon wrote nothing
        result.status = "unchanged"
        result.changes = []
        return
    result.operation_id = written.operation_id
    if not options.wait:
        result.status = "submitted"
        return
    progress(item.target, f"waiting for operation {written.operation_id}")
    v2api.wait_written(written, deadline=deadline, stop=stopped)
    v2api.verify(ws.v2, endpoint, name, body, changed)
    result.status = "changed"


def collection_asset_id(scope: Any, endpoint: str, deployment: str, collection: str) -> str:
    from amlmon.azure import deployments_v2 as v2api

    return v2api.data_asset_id(scope, collection_asset_name(endpoint, deployment, collection))


def _check_round_trip(
    ws: Workspace, item: Item, current: Any, body: dict[str, Any], changed: list[str], progress: Progress
) -> None:
    """Refuse (nothing written) when the PUT would not carry back every field that was read.

    Two ways a field is lost: amlmon's own body leaves one out, or the api-version amlmon reads and
    writes with does not model a field the deployment has (a newer version shows it; a read-modify-
    write at the older one deletes it — the GA 2023-x dataCollector trap).
    """
    from amlmon.azure import deployments_v2 as v2api

    lost = v2api.differences(current.body, body, skip=changed)
    probe = _probe(ws, current, progress)
    read = v2api.flatten(current.body)
    # Only fields with a value count: a newer version also sends its new optional fields as null.
    unseen = sorted(
        path
        for path, value in v2api.flatten(probe).items()
        if path.startswith("properties.")
        and path != "properties.provisioningState"
        and value not in (None, {}, [])
        and path not in read
    )
    if lost or unseen:
        fields = [path for path, _, _ in lost] + unseen
        raise OperationFailed(
            f"{item.target}: a PUT at api-version {v2api.API_VERSION} would not carry back "
            f"{', '.join(fields[:6])}{' …' if len(fields) > 6 else ''} "
            f"(api-version {v2api.PROBE_API_VERSION} shows it); nothing was written",
            hint="change this deployment with a tool that uses an api-version modelling every field it has",
        )


def _probe(ws: Workspace, current: Any, progress: Progress) -> dict[str, Any]:
    """The deployment read at the newer version; {} (with a note) where a cloud does not offer it."""
    from azure.core.exceptions import HttpResponseError

    from amlmon.azure import deployments_v2 as v2api

    try:
        return v2api.get_deployment(ws.v2, current.endpoint, current.name, v2api.PROBE_API_VERSION).body
    except HttpResponseError as exc:
        if getattr(exc, "status_code", None) != 400:
            raise
        progress(
            f"{current.endpoint}/{current.name}",
            f"note: api-version {v2api.PROBE_API_VERSION} is not offered here; only amlmon's own body was checked",
        )
        return {}


# A change that re-registers a missing data asset and leaves the deployment body as it is.
ASSET_ONLY = ".dataAsset"


def _missing_assets(
    ws: Workspace, body: dict[str, Any], options: Options, data_ids: dict[str, str]
) -> list[Change]:
    """The collections this run enables whose dataId is amlmon's own asset id while that asset is gone
    (deleted, or registered in another workspace): re-registered, since Azure ML model monitoring finds
    the data through it. A dataId of the user's own is never touched."""
    from amlmon.azure import deployments_v2 as v2api

    collections = ((body.get("properties") or {}).get("dataCollector") or {}).get("collections") or {}
    found = []
    for collection, on in options.v2.collections().items():
        spec = collections.get(collection)
        data_id = str(spec.get("dataId") or "") if on and isinstance(spec, dict) else ""
        mine = bool(data_id) and data_id.lower() == data_ids[collection].lower()
        if mine and not v2api.data_asset_exists(ws.v2, data_id):
            found.append(Change(f"{collection}{ASSET_ONLY}", "missing", data_id))
    return found


def _ensure_assets(ws: Workspace, item: Item, changes: Sequence[Change], progress: Progress) -> None:
    """One uri_folder data asset per collection that gets a dataId, created before the PUT (reused if there)."""
    from amlmon.azure import deployments_v2 as v2api

    endpoint, deployment = item.target.split("/", 1)
    for change in changes:
        if not change.field.endswith((".dataId", ASSET_ONLY)):
            continue
        collection = change.field.split(".")[-2]
        if v2api.ensure_data_asset(
            ws.v2, str(change.new), collection_data_uri(endpoint, deployment, collection)
        ):
            progress(
                item.target, f"created data asset {collection_asset_name(endpoint, deployment, collection)}:1"
            )
