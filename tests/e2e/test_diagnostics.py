"""`amlmon diagnostics enable|disable|status` against the emulator, through the real SDK pipelines."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import spawn_amlmon
from tests.helpers import (
    arm,
    deployment_path,
    interrupt,
    make_workspace,
    mixed_workspace,
    one_deployment_workspace,
    wait_succeeded,
)

WRITES = ("PATCH", "PUT")


def writes(emulator: Any, since: int) -> list[dict[str, Any]]:
    """PATCH/PUT requests to v1 services or v2 deployments logged after `since`."""
    return [
        r
        for r in emulator.requests_since(since)
        if r["method"] in WRITES
        and ("/services/" in r["path"] or "/deployments/" in r["path"])
        and not r["path"].startswith("/_emulator/")
    ]


def status_of(cli: Any, ws: dict[str, Any], *targets: str) -> dict[str, dict[str, Any]]:
    result = cli("diagnostics", "status", *targets, *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    return {row["target"]: row for row in result.json()}


def force_service(emulator: Any, ws: dict[str, Any], name: str, **fields: Any) -> None:
    body = {
        "subscription": ws["subscription"],
        "resourceGroup": ws["rg"],
        "workspace": ws["ws"],
    }
    status, answer = emulator.admin("PATCH", "/_emulator/services", {**body, "name": name, **fields})
    assert status == 200, answer


def test_enable_and_disable_every_kind_and_status_follows(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator, aks_enabled=False)
    targets = ["churn-aci", "fraud-aks", "credit-ep/blue", "credit-ep/green"]

    enabled = cli("diagnostics", "enable", *targets, *ws["args"], "-o", "json")
    assert enabled.exit_code == 0, enabled.stderr
    doc = enabled.json()
    assert doc["action"] == "enable" and doc["dryRun"] is False
    assert {r["target"]: r["status"] for r in doc["results"]} == dict.fromkeys(targets, "changed")
    assert doc["summary"]["changed"] == 4 and doc["summary"]["failed"] == 0
    blue = next(r for r in doc["results"] if r["target"] == "credit-ep/blue")
    assert blue["changes"] == [{"field": "properties.appInsightsEnabled", "old": False, "new": True}]
    assert blue["operationId"]
    shown = status_of(cli, ws)
    assert all(shown[t]["diagnostics"] is True for t in targets), shown
    assert "churn-aci: changed" in enabled.stderr, "plain progress lines on stderr when not a TTY"

    seq = emulator.last_seq()
    again = cli("diagnostics", "enable", *targets, *ws["args"], "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert {r["status"] for r in again.json()["results"]} == {"unchanged"}
    assert writes(emulator, seq) == [], "an idempotent enable sends no write"

    disabled = cli("diagnostics", "disable", "--all", "--kind", "ACI,Kubernetes", *ws["args"], "-o", "json")
    assert disabled.exit_code == 0, disabled.stderr
    assert {r["target"] for r in disabled.json()["results"]} == {"churn-aci", "credit-ep/green"}
    shown = status_of(cli, ws)
    assert [t for t in targets if shown[t]["diagnostics"]] == ["fraud-aks", "credit-ep/blue"]


def test_model_data_collection_and_dry_run(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    seq = emulator.last_seq()
    dry = cli(
        "diagnostics",
        "enable",
        "churn-aci",
        "credit-ep",
        "--model-data",
        "--dry-run",
        *ws["args"],
        "-o",
        "json",
    )
    assert dry.exit_code == 0, dry.stderr
    by = {r["target"]: r for r in dry.json()["results"]}
    assert by["churn-aci"]["status"] == "would-change"
    assert by["churn-aci"]["changes"] == [
        {"field": "appInsightsEnabled", "old": False, "new": True},
        {"field": "dataCollection.storageEnabled", "old": False, "new": True},
    ]
    assert set(by) == {"churn-aci", "credit-ep/blue", "credit-ep/green"}
    # v2: --model-data means the model_inputs/model_outputs collections (no "v1 only" warning any more)
    assert "applies to v1" not in dry.stderr
    blue_fields = [c["field"] for c in by["credit-ep/blue"]["changes"]]
    assert "properties.dataCollector.collections.model_inputs.dataCollectionMode" in blue_fields
    assert writes(emulator, seq) == [], "--dry-run sends no write"
    table = cli("diagnostics", "enable", "churn-aci", "--model-data", "--dry-run", *ws["args"], "-o", "table")
    assert "appInsightsEnabled: off → on" in table.stdout and "dry run: 1 would-change" in table.stdout

    done = cli("diagnostics", "enable", "churn-aci", "--model-data", *ws["args"], "-o", "json")
    assert done.exit_code == 0, done.stderr
    row = status_of(cli, ws, "churn-aci")["churn-aci"]
    assert row["diagnostics"] is True and row["modelData"] is True
    off = cli("diagnostics", "disable", "churn-aci", "--model-data", *ws["args"], "-o", "json")
    assert off.exit_code == 0 and len(off.json()["results"][0]["changes"]) == 2
    row = status_of(cli, ws, "churn-aci")["churn-aci"]
    assert row["diagnostics"] is False and row["modelData"] is False


def test_no_switch_leaves_its_pipe_unchanged_and_contradictions_are_refused(cli: Any, emulator: Any) -> None:
    """--no-X leaves X as it is on enable and on disable (like --no-app-insights); --X --no-X is exit 2."""
    ws = mixed_workspace(emulator)
    on = cli(
        "diagnostics", "enable", "credit-ep/blue", "--model-data", "--payloads", *ws["args"], "-o", "json"
    )
    assert on.exit_code == 0, on.stderr
    seq = emulator.last_seq()

    def fields(*args: str) -> list[str]:
        run = cli("diagnostics", *args, "credit-ep/blue", "--dry-run", *ws["args"], "-o", "json")
        assert run.exit_code == 0, run.stderr
        names = [c["field"].removeprefix("properties.") for c in run.json()["results"][0]["changes"]]
        return [n.removeprefix("dataCollector.collections.").split(".")[0] for n in names]

    # positive control: --model-data on disable turns the model collections off
    assert fields("disable", "--model-data") == ["appInsightsEnabled", "model_inputs", "model_outputs"]
    assert fields("disable", "--no-model-data") == ["appInsightsEnabled"]
    assert fields("disable", "--payloads", "--no-model-data", "--no-app-insights") == ["request", "response"]
    assert fields("enable", "--no-payloads", "--no-model-data") == [], "already on: nothing else to change"
    assert fields("disable", "--no-payloads", "--no-app-insights", "--no-endpoint-logs") == []
    assert writes(emulator, seq) == []
    for command in ("enable", "disable"):
        for pipe in ("app-insights", "model-data", "payloads", "endpoint-logs"):
            both = cli("diagnostics", command, "credit-ep/blue", f"--{pipe}", f"--no-{pipe}", *ws["args"])
            assert both.exit_code == 2, both.stderr
            assert f"--{pipe} and --no-{pipe} contradict each other" in both.stderr
            assert "leaves it unchanged" in both.stderr and "Traceback" not in both.stderr
    help_text = cli("diagnostics", "disable", "--help").stdout
    assert "Leave model data unchanged" in help_text and "Model data off" in help_text


def test_unknown_targets_and_missing_app_insights(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    one = cli("diagnostics", "enable", "churn-ac", *ws["args"])
    assert one.exit_code == 3, one.stderr
    assert "'churn-ac'" in one.stderr and "did you mean churn-aci" in one.stderr
    dep = cli("diagnostics", "status", "credit-ep/blu", *ws["args"])
    assert dep.exit_code == 3 and "credit-ep/blue" in dep.stderr

    bulk = cli("diagnostics", "enable", "churn-aci", "nope-svc", "credit-ep/blue", *ws["args"], "-o", "json")
    assert bulk.exit_code == 1, bulk.stderr
    by = {r["target"]: r for r in bulk.json()["results"]}
    assert by["churn-aci"]["status"] == by["credit-ep/blue"]["status"] == "changed", "the others still change"
    assert by["nope-svc"]["status"] == "failed" and "not found" in by["nope-svc"]["reason"]
    assert bulk.json()["summary"] == {
        "changed": 2,
        "unchanged": 0,
        "would-change": 0,
        "submitted": 0,
        "failed": 1,
    }

    bare = make_workspace(emulator, services=[{"name": "lonely", "computeType": "ACI"}], app_insights=False)
    seq = emulator.last_seq()
    missing = cli("diagnostics", "enable", "lonely", *bare["args"])
    assert missing.exit_code == 2, missing.stderr
    assert "no linked Application Insights" in missing.stderr and "hint:" in missing.stderr
    assert writes(emulator, seq) == []


def test_v2_unknown_properties_survive_byte_for_byte(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    path = deployment_path(ws, "ep", "blue")
    status, body, _ = arm(emulator, "GET", path)
    assert status == 200, body
    body["properties"]["futureSetting"] = {"nested": [1, 2.5, "x", None, True], "ünïcode": "✓"}
    body["properties"]["requestSettings"] = {"maxConcurrentRequestsPerInstance": 7, "requestTimeout": "PT9S"}
    body["tags"] = {"owner": "team-a"}
    body["someTopLevelExtension"] = {"keep": "me"}
    status, put, _ = arm(emulator, "PUT", path, body)
    assert status in (200, 201), put
    wait_succeeded(emulator, path)
    _, before, _ = arm(emulator, "GET", path)

    result = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    _, after, _ = arm(emulator, "GET", path)
    assert after["properties"]["appInsightsEnabled"] is True
    assert _comparable(after) == _comparable(before)


def _comparable(body: dict[str, Any]) -> str:
    body = json.loads(json.dumps(body))
    for key in ("appInsightsEnabled", "provisioningState"):
        body["properties"].pop(key, None)
    system = body.get("systemData") or {}
    for key in ("lastModifiedAt", "lastModifiedBy", "lastModifiedByType"):
        system.pop(key, None)
    return json.dumps(body, sort_keys=True)


def _enable_while_someone_else_writes(
    cli: Any, emulator: Any, ws: dict[str, Any], change: Callable[[dict[str, Any]], None]
) -> Any:
    """`diagnostics enable ep/blue` with ETags on (an emulator setting: real ARM sends none for
    deployments, then amlmon sends If-Match), its PUT held on arrival while another writer applies
    `change` to the deployment (a new ETag): amlmon's PUT then meets a 412."""
    path = deployment_path(ws, "ep", "blue")
    assert emulator.admin("PUT", "/_emulator/settings", {"deploymentETags": True})[0] == 200
    hold = {"kind": "slow", "delay": 3.0, "method": "PUT", "path": "/deployments/blue$", "count": 1}
    assert emulator.admin("POST", "/_emulator/faults", hold)[0] in (200, 201)
    seq = emulator.last_seq()
    outcome: dict[str, Any] = {}

    def other_writer() -> None:
        deadline = time.time() + 20
        while time.time() < deadline and not any(
            r["method"] == "GET" and r["path"].lower().endswith("/deployments/blue")
            for r in emulator.requests_since(seq)
        ):
            time.sleep(0.02)
        time.sleep(1.0)  # amlmon's PUT is now held by the fault
        _, body, _ = arm(emulator, "GET", path)
        change(body)
        outcome["status"] = arm(emulator, "PUT", path, body)[0]

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        result = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    finally:
        thread.join()
        emulator.admin("PUT", "/_emulator/settings", {"deploymentETags": False})
    assert outcome.get("status") in (200, 201), "the other writer's PUT went through"
    return result


@pytest.mark.usefixtures("clear_faults")
def test_with_etags_a_change_between_read_and_write_is_reported_not_overwritten(
    cli: Any, emulator: Any
) -> None:
    ws = one_deployment_workspace(emulator)
    path = deployment_path(ws, "ep", "blue")
    seq = emulator.last_seq()

    def tag(body: dict[str, Any]) -> None:
        body["tags"] = {"changed-by": "someone-else"}

    result = _enable_while_someone_else_writes(cli, emulator, ws, tag)
    assert result.exit_code == 1, result.stderr
    reason = result.json()["results"][0]["reason"]
    assert 'tags.changed-by: read (absent), now "someone-else"' in reason, reason
    wait_succeeded(emulator, path)
    _, after, _ = arm(emulator, "GET", path)
    assert after["properties"]["appInsightsEnabled"] is False, "amlmon wrote nothing after the 412"
    assert after["tags"] == {"changed-by": "someone-else"}, "the concurrent change was kept"
    statuses = [r["status"] for r in writes(emulator, seq) if r["method"] == "PUT"]
    # the test's own PUT and amlmon's stale one refused (412); no second amlmon PUT
    assert statuses.count(412) == 1 and len(statuses) == 2, statuses


@contextlib.contextmanager
def _changed_behind_amlmon(
    emulator: Any, after: str, merge: dict[str, Any], count: int = 1
) -> Iterator[None]:
    """While inside: the emulator merges `merge` into ep/blue right after its `count`-th answered `after`
    request (someone else's change); the plan is dropped on the way out."""
    plan = {"ep/blue": {"after": after, "count": count, "merge": merge}}
    assert emulator.admin("PUT", "/_emulator/settings", {"changeDeployment": plan})[0] == 200
    try:
        yield
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"changeDeployment": {}})


def test_without_etag_a_change_between_plan_and_put_is_reported_not_overwritten(
    cli: Any, emulator: Any
) -> None:
    ws = one_deployment_workspace(emulator)
    path = deployment_path(ws, "ep", "blue")
    _, before, headers = arm(emulator, "GET", path)
    assert "etag" not in {k.lower() for k in headers} and "etag" not in before, "real ARM sends no ETag"
    # Positive control: the dry run reads the deployment once and plans a change.
    dry = cli("diagnostics", "enable", "ep/blue", "--dry-run", *ws["args"], "-o", "json")
    assert dry.json()["results"][0]["status"] == "would-change", dry.stdout
    seq = emulator.last_seq()
    # Right after amlmon's planning read, someone else changes the instance type and a tag.
    with _changed_behind_amlmon(
        emulator, "GET", {"tags": {"owner": "team-b"}, "properties": {"instanceType": "Standard_F4s_v2"}}
    ):
        result = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    assert result.exit_code == 1, result.stderr
    row = result.json()["results"][0]
    assert row["status"] == "failed" and "nothing was written" in row["reason"], row
    assert 'properties.instanceType: read "Standard_DS3_v2", now "Standard_F4s_v2"' in row["reason"]
    assert 'tags.owner: read (absent), now "team-b"' in row["reason"]
    assert writes(emulator, seq) == [], "no PUT after a concurrent change"
    _, after, _ = arm(emulator, "GET", path)
    assert after["tags"] == {"owner": "team-b"} and after["properties"]["appInsightsEnabled"] is False


def test_without_etag_the_same_change_made_by_someone_else_is_unchanged_with_no_write(
    cli: Any, emulator: Any
) -> None:
    ws = one_deployment_workspace(emulator)
    path = deployment_path(ws, "ep", "blue")
    seq = emulator.last_seq()
    # Right after amlmon's planning read, someone else switches App Insights on: what amlmon wanted.
    with _changed_behind_amlmon(emulator, "GET", {"properties": {"appInsightsEnabled": True}}):
        result = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    [row] = result.json()["results"]
    assert row["status"] == "unchanged" and row["changes"] == [], row
    assert writes(emulator, seq) == [], "amlmon wrote nothing"
    _, after, _ = arm(emulator, "GET", path)
    assert after["properties"]["appInsightsEnabled"] is True


def test_without_etag_a_change_during_the_operation_is_found_by_the_verifying_read(
    cli: Any, emulator: Any
) -> None:
    ws = one_deployment_workspace(emulator)
    path = deployment_path(ws, "ep", "blue")
    with _changed_behind_amlmon(
        emulator, "PUT", {"properties": {"requestSettings": {"requestTimeout": "PT60S"}}}
    ):
        result = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    assert result.exit_code == 1, result.stderr
    reason = result.json()["results"][0]["reason"]
    assert 'properties.requestSettings.requestTimeout: wrote "PT5S", now "PT60S"' in reason, reason
    wait_succeeded(emulator, path)
    again = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    assert again.exit_code == 0 and again.json()["results"][0]["status"] == "unchanged", again.stdout


@pytest.mark.usefixtures("clear_faults")
def test_unchanged_after_someone_else_made_the_same_change_lists_no_change(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    seq = emulator.last_seq()

    def enable_it(body: dict[str, Any]) -> None:  # what amlmon is about to write
        body["properties"]["appInsightsEnabled"] = True

    result = _enable_while_someone_else_writes(cli, emulator, ws, enable_it)
    assert result.exit_code == 0, result.stderr
    [row] = result.json()["results"]
    amlmon_writes = [
        r for r in writes(emulator, seq) if r["method"] == "PUT" and r["status"] in (200, 201, 202)
    ]
    assert len(amlmon_writes) == 1, "only the other writer's PUT went through"
    assert row["status"] == "unchanged" and row["changes"] == [], row


@pytest.mark.usefixtures("clear_faults")
def test_an_injected_precondition_failure_makes_amlmon_reread(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    rule = {"kind": "status", "status": 412, "method": "PUT", "path": "/deployments/blue$", "count": 1}
    assert emulator.admin("POST", "/_emulator/faults", rule)[0] in (200, 201)
    seq = emulator.last_seq()
    result = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    log = [r for r in emulator.requests_since(seq) if r["path"].lower().endswith("/deployments/blue")]
    methods = [(r["method"], r["status"]) for r in log]
    first_put = methods.index(("PUT", 412))
    assert ("GET", 200) in methods[first_put:], "re-read after the 412"
    assert any(m == "PUT" and s in (200, 201, 202) for m, s in methods[first_put + 1 :])


def test_a_service_mid_update_is_waited_for_or_reported(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    force_service(emulator, ws, "churn-aci", state="Transitioning")
    busy = cli("diagnostics", "enable", "churn-aci", "--no-wait", *ws["args"], "-o", "json")
    assert busy.exit_code == 1, busy.stderr
    assert "Transitioning" in busy.json()["results"][0]["reason"]

    timer = threading.Timer(1.5, lambda: force_service(emulator, ws, "churn-aci", state="Healthy"))
    timer.start()
    started = time.monotonic()
    try:
        waited = cli("diagnostics", "enable", "churn-aci", *ws["args"], "-o", "json")
    finally:
        timer.join()
    assert waited.exit_code == 0, waited.stderr
    assert waited.json()["results"][0]["status"] == "changed"
    assert time.monotonic() - started >= 1.5
    assert "mid-update" in waited.stderr

    force_service(emulator, ws, "fraud-aks", state="Transitioning")
    late = cli("diagnostics", "disable", "fraud-aks", "--timeout", "1s", *ws["args"], "-o", "json")
    assert late.exit_code == 5, late.stderr
    assert "still Transitioning" in late.json()["results"][0]["reason"]
    force_service(emulator, ws, "fraud-aks", state="Healthy")


def test_no_wait_returns_operation_ids(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    result = cli(
        "diagnostics", "enable", "churn-aci", "credit-ep/blue", "--no-wait", *ws["args"], "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    for row in result.json()["results"]:
        assert row["status"] == "submitted" and row["operationId"], row
    deadline = time.time() + 15
    while time.time() < deadline:
        shown = status_of(cli, ws, "churn-aci", "credit-ep/blue")
        if all(row["diagnostics"] for row in shown.values()):
            break
        time.sleep(0.3)
    assert all(row["diagnostics"] for row in shown.values()), shown


def test_a_failed_operation_is_reported_and_the_bulk_run_goes_on(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    force_service(emulator, ws, "churn-aci", failNextUpdate="Container crashed: out of memory")
    result = cli("diagnostics", "enable", "--all", *ws["args"], "-o", "json")
    assert result.exit_code == 1, result.stderr
    by = {r["target"]: r for r in result.json()["results"]}
    assert by["churn-aci"]["status"] == "failed"
    assert "out of memory" in by["churn-aci"]["reason"]
    assert by["credit-ep/blue"]["status"] == "changed" and by["fraud-aks"]["status"] == "unchanged"
    assert result.json()["summary"]["failed"] == 1
    assert status_of(cli, ws, "churn-aci")["churn-aci"]["diagnostics"] is False, "not left half-changed"
    table = cli("diagnostics", "disable", "--all", *ws["args"], "-o", "table")
    assert table.exit_code == 0 and "changed" in table.stdout


@pytest.mark.usefixtures("clear_faults")
def test_faults_on_every_call_are_survived(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    rules: list[dict[str, Any]] = [
        {"kind": "status", "status": 429, "retryAfter": 1, "method": "PATCH", "path": "/services/churn-aci$"},
        {"kind": "status", "status": 503, "path": "/operations/"},
        {"kind": "reset", "method": "GET", "path": "/services/churn-aci$"},
        {"kind": "reset", "method": "GET", "path": "/deployments/blue$"},
        {"kind": "status", "status": 503, "method": "PUT", "path": "/deployments/blue$"},
        {"kind": "status", "status": 500, "path": "mfeOperationsStatus|/operationsStatus/|operationResults"},
    ]
    for rule in rules:
        assert emulator.admin("POST", "/_emulator/faults", {"count": 1, **rule})[0] in (200, 201)
    seq = emulator.last_seq()
    result = cli("diagnostics", "enable", "churn-aci", "credit-ep/blue", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert {r["status"] for r in result.json()["results"]} == {"changed"}
    seen = [r["status"] for r in emulator.requests_since(seq)]
    assert 429 in seen and 503 in seen and 0 in seen


@pytest.mark.usefixtures("clear_faults")
def test_a_persistent_outage_of_model_management_fails_cleanly(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    rule = {"kind": "status", "status": 503, "method": "PATCH", "path": "/services/churn-aci$", "count": None}
    assert emulator.admin("POST", "/_emulator/faults", rule)[0] in (200, 201)
    result = cli("diagnostics", "enable", "churn-aci", *ws["args"], "-o", "json")
    assert result.exit_code == 1, result.stderr
    reason = result.json()["results"][0]["reason"]
    assert "ServiceUnavailable" in reason and "HTTP 503" in reason and "retry later" in reason
    assert status_of(cli, ws, "churn-aci")["churn-aci"]["diagnostics"] is False


def _stderr_until(process: Any, wanted: list[str]) -> list[str]:
    """The child's stderr lines, read until each of `wanted` has appeared in one (or the child ended)."""
    assert process.stderr is not None
    lines: list[str] = []
    while not all(any(text in line for line in lines) for text in wanted):
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
    return lines


def test_ctrl_c_while_waiting_says_the_operation_continues(emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    force_service(emulator, ws, "churn-aci", state="Transitioning")
    process = spawn_amlmon(["diagnostics", "enable", "churn-aci", *ws["args"], "-o", "json"], emulator.env())
    try:
        _stderr_until(process, ["mid-update"])
    finally:
        _, rest = interrupt(process)
        force_service(emulator, ws, "churn-aci", state="Healthy")
    assert process.returncode == 130, rest
    assert "interrupted" in rest and "Traceback" not in rest


def test_ctrl_c_mid_run_says_per_target_what_was_submitted(cli: Any, emulator: Any) -> None:
    """Interrupted with one target's update running server-side, one not yet written (waiting for the
    service to settle) and one already off: a line per target says which change reached Azure."""
    ws = mixed_workspace(emulator)
    on = cli("diagnostics", "enable", "churn-aci", "credit-ep/blue", *ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    force_service(emulator, ws, "churn-aci", state="Transitioning")
    _, settings = emulator.admin("GET", "/_emulator/settings")
    emulator.admin("PUT", "/_emulator/settings", {"operationSeconds": 60})  # blue's update keeps running
    seq = emulator.last_seq()
    targets = ["churn-aci", "credit-ep/blue", "credit-ep/green"]
    process = spawn_amlmon(["diagnostics", "disable", *targets, *ws["args"], "-o", "json"], emulator.env())
    seen: list[str] = []
    try:
        seen = _stderr_until(
            process,
            ["churn-aci: waiting", "credit-ep/blue: waiting for operation", "credit-ep/green: unchanged"],
        )
    finally:
        _, rest = interrupt(process)
        emulator.admin(
            "PUT", "/_emulator/settings", {"operationSeconds": settings.get("operationSeconds", 0.5)}
        )
        force_service(emulator, ws, "churn-aci", state="Healthy")
    assert process.returncode == 130, "".join(seen) + rest
    lines = rest.splitlines()
    notes = [line for line in lines if line.startswith("note: ")]
    assert notes[0] == "note: churn-aci: not submitted (interrupted before its write)", rest
    assert notes[1].startswith("note: credit-ep/blue: submitted (operation "), rest
    assert notes[1].endswith("); it continues server-side"), rest
    assert notes[2] == "note: credit-ep/green: nothing submitted (already as asked)", rest
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [
        "error: interrupted; 1 of 3 targets had a change submitted to Azure, 1 of them still running "
        "server-side; amlmon submits nothing more"
    ], rest
    assert f"hint: see where each target stands: `amlmon diagnostics status {' '.join(targets)}`" in lines
    assert "Traceback" not in rest
    sent = [(r["method"], r["path"]) for r in writes(emulator, seq)]
    assert sent == [("PUT", deployment_path(ws, "credit-ep", "blue"))], "blue's PUT only: churn-aci never"


@pytest.mark.usefixtures("clear_faults")
def test_ctrl_c_while_reading_says_nothing_was_submitted(cli: Any, emulator: Any) -> None:
    """Interrupted while the targets are still being read: nothing was written, and the error says so."""
    ws = mixed_workspace(emulator)
    on = cli("diagnostics", "enable", "churn-aci", "credit-ep/blue", *ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    rule = {"kind": "slow", "delay": 10, "method": "GET", "path": f"/workspaces/{ws['ws']}/onlineEndpoints$"}
    status, fault = emulator.admin("POST", "/_emulator/faults", rule)
    assert status == 201, fault
    seq = emulator.last_seq()
    process = spawn_amlmon(
        ["diagnostics", "disable", "churn-aci", "credit-ep/blue", *ws["args"]], emulator.env()
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _fault_hits(emulator, fault["id"]):
            time.sleep(0.05)  # until the endpoint listing is held by the slow fault
    finally:
        _, rest = interrupt(process)
    assert process.returncode == 130, rest
    assert rest.splitlines() == [
        "error: interrupted while reading the targets; nothing was submitted to Azure",
        "hint: run the command again; `amlmon diagnostics status TARGET…` shows where each target stands",
    ]
    assert writes(emulator, seq) == []
    shown = status_of(cli, ws, "churn-aci", "credit-ep/blue")
    assert shown["churn-aci"]["diagnostics"] is True and shown["credit-ep/blue"]["diagnostics"] is True


def _fault_hits(emulator: Any, rule_id: int) -> int:
    _, rules = emulator.admin("GET", "/_emulator/faults")
    return sum(rule["hits"] for rule in rules["value"] if rule["id"] == rule_id)


@pytest.mark.inference
def test_model_data_reaches_the_logs_after_enable_and_stops_after_disable(cli: Any, emulator: Any) -> None:
    """A real inference server behind the service sends model_data_collection traces only while enabled.
    A second one that stays on is the positive control: its later records arriving proves the pipeline
    delivered while the first one's records did not come."""
    emulator.admin("PUT", "/_emulator/settings", {"inferenceExportSeconds": 0.5})
    services = [
        {"name": name, "computeType": "ACI", "backend": "inference"} for name in ("live-svc", "witness-svc")
    ]
    ws = make_workspace(emulator, services=services)
    result = cli("diagnostics", "enable", "--all", "--model-data", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    _score(emulator, "live-svc")
    assert _model_data_after(cli, ws, "live-svc", 0) >= 1, "records arrive after enable --model-data"

    off = cli("diagnostics", "disable", "live-svc", *ws["args"], "-o", "json")
    assert off.exit_code == 0, off.stderr
    _score(emulator, "live-svc")  # meets the new server: the old one has flushed and exited
    settled = _model_data_traces(cli, ws, "live-svc")
    witnessed = _model_data_traces(cli, ws, "witness-svc")
    _score(emulator, "live-svc")
    _score(emulator, "witness-svc")
    _model_data_after(cli, ws, "witness-svc", witnessed)  # positive control: a later record arrived
    assert _model_data_traces(cli, ws, "live-svc") == settled, "no telemetry once diagnostics are off"


def _model_data_after(cli: Any, ws: dict[str, Any], service: str, count: int, timeout: float = 40) -> int:
    """The service's model-data record count once it exceeds `count` (bounded wait)."""
    deadline = time.time() + timeout
    current = _model_data_traces(cli, ws, service)
    while current <= count and time.time() < deadline:
        time.sleep(0.5)
        current = _model_data_traces(cli, ws, service)
    assert current > count, f"no new model_data_collection record of {service} within {timeout:.0f}s"
    return current


def _score(emulator: Any, name: str) -> None:
    context = ssl.create_default_context(cafile=emulator.ca_path)
    request = urllib.request.Request(
        f"{emulator.endpoint}/api/v1/service/{name}/score",
        data=json.dumps({"data": [[12, 70, 1, 1]]}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=120) as response:
        assert response.status == 200


def _model_data_traces(cli: Any, ws: dict[str, Any], service: str) -> int:
    kql = f'traces | where message == "model_data_collection" and cloud_RoleName == "{service}" | count'
    answer = cli("query", kql, "--since", "15m", *ws["args"], "-o", "json")
    assert answer.exit_code == 0, answer.stderr
    rows = answer.json()
    return int(rows[0].get("Count", 0)) if rows else 0


def test_a_deployment_mid_update_is_waited_for(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    path = deployment_path(ws, "ep", "blue")
    assert emulator.admin("PUT", "/_emulator/settings", {"operationSeconds": 2.5})[0] == 200
    try:
        _, body, _ = arm(emulator, "GET", path)
        body["tags"] = {"rollout": "2"}
        assert arm(emulator, "PUT", path, body)[0] in (200, 201)  # now Updating for 2.5 s
        busy = cli("diagnostics", "enable", "ep/blue", "--no-wait", *ws["args"], "-o", "json")
        waited = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"operationSeconds": 0.5})
    assert busy.exit_code == 1 and "being updated" in busy.json()["results"][0]["reason"], busy.stdout
    assert waited.exit_code == 0, waited.stderr
    assert waited.json()["results"][0]["status"] == "changed" and "mid-update" in waited.stderr
    wait_succeeded(emulator, path)
    _, after, _ = arm(emulator, "GET", path)
    assert after["properties"]["appInsightsEnabled"] is True and after["tags"] == {"rollout": "2"}
