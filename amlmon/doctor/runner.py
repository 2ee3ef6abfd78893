"""The whole doctor run: workspace and ingestion first, queries started early, then per target checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from amlmon.doctor.deployments_v2 import AssetExists, check_deployment
from amlmon.doctor.endpoints_v2 import EndpointState, endpoint_findings, start_endpoint
from amlmon.doctor.export import check_export
from amlmon.doctor.findings import WORKSPACE, Finding, Report, Sources, arm_properties, window_text
from amlmon.doctor.ingestion import check_ingestion, read_component_cap
from amlmon.doctor.querying import QueryPool, answer
from amlmon.doctor.services_v1 import check_service_settings, service_queries, service_telemetry
from amlmon.doctor.unnamed import UNNAMED_QUERY, check_unnamed
from amlmon.doctor.workspace import check_workspace
from amlmon.targets import Target

Services = list[dict[str, Any]]
Deployments = list[tuple[dict[str, Any], dict[str, Any]]]
NO_COMPONENT = "no Application Insights component to query"


def select(
    targets: Sequence[Target], services: Services, deployments: Deployments
) -> tuple[Services, Deployments, list[str]]:
    """The services and deployments named by `targets` (all when none), and the names matching nothing."""
    if not targets:
        return services, deployments, []
    chosen_services: Services = []
    chosen_deployments: Deployments = []
    unknown = []
    for target in targets:
        hits_s = [
            s
            for s in services
            if target.deployment is None and str(s.get("name")).lower() == target.name.lower()
        ]
        hits_d = [
            (ep, dep)
            for ep, dep in deployments
            if str(ep.get("name")).lower() == target.name.lower()
            and (target.deployment is None or str(dep.get("name")).lower() == target.deployment.lower())
        ]
        if not hits_s and not hits_d:
            unknown.append(str(target))
        chosen_services += [s for s in hits_s if s not in chosen_services]
        chosen_deployments += [d for d in hits_d if d not in chosen_deployments]
    return chosen_services, chosen_deployments, unknown


def _target_names(services: Services, deployments: Deployments) -> list[str]:
    """What a target may name (did-you-mean): services, endpoints and endpoint/deployment."""
    names = [str(s.get("name")) for s in services] + [str(ep.get("name")) for ep, _ in deployments]
    return names + [f"{ep.get('name')}/{dep.get('name')}" for ep, dep in deployments]


def senders(services: Services, deployments: Deployments) -> list[str]:
    """Every service and deployment with App Insights on: what sends with the instrumentation key."""
    found = [str(s.get("name")) for s in services if s.get("appInsightsEnabled")]
    found += [
        f"{ep.get('name')}/{dep.get('name')}"
        for ep, dep in deployments
        if arm_properties(dep).get("appInsightsEnabled")
    ]
    return found


def known_names(services: Services, deployments: Deployments) -> list[str]:
    """The names telemetry may carry: services, endpoints and deployments."""
    known = [str(s.get("name")) for s in services]
    known += [str(ep.get("name")) for ep, _ in deployments]
    return known + [str(dep.get("name")) for _, dep in deployments]


def run(
    sources: Sources,
    workspace_id: str,
    targets: Sequence[Target],
    window: dt.timedelta,
    now: dt.datetime | None = None,
) -> Report:
    now = now or dt.datetime.now(dt.UTC)
    text = window_text(window)
    report = Report()
    found, linked = check_workspace(sources, workspace_id)
    report.findings += found
    services, deployments = sources.services(), sources.deployments()
    chosen_s, chosen_d, unknown = select(targets, services, deployments)
    if unknown:
        from amlmon.diagnostics import not_found_error
        from amlmon.targets import suggest

        raise not_found_error(
            [(name, suggest(name, _target_names(services, deployments))) for name in unknown]
        )
    read_component_cap(sources, linked)
    report.findings += check_ingestion(linked, senders(services, deployments))
    pool = QueryPool(sources.query, window) if linked.component is not None else None
    unnamed = pool.start(UNNAMED_QUERY) if pool else None
    pending = _start_service_queries(pool, chosen_s) if pool else {}
    endpoints = _start_endpoints(sources, pool, linked.component, chosen_d, window, now)
    export = check_export(sources, linked, now)  # ARM and blob reads while the queries run
    for service in chosen_s:
        report.findings += _service(service, pending, now, text)
    assets = _asset_reader(sources)
    for endpoint, deployment in chosen_d:
        report.findings += check_deployment(endpoint, deployment, assets)
        report.findings += endpoint_findings(endpoints[str(endpoint.get("id"))], deployment, now, text)
    if unnamed is not None:
        rows, error = answer(unnamed)
        report.findings.append(check_unnamed(rows, error, known_names(services, deployments), text))
    else:
        report.findings.append(Finding("telemetry.unnamed", WORKSPACE, "skip", NO_COMPONENT))
    report.findings += export
    return report


def _start_endpoints(
    sources: Sources,
    pool: QueryPool | None,
    component: dict[str, Any] | None,
    chosen: Deployments,
    window: dt.timedelta,
    now: dt.datetime,
) -> dict[str, EndpointState]:
    """Each chosen deployment's endpoint once: its settings read, its queries started, its metrics read."""
    found: dict[str, EndpointState] = {}
    for endpoint, _ in chosen:
        key = str(endpoint.get("id"))
        if key not in found:
            found[key] = start_endpoint(sources, pool, component, endpoint, window, now)
    return found


def _asset_reader(sources: Sources) -> AssetExists:
    """dataId → whether its data asset exists (an ARM GET); None for a dataId that is no ARM id."""
    from amlmon.azure.deployments_v2 import API_VERSION

    def exists(data_id: str) -> bool | None:
        if not data_id.startswith("/subscriptions/"):
            return None
        return sources.arm_get(data_id, API_VERSION) is not None

    return exists


def _start_service_queries(pool: QueryPool, services: Services) -> dict[str, dict[str, Any]]:
    """Each chosen service's summarizing queries, started now (answered while ARM is read)."""
    pending = {}
    for service in services:
        name = str(service.get("name"))
        pending[name] = {kind: pool.start(text) for kind, text in service_queries(name).items()}
    return pending


def _service(
    service: dict[str, Any], pending: dict[str, dict[str, Any]], now: dt.datetime, window: str
) -> list[Finding]:
    """A v1 service's settings and, when its queries ran, what they found."""
    name = str(service.get("name"))
    found = check_service_settings(service)
    if name not in pending:
        return [*found, Finding("v1.telemetry", name, "skip", NO_COMPONENT)]
    answers = {kind: answer(p) for kind, p in pending[name].items()}
    return found + service_telemetry(name, answers, now, window)
