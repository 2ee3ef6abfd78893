"""doctor's pure checks: verdicts from the bodies and summaries Azure returns (no emulator needed)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from amlmon import doctor
from amlmon.errors import UsageError
from amlmon.targets import Target


def _linked(component: dict[str, Any], capping: dict[str, Any] | None = None) -> doctor.Linked:
    la_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law"
    return doctor.Linked(
        workspace={},
        component_id="/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/components/ai",
        component={"properties": component},
        log_analytics={"id": la_id, "properties": {"workspaceCapping": capping or {}}},
    )


def test_unnamed_ignores_known_names_and_1_4_print_lines_and_names_1_4_services_by_service_name() -> None:
    rows = [
        {"role": "svc", "service": "", "n": 10},
        {"role": "azmlinfsrv", "service": "", "n": 4},  # 1.4.x print lines: attributed by host elsewhere
        {"role": "azmlinfsrv", "service": "old-name", "n": 7},
        {"role": "platform-role", "service": "", "n": 9},
    ]
    finding = doctor.check_unnamed(rows, None, ["svc", "ep", "blue"], "24h")
    assert finding.status == "warn"
    assert finding.evidence.endswith("platform-role (9 rows), old-name (7 rows)")
    assert "azmlinfsrv" not in finding.evidence
    assert finding.fix is not None and finding.fix.endswith("--role platform-role")
    assert (
        doctor.check_unnamed(rows[:2], None, ["SVC"], "24h").status == "ok"
    )  # names compare case-insensitively
    assert doctor.check_unnamed(None, "boom", [], "24h").status == "skip"


@pytest.mark.parametrize(
    ("percent", "status", "text"),
    [
        (None, "ok", "100 %"),
        (100.0, "ok", "100 %"),
        (12.5, "warn", "87.5 % are dropped"),
        ("x", "skip", "not a number"),
    ],
)
def test_sampling_verdict(percent: Any, status: str, text: str) -> None:
    finding = doctor.check_ingestion(_linked({"SamplingPercentage": percent}), [])[2]
    assert (finding.check, finding.status) == ("ingestion.sampling", status)
    assert text in finding.evidence


@pytest.mark.parametrize(
    ("capping", "status"),
    [
        ({"dailyQuotaGb": -1.0, "dataIngestionStatus": "RespectQuota"}, "ok"),
        ({"dailyQuotaGb": 5.0, "dataIngestionStatus": "RespectQuota"}, "ok"),
        ({"dailyQuotaGb": 5.0, "dataIngestionStatus": "ApproachingQuota"}, "warn"),
        ({"dailyQuotaGb": 5.0, "dataIngestionStatus": "OverQuota"}, "fail"),
        ({"dailyQuotaGb": 5.0, "dataIngestionStatus": "SubscriptionSuspended"}, "fail"),
    ],
)
def test_daily_cap_verdict(capping: dict[str, Any], status: str) -> None:
    assert doctor.check_ingestion(_linked({}, capping), [])[1].status == status


def test_local_auth_fails_only_with_key_only_senders() -> None:
    assert doctor.check_ingestion(_linked({"DisableLocalAuth": False}), ["svc"])[0].status == "ok"
    assert doctor.check_ingestion(_linked({"DisableLocalAuth": True}), [])[0].status == "warn"
    failed = doctor.check_ingestion(_linked({"DisableLocalAuth": "true"}), ["svc"])[0]
    assert failed.status == "fail" and "svc" in failed.evidence


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        (
            {"dataCollectionMode": "Enabled", "samplingRate": 1.0, "dataId": "azureml://x/data/d/versions/1"},
            "ok",
        ),
        ({"dataCollectionMode": "enabled", "dataId": "azureml://x/data/d/versions/1"}, "ok"),  # either case
        ({"dataCollectionMode": "Enabled", "samplingRate": 1.0}, "warn"),
        ({"dataCollectionMode": "Disabled", "dataId": "d"}, "warn"),
        ({"dataCollectionMode": "Enabled", "samplingRate": 0, "dataId": "d"}, "fail"),
    ],
)
def test_collection_verdict(spec: dict[str, Any], status: str) -> None:
    assert doctor.collection_finding("ep/dep", "model_inputs", spec).status == status


def test_generation_from_the_share_of_azmlinfsrv_rows() -> None:
    assert doctor.generation(0, 0) == "none"
    assert doctor.generation(5, 0) == "1.5.x"
    assert doctor.generation(5, 5) == "1.4.x"
    assert doctor.generation(5, 2) == "1.4.x and 1.5.x"


def test_select_names_services_endpoints_and_deployments_and_reports_unknown() -> None:
    services = [{"name": "svc"}]
    deployments = [({"name": "ep"}, {"name": "blue"}), ({"name": "ep"}, {"name": "green"})]
    assert doctor.select([], services, deployments) == (services, deployments, [])
    chosen = doctor.select([Target("ep"), Target("SVC")], services, deployments)
    assert chosen == (services, deployments, [])
    assert doctor.select([Target("ep", "blue")], services, deployments)[1] == deployments[:1]
    assert doctor.select([Target("nope")], services, deployments)[2] == ["nope"]


def test_service_queries_escape_the_name() -> None:
    queries = doctor.service_queries('we"ird')
    assert all('"we\\"ird"' in text for text in queries.values()), queries
    with pytest.raises(UsageError):
        from amlmon.targets import parse_target

        parse_target('we"ird')  # the CLI never lets such a name through; the queries escape it anyway


def test_query_pool_runs_queries_concurrently_but_never_more_than_5_at_once() -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def query(text: str, window: dt.timedelta) -> list[dict[str, Any]]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return [{"text": text}]

    pool = doctor.QueryPool(query, dt.timedelta(hours=1))
    pending = [pool.start(f"q{i}") for i in range(12)]
    assert [p.result()[0]["text"] for p in pending] == [f"q{i}" for i in range(12)]
    assert peak[0] == doctor.MAX_CONCURRENT_QUERIES  # concurrent, and capped
