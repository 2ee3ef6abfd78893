"""`amlmon export enable|show|disable` against the emulator's ARM (diagnostic settings, storage accounts),
and the whole path: diagnostic setting → delivery into Azurite → `data extract` == `data pull`."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amlmon import datasets
from tests.azurite import Azurite, start_azurite, stop_azurite
from tests.helpers import arm, deliver_export, exporting_since, logs_client, now, post, trace

LOCATION = "eastus"


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def storage_workspace(
    emulator: Any, *, blob_endpoint: str | None = None, services: list[str] | None = None
) -> dict[str, Any]:
    """Emulator.create_workspace with a storage account in its region (`near`) and one elsewhere (`far`)."""
    near, far = _unique("amlmonnear"), _unique("amlmonfar")
    near_account: dict[str, Any] = {"name": near, "location": LOCATION}
    if blob_endpoint:
        near_account["blobEndpoint"] = blob_endpoint
    ws = emulator.create_workspace(
        "export",
        location=LOCATION,
        services=[{"name": s, "computeType": "ACI"} for s in services or []],
        storageAccounts=[near_account, {"name": far, "location": "westeurope"}],
    )
    return {**ws, "args": ws["scope"], "near": near, "far": far}


@pytest.fixture
def workspace(emulator: Any) -> dict[str, Any]:
    return storage_workspace(emulator)


def _show(cli: Any, ws: dict[str, Any]) -> dict[str, Any]:
    result = cli("export", "show", *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    return dict(result.json())


def _puts(emulator: Any, since: int) -> list[dict[str, Any]]:
    return [
        r
        for r in emulator.requests_since(since)
        if r["method"] == "PUT" and "/diagnosticsettings/" in r["path"].lower()
    ]


def test_enable_creates_the_setting_once_and_is_idempotent(
    cli: Any, emulator: Any, workspace: dict[str, Any]
) -> None:
    ws = workspace
    dry = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    assert (
        dry.json()["action"] == "create"
        and dry.json()["body"]["properties"]["logs"][0]["category"] == "AppTraces"
    )
    assert _show(cli, ws)["settings"] == [], "--dry-run changes nothing"

    seq = emulator.last_seq()
    created = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "-o", "json")
    assert created.exit_code == 0, created.stderr
    assert created.json()["action"] == "created"
    assert created.json()["storageAccountId"].lower().endswith(f"/storageaccounts/{ws['near']}")
    again = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "-o", "json")
    assert again.exit_code == 0 and again.json()["action"] == "unchanged"
    assert len(_puts(emulator, seq)) == 1, "an identical setting is not written again"

    shown = _show(cli, ws)
    [setting] = shown["settings"]
    assert setting["name"] == "amlmon-export" and setting["createdByAmlmon"] is True
    assert setting["categories"] == ["AppDependencies", "AppExceptions", "AppRequests", "AppTraces"]
    assert shown["continuousExport"] == []

    updated = cli(
        "export",
        "enable",
        *ws["args"],
        "--storage-account",
        ws["near"],
        "--tables",
        "apptraces",
        "-o",
        "json",
    )
    assert updated.exit_code == 0 and updated.json()["action"] == "updated"
    assert _show(cli, ws)["settings"][0]["categories"] == ["AppTraces"]

    gone = cli("export", "disable", *ws["args"], "-o", "json")
    assert gone.exit_code == 0 and gone.json()["action"] == "deleted"
    assert cli("export", "disable", *ws["args"], "-o", "json").json()["action"] == "absent"
    assert _show(cli, ws)["settings"] == []


def test_a_setting_amlmon_did_not_create_is_left_alone_without_force(
    cli: Any, emulator: Any, workspace: dict[str, Any]
) -> None:
    ws = workspace
    first = cli(
        "export", "enable", *ws["args"], "--storage-account", ws["near"], "--name", "ops-audit", "-o", "json"
    )
    assert first.exit_code == 0, first.stderr
    seq = emulator.last_seq()
    refused = cli(
        "export",
        "enable",
        *ws["args"],
        "--storage-account",
        ws["near"],
        "--name",
        "ops-audit",
        "--tables",
        "all",
    )
    assert refused.exit_code == 1
    assert "was not created by amlmon" in refused.stderr and "--force" in refused.stderr
    assert _puts(emulator, seq) == []
    forced = cli(
        "export", "enable", *ws["args"], "--storage-account", ws["near"], "--name", "ops-audit", "--tables", "all",
        "--force", "-o", "json",
    )  # fmt: skip
    assert forced.exit_code == 0 and forced.json()["action"] == "updated"
    # Deleting is not replacing: naming the setting is the consent (tested below), so disable goes ahead.


def test_a_setting_named_with_name_is_disabled_without_force(cli: Any, workspace: dict[str, Any]) -> None:
    ws = workspace
    made = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--name", "ops-audit")
    assert made.exit_code == 0, made.stderr
    unnamed = cli("export", "disable", *ws["args"], "-o", "json")
    assert unnamed.exit_code == 0 and unnamed.json() == {"name": "amlmon-export", "action": "absent"}
    assert [s["name"] for s in _show(cli, ws)["settings"]] == ["ops-audit"], "without --name it stays"
    gone = cli("export", "disable", *ws["args"], "--name", "ops-audit", "-o", "json")
    assert gone.exit_code == 0, gone.stderr
    assert gone.json() == {"name": "ops-audit", "action": "deleted"}
    assert _show(cli, ws)["settings"] == []


def test_disabling_a_named_setting_that_is_not_there_is_not_found(
    cli: Any, workspace: dict[str, Any]
) -> None:
    ws = workspace
    made = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--name", "ops-audit")
    assert made.exit_code == 0, made.stderr
    missing = cli("export", "disable", *ws["args"], "--name", "ops-audi", "-o", "json")
    assert missing.exit_code == 3, missing.stdout + missing.stderr
    lines = missing.stderr.strip().splitlines()
    assert lines[0] == "error: no diagnostic setting named 'ops-audi' on the App Insights component"
    assert lines[1].startswith("hint: did you mean ops-audit?") and "--if-exists" in lines[1]
    assert missing.stdout == ""
    # A script that removes an already-removed setting says so: absent, exit 0.
    fine = cli("export", "disable", *ws["args"], "--name", "ops-audi", "--if-exists", "-o", "json")
    assert fine.exit_code == 0 and fine.json() == {"name": "ops-audi", "action": "absent"}
    assert [s["name"] for s in _show(cli, ws)["settings"]] == ["ops-audit"]
    gone = cli("export", "disable", *ws["args"], "--name", "ops-audit", "-o", "json")
    assert gone.exit_code == 0 and gone.json()["action"] == "deleted"


def _diagnostic_setting_path(ws: dict[str, Any], name: str) -> str:
    return f"{ws['appInsightsId']}/providers/Microsoft.Insights/diagnosticSettings/{name}"


@pytest.mark.parametrize(
    "hostile",
    [
        "amlmon-export/../foreign-setting",
        "amlmon-export%2F..%2Fforeign-setting",
        "amlmon-x?name=foreign-setting",
        "amlmon-x#frag",
        "amlmon-export/..",
        "amlmon-a\\b",
        "amlmon-x.",
    ],
)
def test_a_name_that_leaves_its_url_segment_cannot_touch_another_setting(
    cli: Any, emulator: Any, workspace: dict[str, Any], hostile: str
) -> None:
    from tests.helpers import arm

    ws = workspace
    account = (
        f"/subscriptions/{ws['subscription']}/resourceGroups/{ws['resourceGroup']}"
        f"/providers/Microsoft.Storage/storageAccounts/{ws['near']}"
    )
    foreign = {
        "properties": {"storageAccountId": account, "logs": [{"category": "AppTraces", "enabled": True}]}
    }
    status, _, _ = arm(emulator, "PUT", _diagnostic_setting_path(ws, "foreign-setting"), foreign)
    assert status in (200, 201)
    mine = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppRequests")
    assert mine.exit_code == 0, mine.stderr

    seq = emulator.last_seq()
    for command in ("disable", "enable"):
        extra = ["--storage-account", ws["near"]] if command == "enable" else []
        refused = cli("export", command, *ws["args"], *extra, "--name", hostile)
        assert refused.exit_code == 2, (command, refused.stdout, refused.stderr)
        assert "is not a valid diagnostic setting name" in refused.stderr and "hint:" in refused.stderr
    sent = [r for r in emulator.requests_since(seq) if "/diagnosticsettings" in r["path"].lower()]
    assert sent == [], "the name was refused before any request about settings"
    assert sorted(s["name"] for s in _show(cli, ws)["settings"]) == ["amlmon-export", "foreign-setting"]

    # Positive control: the same commands with a proper name do delete, and only what they name.
    gone = cli("export", "disable", *ws["args"], "-o", "json")
    assert gone.exit_code == 0 and gone.json()["action"] == "deleted", gone.stderr
    assert [s["name"] for s in _show(cli, ws)["settings"]] == ["foreign-setting"]


def test_azure_limits_are_explained_in_one_line(cli: Any, emulator: Any, workspace: dict[str, Any]) -> None:
    ws = workspace
    for index in range(5):
        made = cli(
            "export", "enable", *ws["args"], "--storage-account", ws["near"], "--name", f"amlmon-{index}",
            "--tables", ["AppTraces", "AppRequests", "AppEvents", "AppMetrics", "AppExceptions"][index],
        )  # fmt: skip
        assert made.exit_code == 0, made.stderr
    sixth = cli(
        "export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppDependencies"
    )
    assert sixth.exit_code == 1, sixth.stderr
    assert "5 diagnostic settings" in sixth.stderr and "export disable" in sixth.stderr
    assert "Traceback" not in sixth.stderr and len(sixth.stderr.strip().splitlines()) == 2
    seq = emulator.last_seq()
    predicted = cli(
        "export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppDependencies",
        "--dry-run",
    )  # fmt: skip
    assert predicted.exit_code == 1, predicted.stdout
    assert "would refuse" in predicted.stderr and "5 diagnostic settings" in predicted.stderr
    assert _puts(emulator, seq) == [] and predicted.stdout == ""
    reuse = cli(
        "export", "enable", *ws["args"], "--storage-account", ws["near"], "--name", "amlmon-0", "--dry-run",
        "-o", "json",
    )  # fmt: skip
    assert reuse.exit_code == 0 and reuse.json()["action"] == "update", "updating one is still possible"
    slash = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--name", "amlmon/x")
    assert slash.exit_code == 2 and "not a valid diagnostic setting name" in slash.stderr, slash.stderr
    assert "405" not in slash.stderr

    far = cli("export", "enable", *ws["args"], "--storage-account", ws["far"], "--name", "amlmon-0")
    assert far.exit_code == 2 and "westeurope" in far.stderr and LOCATION in far.stderr
    missing = cli("export", "enable", *ws["args"], "--storage-account", "nosuchaccount1")
    assert missing.exit_code == 3 and "not found" in missing.stderr
    bad_table = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppTrace")
    assert bad_table.exit_code == 2 and "AppTraces" in bad_table.stderr
    classic = cli("export", "enable", *ws["args"], "--continuous-export")
    assert classic.exit_code == 2 and "retired" in classic.stderr and "--storage-account" in classic.stderr


def test_transient_arm_faults_are_retried(cli: Any, emulator: Any, workspace: dict[str, Any]) -> None:
    ws = workspace
    status, _ = emulator.admin(
        "POST",
        "/_emulator/faults",
        {
            "kind": "status",
            "status": 503,
            "path": "diagnosticSettings/amlmon-export",
            "method": "PUT",
            "count": 1,
        },
    )
    assert status in (200, 201)
    status, _ = emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 429, "retryAfter": 1, "path": "diagnosticSettings$", "count": 1},
    )
    assert status in (200, 201)
    result = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert _show(cli, ws)["settings"][0]["name"] == "amlmon-export"


# ------------------------------------------------------------------------------------------------
# A diagnostic setting exports only what is ingested after it began (Azure never back-fills)
# ------------------------------------------------------------------------------------------------
def _track(emulator: Any, envelopes: list[dict[str, Any]]) -> None:
    """Envelopes as the Azure Monitor exporter posts them: ingested now."""
    status, answer = post(emulator, "/v2.1/track", json.dumps(envelopes).encode())
    assert status == 200 and answer["itemsAccepted"] == len(envelopes), answer


def _event(ikey: str, name: str) -> dict[str, Any]:
    """An EventData envelope (a custom event: table AppEvents)."""
    return {
        "name": "Microsoft.ApplicationInsights.Event",
        "time": now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "iKey": ikey,
        "tags": {"ai.cloud.role": "churn", "ai.operation.id": "0" * 32},
        "data": {"baseType": "EventData", "baseData": {"ver": 2, "name": name}},
    }


def _deliver_to_folder(emulator: Any, ws: dict[str, Any], folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Deliver the workspace's export into `folder`; every exported record by container."""
    deliver_export(emulator, ws, directory=str(folder))
    found: dict[str, list[dict[str, Any]]] = {}
    for blob in sorted(folder.rglob("PT1H.json")):
        container = blob.relative_to(folder).parts[0]
        lines = blob.read_text(encoding="utf-8").splitlines()
        found.setdefault(container, []).extend(json.loads(line) for line in lines if line.strip())
    return found


def _in_log_analytics(emulator: Any, ws: dict[str, Any], kql: str) -> list[str]:
    """The first column of a query through the real LogsQueryClient (the rows are there to export)."""
    answer = logs_client(emulator).query_workspace(ws["customerId"], kql, timespan=dt.timedelta(hours=1))
    return [str(row[0]) for row in answer.tables[0].rows]


def test_a_new_setting_exports_only_rows_ingested_after_it_no_back_fill(
    cli: Any, emulator: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    ws, mark = workspace, uuid.uuid4().hex[:8]
    _track(emulator, [trace(ws["instrumentationKey"], f"before-{mark}", at=now())])
    enabled = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppTraces")
    assert enabled.exit_code == 0, enabled.stderr
    _track(emulator, [trace(ws["instrumentationKey"], f"after-{mark}", at=now())])
    assert sorted(_in_log_analytics(emulator, ws, "AppTraces | project Message")) == [
        f"after-{mark}",
        f"before-{mark}",
    ], "both rows are in the workspace: only the export tells them apart"

    exported = _deliver_to_folder(emulator, ws, tmp_path / "exported")
    messages = [record["Message"] for record in exported["insights-logs-apptraces"]]
    assert messages == [f"after-{mark}"], "the row ingested before the setting existed is not exported"

    # Only a world-building route moves that moment (seeded history); it names what it cannot do.
    bad = {"resourceId": ws["appInsightsId"], "name": "amlmon-export", "since": "yesterday"}
    assert emulator.admin("POST", "/_emulator/export/started", bad)[0] == 400
    assert (
        emulator.admin("POST", "/_emulator/export/started", {**bad, "name": "nope", "since": "2026-01-01"})[0]
        == 404
    )

    # The emulator keeps that moment to itself: ARM's answer has the recorded fields only (no time).
    setting = f"{ws['appInsightsId']}/providers/Microsoft.Insights/diagnosticSettings/amlmon-export"
    status, body, _ = arm(emulator, "GET", setting, version="2021-05-01-preview")
    assert status == 200 and set(body) == {"id", "type", "name", "location", "kind", "tags", "properties",
                                           "systemData", "identity"}, body  # fmt: skip
    assert body["systemData"] is None and "time" not in json.dumps(body["properties"]).lower()


def test_a_delivery_to_a_destination_that_cannot_take_it_is_a_400_naming_it(
    cli: Any, emulator: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    """A `directory` that is not a path (it was a folder named 5 in the emulator's cwd), one that cannot be
    written, a connection string that does not parse (the SDK's reason quoted the key), a since/until that is
    not a time (it goes into KQL): 400, not 500 or a query of the caller's making."""
    ws = workspace
    enabled = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppTraces")
    assert enabled.exit_code == 0, enabled.stderr
    _track(emulator, [trace(ws["instrumentationKey"], "to-deliver", at=now())])
    scope = {
        "subscription": ws["subscription"],
        "resourceGroup": ws["resourceGroup"],
        "workspace": ws["name"],
    }
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for destination, code in (
        ({"directory": 5}, "BadRequest"),
        ({"directory": str(blocker / "under")}, "DirectoryNotWritable"),
        ({"connectionString": "AccountName=a;AccountKey=c2VjcmV0K;BlobEndpoint=http://127.0.0.1:9/a"},
         "InvalidConnectionString"),
        ({"directory": str(tmp_path / "x"), "since": "2026-11-30') | take 0 //"}, "BadRequest"),  # into KQL
        ({"directory": str(tmp_path / "x"), "until": "tomorrow"}, "BadRequest"),
        ({"directory": str(tmp_path / "x"), "since": "2026-11-30T09:00:00Z", "until": "2026-11-30T08:00:00Z"},
         "BadRequest"),
    ):  # fmt: skip
        status, body = emulator.admin("POST", "/_emulator/export/deliver", {**scope, **destination})
        assert (status, body["error"]["code"]) == (400, code), body
        assert "c2VjcmV0K" not in json.dumps(body)
    # the control: a folder that can be written takes the row
    assert deliver_export(emulator, ws, directory=str(tmp_path / "ok"))["records"] >= 1


def test_a_category_added_by_an_update_exports_from_then_and_a_deleted_setting_stops(
    cli: Any, emulator: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    ws, mark, ikey = workspace, uuid.uuid4().hex[:8], workspace["instrumentationKey"]
    first = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppTraces")
    assert first.exit_code == 0, first.stderr
    _track(emulator, [trace(ikey, f"trace1-{mark}", at=now()), _event(ikey, f"event1-{mark}")])
    tables = "AppTraces,AppEvents"
    updated = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", tables)
    assert updated.exit_code == 0, updated.stderr
    _track(emulator, [trace(ikey, f"trace2-{mark}", at=now()), _event(ikey, f"event2-{mark}")])

    exported = _deliver_to_folder(emulator, ws, tmp_path / "updated")
    traces = sorted(record["Message"] for record in exported["insights-logs-apptraces"])
    assert traces == [f"trace1-{mark}", f"trace2-{mark}"], "AppTraces kept exporting through the update"
    events = [record["Name"] for record in exported["insights-logs-appevents"]]
    assert events == [f"event2-{mark}"], "AppEvents exports from the update on"

    disabled = cli("export", "disable", *ws["args"])
    assert disabled.exit_code == 0, disabled.stderr
    _track(emulator, [trace(ikey, f"trace3-{mark}", at=now())])
    again = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppTraces")
    assert again.exit_code == 0, again.stderr
    _track(emulator, [trace(ikey, f"trace4-{mark}", at=now())])
    exported = _deliver_to_folder(emulator, ws, tmp_path / "remade")
    traces = sorted(record["Message"] for record in exported["insights-logs-apptraces"])
    assert traces == [f"trace4-{mark}"], "a setting made again starts afresh; nothing sent while none existed"


def test_a_setting_moved_to_another_storage_account_sends_it_only_what_arrives_after(
    cli: Any, emulator: Any, tmp_path: Path
) -> None:
    first, second = _unique("amlmonone"), _unique("amlmontwo")
    accounts = [{"name": name, "location": LOCATION} for name in (first, second)]
    ws = emulator.create_workspace("export", location=LOCATION, storageAccounts=accounts)
    mark, ikey = uuid.uuid4().hex[:8], ws["instrumentationKey"]
    enabled = cli("export", "enable", *ws["scope"], "--storage-account", first, "--tables", "AppTraces")
    assert enabled.exit_code == 0, enabled.stderr
    _track(emulator, [trace(ikey, f"to-first-{mark}", at=now())])
    moved = cli("export", "enable", *ws["scope"], "--storage-account", second, "--tables", "AppTraces")
    assert moved.exit_code == 0, moved.stderr
    assert moved.json()["storageAccountId"].lower().endswith(f"/storageaccounts/{second}")
    _track(emulator, [trace(ikey, f"to-second-{mark}", at=now())])

    exported = _deliver_to_folder(emulator, ws, tmp_path / "second")
    traces = [record["Message"] for record in exported["insights-logs-apptraces"]]
    assert traces == [f"to-second-{mark}"], "the new account gets no history from before the change"


# ------------------------------------------------------------------------------------------------
# The whole path: export → delivered blobs in Azurite → extract gives the pull dataset
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    handle = start_azurite(tmp_path_factory.mktemp("azurite-export"))
    try:
        yield handle
    finally:
        stop_azurite(handle)


@pytest.mark.azurite
def test_delivered_export_extracts_to_the_same_dataset_as_pull(
    cli: Any, emulator: Any, azurite: Azurite, tmp_path: Path
) -> None:
    ws = storage_workspace(emulator, blob_endpoint=azurite.blob_endpoint, services=["churn", "fraud"])
    enabled = cli(
        "export", "enable", *ws["args"], "--storage-account", ws["near"], "--tables", "AppTraces,AppRequests"
    )
    assert enabled.exit_code == 0, enabled.stderr
    # A setting exports only what arrives after it; the seeded hours are history, so the setting existed first.
    exporting_since(emulator, ws, "amlmon-export", hours=4)
    truth = emulator.seed(ws, ["churn", "fraud"], hours=3, ratePerMinute=4, generation="mixed", seed=7)
    report = deliver_export(emulator, ws, accountKey=azurite.account_key)
    assert report["records"] > 0 and all(b["name"].endswith("/m=00/PT1H.json") for b in report["blobs"])
    assert {b["container"] for b in report["blobs"]} == {
        "insights-logs-apptraces",
        "insights-logs-apprequests",
    }

    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    shown = cli("export", "show", *ws["args"], "--delivery", "-o", "json", env=env)
    assert shown.exit_code == 0, shown.stderr
    delivered = shown.json()["settings"][0]["delivered"]
    assert delivered["insights-logs-apptraces"]["blobs"] >= 3

    pulled, extracted = tmp_path / "pull.parquet", tmp_path / "extract.parquet"
    pull = cli("data", "pull", *ws["args"], "--since", "4h", "--out", str(pulled), "-o", "json")
    assert pull.exit_code == 0, pull.stderr
    extract = cli(
        "data", "extract", f"{azurite.blob_endpoint}/insights-logs-apptraces", "--out", str(extracted),
        "--since", "4h", "-o", "json", env=env,
    )  # fmt: skip
    assert extract.exit_code == 0, extract.stderr
    expected = sum(int(t.get("modelData", 0)) for t in truth["truth"].values())
    assert pull.json()["rows"] == expected == extract.json()["rows"]
    left = sorted(datasets.read_rows(pulled), key=datasets.row_key)
    right = sorted(datasets.read_rows(extracted), key=datasets.row_key)
    assert left == right


def test_destinations_azure_would_reject_are_refused_before_any_request(
    cli: Any, emulator: Any, workspace: dict[str, Any]
) -> None:
    ws = workspace
    group = f"/subscriptions/{ws['subscription']}/resourceGroups/{ws['resourceGroup']}/providers"
    cases = [
        (["--storage-account", "amlmon/../other"], "storage account name"),
        (["--storage-account", "UpperCase"], "storage account name"),
        (
            ["--storage-account", f"{group}/Microsoft.Web/sites/app1"],
            "not a Microsoft.Storage/storageAccounts",
        ),
        (["--storage-account", f"{group}/Microsoft.Storage/storageAccounts/a?b"], "storage account name"),
        (["--log-analytics", "/subscriptions/x"], "is not a resource ID"),
        (["--log-analytics", f"{group}/Microsoft.OperationalInsights/workspaces/la/../x"], "--log-analytics"),
        (["--event-hub-rule", "rule1", "--event-hub", "hub"], "is not a resource ID"),
    ]
    for args, needle in cases:
        seq = emulator.last_seq()
        result = cli("export", "enable", *ws["args"], *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert needle in result.stderr and "hint:" in result.stderr, result.stderr
        sent = [r for r in emulator.requests_since(seq) if not r["path"].startswith("/_emulator/")]
        assert sent == [], (args, sent)
    by_id = cli("export", "enable", *ws["args"], "--storage-account", f"{group}/Microsoft.Storage/storageAccounts/{ws['near']}", "--dry-run", "-o", "json")  # fmt: skip
    assert by_id.exit_code == 0 and by_id.json()["action"] == "create", by_id.stderr  # positive control


def test_a_name_azure_accepts_round_trips_encoded(cli: Any, emulator: Any, workspace: dict[str, Any]) -> None:
    ws = workspace
    name = "amlmon ops (nightly) ü-1"
    seq = emulator.last_seq()
    made = cli("export", "enable", *ws["args"], "--storage-account", ws["near"], "--name", name, "-o", "json")
    assert made.exit_code == 0 and made.json()["action"] == "created", made.stderr
    [put] = _puts(emulator, seq)
    assert put["path"].endswith("/diagnosticSettings/" + name), "one segment, decoded back to the name"
    assert [s["name"] for s in _show(cli, ws)["settings"]] == [name]
    gone = cli("export", "disable", *ws["args"], "--name", name, "-o", "json")
    assert gone.exit_code == 0 and gone.json()["action"] == "deleted", gone.stderr
    assert _show(cli, ws)["settings"] == []
