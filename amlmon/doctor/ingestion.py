"""Ingestion checks: local auth against key-only senders, the daily caps, ingestion sampling."""

from __future__ import annotations

from collections.abc import Sequence

from amlmon.doctor.findings import WORKSPACE, Finding, Sources, arm_properties, name_of, rg_of, truthy
from amlmon.doctor.workspace import Linked
from amlmon.errors import AmlmonError

BILLING_API = "2015-05-01"  # the component's currentbillingfeatures and quotastatus


def read_component_cap(sources: Sources, linked: Linked) -> None:
    """The component's own daily cap and quota status (api-version 2015-05-01); absent when unreadable."""
    if linked.component_id is None or linked.component is None:
        return
    for attribute, path in (("billing", "currentbillingfeatures"), ("quota", "quotastatus")):
        try:
            setattr(linked, attribute, sources.arm_get(f"{linked.component_id}/{path}", BILLING_API))
        except AmlmonError:
            setattr(linked, attribute, None)


def check_ingestion(linked: Linked, senders: Sequence[str]) -> list[Finding]:
    """Local auth vs key-only senders, daily caps, ingestion sampling."""
    if linked.component is None:
        return [Finding("ingestion", WORKSPACE, "skip", "no Application Insights component to check")]
    return [
        _local_auth(linked, senders),
        _daily_cap(linked),
        _sampling(linked),
        _component_cap(linked),
    ]


def _component_cap(linked: Linked) -> Finding:
    check = "ingestion.component-cap"
    if linked.quota is None:
        return Finding(check, WORKSPACE, "skip", "the component's quota status is not readable")
    cap = ((linked.billing or {}).get("DataVolumeCap") or {}).get("Cap")
    cap_text = f"component daily cap {cap:g} GB" if isinstance(cap, int | float) else "component daily cap"
    component, rg = name_of(str(linked.component_id)), rg_of(str(linked.component_id))
    if truthy(linked.quota.get("ShouldBeThrottled")):
        return Finding(
            check,
            WORKSPACE,
            "fail",
            f"{cap_text} reached: ingestion is throttled until {linked.quota.get('ExpirationTime')}; "
            "rows sent meanwhile are dropped",
            f"raise it: az monitor app-insights component billing update --app {component} -g {rg} --cap <GB>",
        )
    return Finding(check, WORKSPACE, "ok", f"{cap_text}, not reached (ShouldBeThrottled false)")


def _local_auth(linked: Linked, senders: Sequence[str]) -> Finding:
    props = arm_properties(linked.component)
    component, rg = name_of(str(linked.component_id)), rg_of(str(linked.component_id))
    fix = (
        f"az resource update --ids {linked.component_id} --set properties.DisableLocalAuth=false "
        "(the inference server sends with the instrumentation key only; it cannot use Entra ID)"
    )
    if not truthy(props.get("DisableLocalAuth")):
        return Finding(
            "ingestion.local-auth",
            WORKSPACE,
            "ok",
            "local authentication enabled: key-only ingestion accepted",
        )
    if senders:
        shown = ", ".join(senders[:5]) + (f" and {len(senders) - 5} more" if len(senders) > 5 else "")
        return Finding(
            "ingestion.local-auth",
            WORKSPACE,
            "fail",
            f"component {component} (rg {rg}) has DisableLocalAuth=true: it refuses envelopes sent with an "
            f"instrumentation key only (HTTP 401), which is how the inference server of {shown} sends: "
            "no data at all (its log says 'Your Application Insights resource may be configured to use "
            "entra ID authentication')",
            fix,
        )
    return Finding(
        "ingestion.local-auth",
        WORKSPACE,
        "warn",
        f"component {component} has DisableLocalAuth=true: a deployment with App Insights on would send nothing",
        fix,
    )


def _daily_cap(linked: Linked) -> Finding:
    capping = arm_properties(linked.log_analytics).get("workspaceCapping") or {}
    if linked.log_analytics is None or not isinstance(capping, dict):
        return Finding("ingestion.daily-cap", WORKSPACE, "skip", "no Log Analytics workspace read")
    quota = capping.get("dailyQuotaGb")
    status = str(capping.get("dataIngestionStatus") or "unknown")
    reset = capping.get("quotaNextResetTime")
    la_name, rg = name_of(str(linked.log_analytics.get("id"))), rg_of(str(linked.log_analytics.get("id")))
    cap_text = "no daily cap" if quota in (None, -1, -1.0) else f"daily cap {quota:g} GB"
    fix = f"az monitor log-analytics workspace update -n {la_name} -g {rg} --quota <GB, -1 for none>"
    if status in ("OverQuota", "ForceOff", "SubscriptionSuspended"):
        why = {
            "OverQuota": f"the daily cap was reached: ingestion stopped until {reset or 'the reset time'}",
            "ForceOff": "ingestion was turned off",
            "SubscriptionSuspended": "the subscription is suspended",
        }[status]
        return Finding(
            "ingestion.daily-cap",
            WORKSPACE,
            "fail",
            f"{la_name}: dataIngestionStatus {status}, {cap_text}: {why}; rows sent meanwhile are dropped",
            fix if status == "OverQuota" else "check the subscription / workspace state in the portal",
        )
    if status == "ApproachingQuota":
        return Finding(
            "ingestion.daily-cap",
            WORKSPACE,
            "warn",
            f"{la_name}: dataIngestionStatus ApproachingQuota, {cap_text} (resets {reset})",
            fix,
        )
    return Finding(
        "ingestion.daily-cap", WORKSPACE, "ok", f"{la_name}: {cap_text}, dataIngestionStatus {status}"
    )


def _sampling(linked: Linked) -> Finding:
    value = arm_properties(linked.component).get("SamplingPercentage")
    component, rg = name_of(str(linked.component_id)), rg_of(str(linked.component_id))
    try:
        percent = 100.0 if value is None else float(value)
    except (TypeError, ValueError):
        return Finding(
            "ingestion.sampling", WORKSPACE, "skip", f"SamplingPercentage {value!r} is not a number"
        )
    if percent >= 100:
        return Finding("ingestion.sampling", WORKSPACE, "ok", "no ingestion sampling (100 %)")
    return Finding(
        "ingestion.sampling",
        WORKSPACE,
        "warn",
        f"ingestion sampling keeps {percent:g} % of items: {100 - percent:g} % are dropped at ingestion, "
        f"counts are estimates (each kept row stands for {100 / percent:.3g}; sum itemCount, not count())",
        f"az monitor app-insights component update --app {component} -g {rg} --sampling-percentage 100",
    )
