"""`amlmon services list` against the emulator: v1 services from model management, v2 deployments from ARM."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest

from tests.helpers import arm, make_workspace, mixed_workspace, wait_succeeded

pytestmark = pytest.mark.usefixtures("clear_faults")


SUB = "00000000-0000-0000-0000-00000000d1a9"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_list_shows_every_kind_with_stable_fields(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    result = cli("services", "list", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = result.json()
    assert [(r["target"], r["kind"]) for r in rows] == [
        ("churn-aci", "ACI"),
        ("credit-ep/blue", "Managed"),
        ("credit-ep/green", "Kubernetes"),
        ("fraud-aks", "AKS"),
    ]
    for row in rows:
        assert list(row) == [
            "target",
            "kind",
            "state",
            "diagnostics",
            "modelData",
            "scoringUri",
            "updated",
            "dataCollector",
            "endpointLogs",
        ]
    by = {r["target"]: r for r in rows}
    assert by["fraud-aks"]["diagnostics"] is True and by["churn-aci"]["diagnostics"] is False
    # v2 modelData: the model_inputs/model_outputs collections (none yet); v1 rows have no v2 details
    assert by["churn-aci"]["modelData"] is False and by["credit-ep/blue"]["modelData"] is False
    assert by["churn-aci"]["dataCollector"] is None and by["churn-aci"]["endpointLogs"] is None
    assert by["credit-ep/blue"]["dataCollector"] == {
        "collections": {},
        "rollingRate": None,
        "captureHeaders": [],
    }
    assert by["credit-ep/blue"]["endpointLogs"] == {"categories": [], "destinations": []}
    assert by["churn-aci"]["scoringUri"].endswith("/api/v1/service/churn-aci/score")
    assert by["churn-aci"]["state"] == "Healthy"

    only = cli("services", "list", *ws["args"], "--kind", "aks,managed", "-o", "json")
    assert [r["target"] for r in only.json()] == ["credit-ep/blue", "fraud-aks"]
    named = cli("services", "list", *ws["args"], "--name", "credit-ep/*", "-o", "json")
    assert [r["target"] for r in named.json()] == ["credit-ep/blue", "credit-ep/green"]
    bad = cli("services", "list", *ws["args"], "--kind", "IOT")
    assert bad.exit_code == 2 and "--kind" in bad.stderr

    table = cli("services", "list", *ws["args"], "-o", "table")
    assert table.exit_code == 0 and "fraud-aks" in table.stdout and " on " in table.stdout


def test_list_pages_through_both_apis(cli: Any, emulator: Any) -> None:
    names = [f"svc{i:02d}" for i in range(5)]
    ws = make_workspace(emulator, services=[{"name": n, "computeType": "ACI"} for n in names])
    status, _ = emulator.admin("PUT", "/_emulator/settings", {"pageSize": 2})
    assert status == 200
    try:
        result = cli("services", "list", *ws["args"], "-o", "json")
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"pageSize": 100})
    assert result.exit_code == 0, result.stderr
    assert [r["target"] for r in result.json()] == names


def test_transient_faults_on_model_management_and_arm_are_retried(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    rules = [
        {
            "kind": "status",
            "status": 429,
            "retryAfter": 1,
            "path": f"/workspaces/{ws['ws']}/services$",
            "count": 1,
        },
        {"kind": "status", "status": 503, "path": "/discovery", "count": 1},
        {"kind": "reset", "path": f"/workspaces/{ws['ws']}/onlineEndpoints$", "count": 1},
        {"kind": "status", "status": 500, "path": "/onlineEndpoints/credit-ep/deployments$", "count": 1},
    ]
    for rule in rules:
        assert emulator.admin("POST", "/_emulator/faults", rule)[0] in (200, 201)
    seq = emulator.last_seq()
    result = cli("services", "list", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert len(result.json()) == 4
    statuses = [r["status"] for r in emulator.requests_since(seq)]
    assert 429 in statuses and 503 in statuses and 500 in statuses and 0 in statuses, "every fault was hit"


def test_a_persistent_outage_ends_with_one_clear_error(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    rule = {"kind": "status", "status": 503, "path": f"/workspaces/{ws['ws']}/services$", "count": None}
    assert emulator.admin("POST", "/_emulator/faults", rule)[0] in (200, 201)
    result = cli("services", "list", *ws["args"], "-o", "json")
    assert result.exit_code == 1, result.stderr
    assert "ServiceUnavailable" in result.stderr and "HTTP 503" in result.stderr
    assert "hint: retry later" in result.stderr and "Traceback" not in result.stderr


def test_endpoints_are_listed_per_workspace_even_when_workspaces_share_a_group(
    cli: Any, emulator: Any
) -> None:
    rg = unique("rg-shared-")
    made = {}
    for ws, endpoint in (("wsone", "ep-one"), ("wstwo", "ep-two")):
        deployments = [{"endpoint": endpoint, "name": "blue", "endpointComputeType": "Managed"}]
        answer = emulator.create_workspace(
            subscription=SUB, resourceGroup=rg, name=ws, deployments=deployments
        )
        made[ws] = answer["workspaceId"]
    status, listed, _ = arm(emulator, "GET", made["wsone"] + "/onlineEndpoints")
    assert status == 200 and [e["name"] for e in listed["value"]] == ["ep-one"]
    missing = made["wsone"].rsplit("/", 1)[0] + "/wsnone/onlineEndpoints"
    assert arm(emulator, "GET", missing)[0] == 404, "no workspace, no endpoint list"

    result = cli("services", "list", "--subscription", SUB, "-g", rg, "-w", "wstwo", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [r["target"] for r in result.json()] == ["ep-two/blue"]


def test_an_endpoint_whose_deployments_404_is_reported_and_the_list_goes_on(cli: Any, emulator: Any) -> None:
    ws = make_workspace(
        emulator,
        services=[{"name": "churn", "computeType": "ACI"}],
        deployments=[
            {"endpoint": "ep-gone", "name": "blue", "endpointComputeType": "Managed"},
            {"endpoint": "ep-here", "name": "green", "endpointComputeType": "Managed"},
        ],
    )
    # The endpoint vanishes between the endpoint list and the list of its deployments.
    rule = {"kind": "status", "status": 404, "method": "GET", "path": "/onlineEndpoints/ep-gone/deployments$"}
    assert emulator.admin("POST", "/_emulator/faults", {**rule, "count": 1})[0] == 201
    result = cli("services", "list", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [r["target"] for r in result.json()] == ["churn", "ep-here/green"]
    [line] = [line for line in result.stderr.splitlines() if "ep-gone" in line]
    assert line.startswith("warning:") and "could not be listed" in line
    again = cli("services", "list", *ws["args"], "-o", "json")  # positive control: without the fault
    assert [r["target"] for r in again.json()] == ["churn", "ep-gone/blue", "ep-here/green"]


def test_a_resource_group_or_workspace_that_is_no_azure_name_is_refused_before_any_request(
    cli: Any, emulator: Any
) -> None:
    ws = mixed_workspace(emulator)
    hostile = [
        ["-g", "nope-rg/../" + ws["rg"], "resource group name"],
        ["-g", ws["rg"] + "?x=1", "resource group name"],
        ["-w", ws["ws"] + "#x", "Azure ML workspace name"],
        ["--subscription", ws["subscription"] + "/..", "subscription ID"],
    ]
    for option, value, needle in hostile:
        args = {"--subscription": ws["subscription"], "-g": ws["rg"], "-w": ws["ws"], option: value}
        seq = emulator.last_seq()
        result = cli("services", "list", *[part for pair in args.items() for part in pair])
        assert result.exit_code == 2, (option, value, result.stderr)
        assert needle in result.stderr and "hint: Azure's rule:" in result.stderr
        sent = [r for r in emulator.requests_since(seq) if not r["path"].startswith("/_emulator/")]
        assert sent == [], "refused before any request"
    fine = cli("services", "list", *ws["args"], "-o", "json")  # positive control
    assert fine.exit_code == 0 and len(fine.json()) == 4


def test_a_name_glob_that_matches_nothing_is_not_found(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    listed = cli("services", "list", *ws["args"], "--name", "zzz*", "-o", "json")
    assert listed.exit_code == 3, listed.stdout + listed.stderr
    assert listed.stdout == "" and "error: no service or deployment matched --name 'zzz*'" in listed.stderr
    assert "hint:" in listed.stderr
    close = cli("services", "list", *ws["args"], "--name", "churn-ac", "-o", "json")
    assert close.exit_code == 3 and "did you mean churn-aci?" in close.stderr, close.stderr
    bulk = cli("diagnostics", "enable", "--all", "--name", "zzz*", "--dry-run", *ws["args"], "-o", "json")
    assert bulk.exit_code == 3, bulk.stdout + bulk.stderr
    assert "error: no service or deployment matched --name 'zzz*'" in bulk.stderr and bulk.stdout == ""
    # Positive controls: a glob that matches lists (and plans) exactly its targets, exit 0.
    some = cli("services", "list", *ws["args"], "--name", "credit-ep/*", "-o", "json")
    assert some.exit_code == 0 and [r["target"] for r in some.json()] == ["credit-ep/blue", "credit-ep/green"]
    plan = cli("diagnostics", "enable", "--all", "--name", "churn*", "--dry-run", *ws["args"], "-o", "json")
    assert plan.exit_code == 0, plan.stderr


def test_names_stay_whole_on_a_narrow_terminal(emulator: Any) -> None:
    """On a 100-column terminal the other columns give up width; the targets are never cut, so
    credit-ep/blue and credit-ep/green stay told apart (they were both `credit-e…`). Narrower still,
    a name folds onto further lines rather than being cut."""
    from rich.cells import cell_len

    from tests.helpers import on_a_terminal

    ws = mixed_workspace(emulator)
    text = on_a_terminal(["services", "list", *ws["args"], "-o", "table"], emulator.env(), columns=100)
    lines = text.splitlines()
    targets = [line.split()[0] for line in lines[2:] if line.strip()]
    assert targets == ["churn-aci", "credit-ep/blue", "credit-ep/green", "fraud-aks"], text
    assert all(cell_len(line) <= 100 for line in lines), text
    assert "…" in text, "the other columns were cut to fit (the control: the table is wider than 100)"

    narrow = on_a_terminal(["services", "list", *ws["args"], "-o", "table"], emulator.env(), columns=60)
    lines = narrow.splitlines()
    assert all(cell_len(line) <= 60 for line in lines), narrow
    body = lines[next(i for i, line in enumerate(lines) if line.startswith("─")) + 1 :]
    folded = "".join(line.split("   ", 1)[0].strip() for line in body)  # the target column, read down
    assert folded == "churn-acicredit-ep/bluecredit-ep/greenfraud-aks", narrow


def _updated(cli: Any, ws: dict[str, Any]) -> dict[str, str]:
    result = cli("services", "list", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    return {row["target"]: row["updated"] for row in result.json()}


def _past(instants: Any) -> None:
    """Until the wall clock is a whole second past every instant (`updated` is shown to the second), so
    a write now must show a later value. Waiting for time to pass, not for something to (not) happen."""
    latest = max(dt.datetime.fromisoformat(text.replace("Z", "+00:00")) for text in instants)
    while dt.datetime.now(dt.UTC) < latest + dt.timedelta(seconds=1):
        time.sleep(0.05)


def test_updated_moves_forward_on_a_write_and_stays_when_nothing_changed(cli: Any, emulator: Any) -> None:
    """ARM stamps systemData.lastModifiedAt on every accepted PUT/PATCH; model management stamps a v1
    service's updatedTime when its update operation ends."""
    ws = mixed_workspace(emulator)
    before = _updated(cli, ws)
    _past(before.values())
    enabled = cli("diagnostics", "enable", "churn-aci", "credit-ep/blue", *ws["args"], "-o", "json")
    assert enabled.exit_code == 0, enabled.stderr
    assert {r["status"] for r in enabled.json()["results"]} == {"changed"}
    after = _updated(cli, ws)
    assert after["churn-aci"] > before["churn-aci"] and after["credit-ep/blue"] > before["credit-ep/blue"]
    assert after["fraud-aks"] == before["fraud-aks"] and after["credit-ep/green"] == before["credit-ep/green"]

    _past(after.values())
    again = cli("diagnostics", "enable", "churn-aci", "credit-ep/blue", *ws["args"], "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert {r["status"] for r in again.json()["results"]} == {"unchanged"}
    assert _updated(cli, ws) == after


def test_arm_keeps_created_and_stamps_last_modified_on_each_write(emulator: Any) -> None:
    """The fields are the recorded ones (createdAt/By/ByType, lastModifiedAt/By/ByType); whatever
    systemData a client sends is ignored, as ARM treats it as read-only."""
    ws = mixed_workspace(emulator)
    endpoint = f"{ws['id']}/onlineEndpoints/credit-ep"
    deployment = f"{endpoint}/deployments/blue"
    for path, write in ((endpoint, "PUT"), (deployment, "PUT"), (deployment, "PATCH")):
        _, old, _ = arm(emulator, "GET", path)
        assert set(old["systemData"]) == {
            "createdAt", "createdBy", "createdByType", "lastModifiedAt", "lastModifiedBy", "lastModifiedByType"
        }  # fmt: skip
        sent = {**old, "systemData": {"createdAt": "2000-01-01T00:00:00Z"}}
        body = {"tags": {"touched": "yes"}} if write == "PATCH" else sent
        status, _, _ = arm(emulator, write, path, body)
        assert status in (200, 201, 202), (write, path, status)
        if path == deployment:  # a deployment takes no write while its operation runs
            wait_succeeded(emulator, path)
        _, new, _ = arm(emulator, "GET", path)
        assert new["systemData"]["createdAt"] == old["systemData"]["createdAt"], (write, path)
        assert new["systemData"]["lastModifiedAt"] > old["systemData"]["lastModifiedAt"], (write, path)
