"""Why a target's telemetry came back empty, and which 1.4.x print lines amlmon could not attribute.

Each finding is one line for stderr (never stdout; exit codes stay what they were), with the command
that fixes it when amlmon can tell: diagnostics or model data collection off (the workspace's own
settings of that service or deployment), nothing ingested in the window, or telemetry present under
another role name / `Service Name` (v2 sets an undocumented one: `--role NAME` says which). Every
check is best effort: a failure to explain never fails the command.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shlex
from typing import TYPE_CHECKING, Any, Literal

from amlmon import kql
from amlmon.schema import APP, GENERIC_ROLE, MODEL_DATA_MESSAGE, SERVICE_DIMENSION, Source
from amlmon.targets import Target, attribution_query

if TYPE_CHECKING:
    from amlmon.context import AppContext

Section = Literal["traces", "modelData", "requests"]
WHAT = {"traces": "print() traces", "modelData": "model data records", "requests": "requests or exceptions"}
Timespan = tuple[dt.datetime, dt.datetime]


def _rows(ctx: AppContext, query: str, source: Source, timespan: Timespan) -> list[dict[str, Any]]:
    from amlmon.azure.logs import run_query

    answer = run_query(ctx.query_api, query, timespan=timespan, source=source, allow_partial=True)
    return [record for table in answer.tables[:1] for record in table.records()]


def presence_query(source: Source, section: Section) -> str:
    """The role names and `Service Name` values of the section's rows in the timespan, with counts."""
    c = APP[source]
    lines = [c.requests if section == "requests" else c.traces]
    if section != "requests":
        op = "==" if section == "modelData" else "!="
        lines.append(f"| where {c.message} {op} {kql.string(MODEL_DATA_MESSAGE)}")
    lines += [
        f"| summarize n = count() by role = {c.role}, service = {c.dimension(SERVICE_DIMENSION)}",
        "| order by n desc",
        "| take 10",
    ]
    return "\n".join(lines)


def _setting_off(ctx: AppContext, target: Target, section: Section) -> str | None:
    """What the workspace's own settings of the target say is off, with the command that turns it on."""
    from amlmon import diagnostics as diag

    ws = diag.Workspace(ctx)
    try:
        inventory = ws.inventory(v1=target.deployment is None, v2=True, endpoints={target.name.lower()})
    except Exception:  # explaining is best effort; the listing's own errors belong to other commands
        return None
    finally:
        ws.close()
    found = [item for item in inventory if item.api in ("v1", "v2") and diag.is_named(item, target)]
    for item in found:
        if not item.diagnostics:
            return f"diagnostics (Application Insights) are off for {item.target}: turn them on with `amlmon diagnostics enable {item.target}`"
        # v1 only: a v2 deployment's data collector writes blobs, not App Insights traces, so its
        # switch says nothing about model_data_collection rows here.
        if section == "modelData" and item.api == "v1" and item.model_data is False:
            return (
                f"model data collection is off for {item.target}: turn it on with "
                f"`amlmon diagnostics enable {item.target} --model-data`"
            )
    return None


def _present(rows: list[dict[str, Any]]) -> str:
    parts = []
    for row in rows:
        role, service = str(row.get("role") or ""), str(row.get("service") or "")
        label = f"role {role}" + (f" / Service Name {service}" if service and service != role else "")
        parts.append(f"{label} ({int(row.get('n') or 0)})")
    return ", ".join(parts)


def explain_empty(
    ctx: AppContext,
    target: Target | None,
    source: Source,
    timespan: Timespan,
    section: Section,
    command: str,
) -> str | None:
    """One line saying why `target` (None: any) has no rows of `section` in the timespan, or None."""
    what = WHAT[section]
    name = str(target) if target else "any service"
    try:
        if target is not None:
            off = _setting_off(ctx, target, section)
            if off:
                return f"no {what} of {name} in the window: {off}"
        present = _rows(ctx, presence_query(source, section), source, timespan)
    except Exception:
        return None
    if not present:
        return (
            f"no {what} of {name} in the window: nothing was ingested in it for any service "
            "(telemetry becomes queryable minutes after the request); try a longer --since"
        )
    if target is None:
        return None
    names = {str(r.get("service") or r.get("role") or "") for r in present} - {GENERIC_ROLE, ""}
    # A role name may hold a space (the inference server's default is "ML service"): quote it for the shell.
    role = shlex.quote(next(iter(names))) if len(names) == 1 else "NAME"
    example = f"amlmon {command} {target} --role {role}"
    return (
        f"no {what} of {name} in the window, but the workspace has some of {_present(present)}; "
        f"if one of those names is {name}'s, say so with --role, e.g. {example}"
    )


def attribution_note(ctx: AppContext, target: Target, source: Source, timespan: Timespan) -> str | None:
    """One line when 1.4.x print lines in the window could not be given to `target` or to anyone."""
    try:
        rows = _rows(ctx, attribution_query(target, source), source, timespan)
    except Exception:
        return None
    row = rows[0] if rows else {}
    shared, unattributed = int(row.get("shared") or 0), int(row.get("unattributed") or 0)
    hosts = int(row.get("sharedHosts") or 0)
    parts = []
    if shared:
        parts.append(
            f"{shared} on {hosts} host{'s' if hosts != 1 else ''} that served {target} and another service"
        )
    if unattributed:
        parts.append(f"{unattributed} on hosts with no requests or model data of any service in the window")
    if not parts:
        return None
    return (
        f"{' and '.join(parts)}: print lines of 1.4.x servers (role {GENERIC_ROLE}) name no service, "
        f"only their host, so amlmon does not show them for {target} (it never guesses)"
    )


def known_targets(ctx: AppContext, targets: list[Target]) -> list[Target]:
    """`targets` when each names a v1 service, v2 endpoint or deployment of the workspace; otherwise
    not found (exit 3) with did-you-mean — the resolver `diagnostics` uses. None given: every service
    and deployment of the workspace, then ALL (the whole workspace's telemetry, beside them)."""
    from amlmon import diagnostics as diag
    from amlmon.targets import ALL

    ws = diag.Workspace(ctx)
    try:
        if not targets:
            items = ws.inventory()
            return [_target_of(item) for item in items if item.api in ("v1", "v2")] + [ALL]
        need_v1 = any(t.deployment is None for t in targets)
        inventory = ws.inventory(v1=need_v1, v2=True, endpoints={t.name.lower() for t in targets})
    finally:
        ws.close()
    resolution = diag.resolve(targets, inventory, kinds=set(), name_glob=None)
    if resolution.unknown:
        raise diag.not_found_error(resolution.unknown)
    return [_with_deployments(spelled(target, inventory), inventory) for target in targets]


def spelled(target: Target, inventory: list[Any]) -> Target:
    """`target` spelled as the workspace spells it: Azure matches names without case (so `CREDIT-EP/Blue`
    is found), but the collector's blob folders and the log tables' columns are case-sensitive."""
    from amlmon import diagnostics as diag

    for item in inventory:
        if not diag.is_named(item, target):
            continue
        if item.api == "v2" and item.endpoint:
            deployment = item.target.partition("/")[2] if target.deployment else None
            return dataclasses.replace(target, name=item.endpoint, deployment=deployment)
        return dataclasses.replace(target, name=item.target)
    return target


def _with_deployments(target: Target, inventory: list[Any]) -> Target:
    """A bare endpoint name also matches the role names of its deployments (v2 servers label their
    telemetry with an undocumented SERVICE_NAME; the deployment name is one amlmon tries)."""
    if target.deployment is not None or target.role:
        return target
    names = tuple(
        item.target.partition("/")[2]
        for item in inventory
        if item.api == "v2" and (item.endpoint or "").lower() == target.name.lower()
    )
    return dataclasses.replace(target, deployments=names) if names else target


def _target_of(item: Any) -> Target:
    if item.api == "v2" and item.endpoint:
        return Target(item.endpoint, item.target.partition("/")[2])
    return Target(item.target)


def v2_deployments(ctx: AppContext, targets: list[Target], command: str) -> list[Target]:
    """The named targets of a v2-only source (platform metrics, the endpoints' traffic log), resolved
    once before any read: unknown → exit 3 with did-you-mean; a v1 service → exit 2 (it has neither,
    and its absence must not read as "0 requests" or a raw ResourceNotFound); a bare endpoint → each of
    its deployments, so one that had no traffic is still gated on its own. None given: unchanged.
    `command` (stats, check): the hint names it, run on the v1 service's App Insights telemetry."""
    if not targets:
        return targets
    hint = f"a v1 service's telemetry is in App Insights: drop --metrics/--endpoint-logs, e.g. amlmon {command} {{}}"
    return v2_only(ctx, targets, "metrics and endpoint logs are", hint)


def every_v2_deployment(ctx: AppContext) -> list[Target]:
    """Every v2 deployment of the workspace: with no TARGET, each is a target of a v2-only source, so
    one without rows is shown (and gated) exactly as when named, never left out."""
    from amlmon import diagnostics as diag

    ws = diag.Workspace(ctx)
    try:
        inventory = ws.inventory(v1=False, v2=True)
    finally:
        ws.close()
    return [_target_of(item) for item in inventory if item.api == "v2"]


def v2_only(ctx: AppContext, targets: list[Target], what: str, hint: str) -> list[Target]:
    """`targets` resolved for a source only v2 deployments have: unknown → exit 3 with did-you-mean; a
    v1 service → exit 2 naming `what` (e.g. "the data collector's blobs are") and `hint` (formatted with
    the first v1 service); each named endpoint → its deployments."""
    items = _v2_items(ctx, targets, what, hint)
    return [_target_of(item) for item in items if item.api == "v2"]


def v2_named(ctx: AppContext, targets: list[Target], what: str, hint: str) -> list[Target]:
    """v2_only's checks, and `targets` as named (an endpoint stays one: its blob prefix covers every
    deployment's folders), spelled as the workspace spells them."""
    items = _v2_items(ctx, targets, what, hint)
    return [spelled(target, items) for target in targets]


def _v2_items(ctx: AppContext, targets: list[Target], what: str, hint: str) -> list[Any]:
    """The workspace's items that `targets` name, all v2 (else exit 3 / exit 2, as v2_only says)."""
    from amlmon import diagnostics as diag
    from amlmon.errors import UsageError

    ws = diag.Workspace(ctx)
    try:
        need_v1 = any(t.deployment is None for t in targets)
        inventory = ws.inventory(v1=need_v1, v2=True, endpoints={t.name.lower() for t in targets})
    finally:
        ws.close()
    resolution = diag.resolve(targets, inventory, kinds=set(), name_glob=None)
    if resolution.unknown:
        raise diag.not_found_error(resolution.unknown)
    v1 = [item.target for item in resolution.items if item.api == "v1"]
    if v1:
        raise UsageError(
            f"{what} for v2 deployments only; {', '.join(v1)} "
            f"{'is a v1 service' if len(v1) == 1 else 'are v1 services'}",
            hint=hint.format(v1[0]),
        )
    return list(resolution.items)


def collector_on(ctx: AppContext, target: Target) -> bool:
    """Whether `target` is v2 with its data collector's model_inputs/model_outputs on: its model data
    is then in blobs (--datastore-url), not in App Insights. Best effort: False when unsure."""
    from amlmon import diagnostics as diag

    if not (target.deployment or target.deployments):
        return False
    ws = diag.Workspace(ctx)
    try:
        inventory = ws.inventory(v1=False, v2=True, endpoints={target.name.lower()})
    except Exception:  # explaining is best effort
        return False
    finally:
        ws.close()
    return any(item.api == "v2" and item.model_data and diag.is_named(item, target) for item in inventory)


def collector_off(ctx: AppContext, target: Target) -> list[str]:
    """The v2 deployments named by `target` whose data collector's model_inputs/model_outputs are off.
    Best effort: none when unsure."""
    from amlmon import diagnostics as diag

    ws = diag.Workspace(ctx)
    try:
        inventory = ws.inventory(v1=False, v2=True, endpoints={target.name.lower()})
    except Exception:  # explaining is best effort
        return []
    finally:
        ws.close()
    return [
        item.target
        for item in inventory
        if item.api == "v2" and not item.model_data and diag.is_named(item, target)
    ]


def collector_off_note(deployment: str) -> str:
    """Why a v2 deployment has no collected model data: its data collector is off; how to turn it on,
    and where blobs it wrote while on are read from."""
    return (
        f"no model data of {deployment} from the data collector: it is off for {deployment} (a v2 "
        "deployment's model_inputs/model_outputs are written to blobs only while it is on): turn it on "
        f"with `amlmon diagnostics enable {deployment} --model-data`; blobs it wrote before are read with "
        "--datastore-url https://ACCOUNT.blob.core.windows.net/azureml-blobstore-WORKSPACE_ID"
    )


def collector_note(target: Target) -> str:
    """Why a v2 target has no model data in App Insights/Log Analytics, and where it is instead."""
    return (
        f"no model data of {target} in App Insights: the v2 data collector writes blobs: give --datastore-url "
        "https://ACCOUNT.blob.core.windows.net/azureml-blobstore-WORKSPACE_ID (the workspace's default datastore)"
    )
