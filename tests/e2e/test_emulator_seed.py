"""Seeding: the ground truth the seed route returns equals what KQL finds in the seeded rows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.conftest import Emulator
from tests.helpers import logs_client


def test_seed_truth_matches_a_kql_summarize_in_both_generations(emulator: Emulator) -> None:
    name = "seed" + uuid.uuid4().hex[:8]
    ws = {"subscription": str(uuid.uuid4()), "resourceGroup": "rg-" + name}
    status, created = emulator.admin(
        "POST",
        "/_emulator/workspaces",
        {
            **ws,
            "name": name,
            "services": [{"name": "svc", "computeType": "ACI"}],
            "deployments": [{"endpoint": "ep", "name": "blue", "endpointComputeType": "Managed"}],
        },
    )
    assert status in (200, 201), created
    status, seeded = emulator.admin(
        "POST",
        "/_emulator/telemetry/seed",
        {
            **ws,
            "workspace": name,
            "services": ["svc", "ep/blue"],
            "hours": 2,
            "ratePerMinute": 5,
            "generation": "mixed",
            "seed": 3,
            "failureRate": {"svc": 0.1, "ep/blue": 0.2},
        },
    )
    assert status == 200, seeded
    truth: dict[str, Any] = seeded["truth"]
    assert {truth["svc"]["generation"], truth["ep/blue"]["generation"]} == {"1.5", "1.4"}
    # What the real server's records say: requests name their service; a 1.5.x exception's role is its
    # service, a 1.4.x exception (role azmlinfsrv) names only the request it failed (`Request Id`).
    # A v2 deployment's SERVICE_NAME defaults to the deployment name in the seed.
    kql = """
let req = requests
| extend svc = tostring(customDimensions["Service Name"]), rid = tostring(customDimensions["Request Id"])
| extend code = iff(isnotempty(tostring(customDimensions.resultCode)), tostring(customDimensions.resultCode), resultCode);
let exc = exceptions
| extend rid = tostring(customDimensions["Request Id"])
| join kind=leftouter (req | project rid, owner = svc) on rid
| extend svc = iff(cloud_RoleName == "azmlinfsrv", owner, cloud_RoleName)
| summarize exceptions = count() by svc;
req | summarize requests = count(), failures = countif(toint(code) >= 500) by svc
| join kind=leftouter exc on svc
| project svc, requests, failures, exceptions
"""
    result = logs_client(emulator).query_resource(
        created["appInsightsId"], kql, timespan=dt.timedelta(hours=3)
    )
    found = {r["svc"]: r for r in result.tables[0].rows}
    for target, expected in truth.items():
        row = found[target.rpartition("/")[2]]
        assert row["requests"] == expected["requests"] == 600
        assert row["failures"] == expected["failures"] > 0
        assert row["exceptions"] == expected["exceptions"]
    # 1.5.1 packs the labels into one Python-literal string: count model data records over all targets
    records = logs_client(emulator).query_resource(
        created["appInsightsId"],
        'traces | where message == "model_data_collection" | count',
        timespan=dt.timedelta(hours=3),
    )
    assert records.tables[0].rows[0][0] == sum(v["modelData"] for v in truth.values()) > 0
    # the 1.4 layout keeps the real duration in the standard column: its median agrees with the truth
    old = next(t for t, v in truth.items() if v["generation"] == "1.4")
    service = old.rpartition("/")[2]
    median = logs_client(emulator).query_resource(
        created["appInsightsId"],
        f'requests | where customDimensions["Service Name"] == "{service}" | summarize percentile(duration, 50)',
        timespan=dt.timedelta(hours=3),
    )
    assert abs(median.tables[0].rows[0][0] - truth[old]["p50"]) <= 0.02 * truth[old]["p50"]
