"""`amlmon doctor [TARGET…]`: why is there no data? One row per check, with the evidence and the fix.

Exit codes: 0 nothing failed (warnings allowed); 1 a check failed; 2 bad option; 3 workspace or target
not found; 4 authentication; 5 throttled. Reads only: ARM GETs, service listings, summarizing queries.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import typer

from amlmon.cli.common import app_context, output
from amlmon.cli.params import lookback_option, targets_argument

if TYPE_CHECKING:
    from amlmon.azure.logs import Source

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    targets: list[str] = targets_argument("every one"),
    since: str = lookback_option("24h"),
) -> int:
    """Check every switch between a deployed model and its telemetry: workspace links, ingestion
    (local auth, daily cap, sampling), v1 service settings and the newest ingested rows, v2 deployment
    pipes, telemetry under unknown names, export. Changes nothing."""
    from amlmon import doctor as doc
    from amlmon.targets import parse_targets
    from amlmon.timeparse import parse_duration

    window = parse_duration(since, option="--since")
    wanted = parse_targets(targets or [])
    ctx = app_context()
    report = doc.run(sources(ctx), ctx.workspace.resource_id, wanted, window)
    rows = [finding.row() for finding in report.findings]
    code = 1 if report.failed else 0
    output(rows, table=render, exit_code=code)
    return code


def sources(ctx: Any) -> Any:
    """doctor's reads, bound to the context's clients."""
    from amlmon import doctor as doc

    return doc.Sources(
        arm_get=lambda resource_id, api: _arm_get(ctx, resource_id, api),
        services=lambda: _services(ctx),
        deployments=lambda: _deployments(ctx),
        query=lambda text, window: _query(ctx, text, window),
        diagnostic_settings=lambda resource_id: _settings(ctx, resource_id),
        delivered=lambda setting: _delivered(ctx, setting),
        log_query=lambda text, window: _query(ctx, text, window, "log-analytics"),
        metrics=lambda resource_id, names, start, end, filter: _metrics(
            ctx, resource_id, names, start, end, filter
        ),
    )


def _arm_get(ctx: Any, resource_id: str, api_version: str) -> dict[str, Any] | None:
    from amlmon.azure.arm import raise_for_status
    from amlmon.errors import AuthError

    response = ctx.arm.request("GET", resource_id, api_version)
    if response.status_code == 404:
        return None
    if response.status_code in (401, 403):
        raise AuthError(f"not allowed to read {resource_id} (HTTP {response.status_code})")
    raise_for_status(response)
    return dict(response.json())


def _workspace_info(ctx: Any) -> Any:
    """The workspace info, even when its App Insights or Log Analytics link is broken (doctor reports
    that itself): then a WorkspaceInfo without the component, so services can still be listed."""
    from amlmon.azure.workspaces import WorkspaceInfo

    try:
        return ctx.workspace_info
    except Exception:  # a broken link is a finding, not the end of the run
        ref = ctx.workspace
        body = _arm_get(ctx, ref.resource_id, "2024-04-01") or {}
        props = body.get("properties") or {}
        info = WorkspaceInfo(
            subscription=str(ref.subscription.value),
            resource_group=str(ref.resource_group.value),
            name=str(ref.workspace.value),
            id=str(body.get("id") or ref.resource_id),
            location=body.get("location"),
            discovery_url=props.get("discoveryUrl"),
            app_insights_id=None,
        )
        ctx.__dict__["workspace_info"] = info  # the cached_property's slot: later readers get this one
        return info


def _services(ctx: Any) -> list[dict[str, Any]]:
    from amlmon.azure.services_v1 import ModelManagementClient

    client = ModelManagementClient(ctx.session, _workspace_info(ctx))
    try:
        return client.list_services()
    finally:
        client.close()


def _deployments(ctx: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    from amlmon.azure import deployments_v2 as v2api

    workspace_id = str(ctx.workspace.resource_id)
    scope = v2api.Scope(ctx.arm, workspace_id)
    found = []
    for endpoint in v2api.list_endpoints(scope):
        for deployment in v2api.list_deployments(scope, str(endpoint.get("name"))):
            found.append((endpoint, deployment))
    return found


def _query(ctx: Any, text: str, window: Any, source: Source = "app-insights") -> list[dict[str, Any]]:
    from amlmon.azure.logs import run_query

    return run_query(
        ctx.query_api, text, timespan=window, source=source, allow_partial=False
    ).primary.records()


def _metrics(
    ctx: Any, resource_id: str, names: Any, start: Any, end: Any, filter: str | None
) -> dict[str, Any]:
    """One Metrics_List call for the whole window (interval FULL), totals split by `filter`."""
    from amlmon.azure.errors import translate
    from amlmon.azure.metrics import list_metrics

    try:
        return list_metrics(
            ctx.monitor_client,
            resource_id,
            names,
            start=start,
            end=end,
            aggregation=("total",),
            filter=filter,
        )
    except Exception as exc:
        translated = translate(exc)
        if translated is None:
            raise
        raise translated from None


def _settings(ctx: Any, resource_id: str) -> list[Any]:
    from amlmon.azure import diagnostic_settings as ds

    return list(ds.list_settings(ctx.arm, resource_id))


def _delivered(ctx: Any, setting: Any) -> dict[str, Any]:
    from amlmon.cli.export import access
    from amlmon.export import delivered

    return delivered(access(ctx), setting)


def render(rows: Any, stream: IO[str]) -> None:
    """One line per check (status, check, target, evidence) and the fix under it; names and evidence
    come from the service, so their control characters are shown, never run."""
    from amlmon.render.text import visible

    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        target = "" if row["target"] == "-" else f" {visible(str(row['target']))}"
        evidence = visible(str(row["evidence"]), "\n\t")
        print(f"{MARKS.get(row['status'], row['status'])}  {row['check']}{target}: {evidence}", file=stream)
        if row.get("fix") and row["status"] != "ok":
            print(f"      fix: {visible(str(row['fix']), chr(10))}", file=stream)
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "warn", "fail", "skip"))
    print(f"\n{summary}", file=stream)
