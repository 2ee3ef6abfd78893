"""The v2 collector paths (`data pull --payloads / --datastore-url`, `data tail`, `traces --request`)
check their TARGETs against the workspace before any blob is read or file created; the account of
--datastore-url must be the connection string's; empty results say why; with no TARGET the traffic
log's gate and stats show every deployment of the workspace, one without rows too.

A workspace with a v1 service (churn-aci) and credit-ep/blue and credit-ep/green, both with their data
collector on (no traffic), its datastore in Azurite (AZURE_STORAGE_CONNECTION_STRING, as in the other
v2 tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.azurite import Azurite
from tests.conftest import spawn_amlmon
from tests.helpers import arm, make_workspace

pytestmark = pytest.mark.azurite

ON = {"dataCollectionMode": "Enabled"}
COLLECTOR = {"collections": {"model_inputs": ON, "model_outputs": ON, "request": ON, "response": ON}}
WINDOW = ("--since", "2026-01-01T00:00:00Z", "--until", "2026-01-01T00:01:00Z")


@pytest.fixture(scope="module")
def site(emulator: Any, azurite: Azurite) -> dict[str, Any]:
    from tests.conftest import run_cli

    status, _ = emulator.admin(
        "POST", "/_emulator/modeldata/storage", {"connectionString": azurite.connection_string}
    )
    assert status == 200
    ws = make_workspace(
        emulator,
        services=[{"name": "churn-aci", "computeType": "ACI"}],
        deployments=[
            {"endpoint": "credit-ep", "name": name, "properties": {"dataCollector": COLLECTOR}}
            for name in ("blue", "green")
        ],
    )
    _, body, _ = arm(emulator, "GET", ws["id"])
    container = f"azureml-blobstore-{body['properties']['workspaceId']}"
    azurite.service().create_container(container)  # the collector's first record would make it
    enabled = run_cli(["diagnostics", "enable", "credit-ep", "--endpoint-logs", *ws["args"]], emulator.env())
    assert enabled.exit_code == 0, enabled.stderr
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    return {"ws": ws, "container": container, "env": env, "url": f"{azurite.blob_endpoint}/{container}"}


def _lines(stderr: str) -> tuple[list[str], list[str]]:
    lines = stderr.splitlines()
    return [x for x in lines if x.startswith("error:")], [x for x in lines if x.startswith("hint:")]


@pytest.mark.parametrize(
    ("args", "typo"),
    [
        (["data", "pull", "credit-ep/bleu", "--payloads"], "credit-ep/bleu"),
        (["data", "pull", "x/y", "--payloads"], "x/y"),
        (["data", "pull", "credit-ep/bleu", "--datastore-url", "{url}"], "credit-ep/bleu"),
        (["traces", "credit-ep/bleu", "--request", "r-1"], "credit-ep/bleu"),
    ],
)
def test_a_name_that_matches_nothing_is_exit_3_before_any_file(
    cli: Any, site: dict[str, Any], tmp_path: Path, args: list[str], typo: str
) -> None:
    args = [a.format(url=site["url"]) for a in args]
    out = ["--out", str(tmp_path / "g6.jsonl")] if args[0] == "data" else []
    result = cli(*args, "--since", "1h", *out, *site["ws"]["args"], env=site["env"])
    assert result.exit_code == 3, result.stdout + result.stderr
    errors, hints = _lines(result.stderr)
    assert errors == [f"error: no service, endpoint or deployment named '{typo}' in the workspace"]
    assert len(hints) == 1 and (typo == "x/y" or "did you mean credit-ep/blue" in hints[0]), hints
    assert list(tmp_path.iterdir()) == [] and result.stdout == ""
    # Positive control: the right name runs (exit 0; the pull writes its file). A request id found in no
    # source is exit 3 too, but said as such: the name passed.
    fixed = [a.replace(typo, "credit-ep/blue") for a in args]
    ok = cli(*fixed, "--since", "1h", *out, *site["ws"]["args"], env=site["env"])
    if args[0] == "traces":
        assert ok.exit_code == 3 and "error: nothing found for request r-1" in ok.stderr, ok.stderr
        assert "no service, endpoint or deployment" not in ok.stderr
    else:
        assert ok.exit_code == 0, ok.stderr
    assert list(tmp_path.iterdir()) == ([tmp_path / "g6.jsonl"] if out else [])


@pytest.mark.parametrize(
    "args",
    [
        ["data", "pull", "churn-aci", "--payloads", "--since", "1h"],
        ["data", "pull", "churn-aci", "--datastore-url", "{url}", "--since", "1h"],
    ],
)
def test_a_v1_service_in_a_collector_pull_is_exit_2_with_a_hint(
    cli: Any, site: dict[str, Any], tmp_path: Path, args: list[str]
) -> None:
    args = [a.format(url=site["url"]) for a in args]
    result = cli(*args, "--out", str(tmp_path / "v1.jsonl"), *site["ws"]["args"], env=site["env"])
    assert result.exit_code == 2, result.stdout + result.stderr
    errors, hints = _lines(result.stderr)
    assert errors == [
        "error: the data collector's blobs are for v2 deployments only; churn-aci is a v1 service"
    ]
    assert hints == [
        "hint: a v1 service's model data is in App Insights: drop --datastore-url/--payloads, "
        "e.g. amlmon data pull churn-aci"
    ]
    assert list(tmp_path.iterdir()) == []


def _tail(emulator: Any, site: dict[str, Any], target: str) -> tuple[int, str]:
    """`data tail TARGET` in a child: it must end on its own (a wrong name used to follow forever)."""
    process = spawn_amlmon(
        ["data", "tail", target, "--interval", "200ms", *site["ws"]["args"]],
        {**emulator.env(), **site["env"]},
    )
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, stderr


def test_data_tail_of_a_wrong_name_ends_with_the_error(emulator: Any, site: dict[str, Any]) -> None:
    code, stderr = _tail(emulator, site, "credit-ep/bleu")
    assert code == 3 and "hint: did you mean credit-ep/blue" in stderr, stderr
    assert "following" not in stderr
    code, stderr = _tail(emulator, site, "churn-aci")
    assert code == 2 and "churn-aci is a v1 service" in stderr and "\nhint: " in stderr, stderr
    assert "following" not in stderr
    # Positive control: the right name follows (stopped here, once it says so).
    process = spawn_amlmon(
        ["data", "tail", "credit-ep/blue", "--interval", "200ms", *site["ws"]["args"]],
        {**emulator.env(), **site["env"]},
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith("following modelDataCollector/credit-ep/blue/"), first
    finally:
        process.kill()
        process.communicate(timeout=30)


def test_datastore_url_of_another_account_is_refused(
    cli: Any, site: dict[str, Any], azurite: Azurite, tmp_path: Path
) -> None:
    base = ["data", "pull", "credit-ep/blue", "--since", "1h", *site["ws"]["args"]]
    port_url = azurite.blob_endpoint.rsplit("/", 1)[0]  # http(s)://127.0.0.1:PORT (path-style)
    for url, other in (
        (f"https://otheracct.blob.core.windows.net/{site['container']}", "'otheracct'"),
        (f"{port_url}/otheracct/{site['container']}", "'otheracct'"),
        ("https://evil.example/xyz", "evil.example"),
    ):
        result = cli(*base, "--datastore-url", url, "--out", str(tmp_path / "a.jsonl"), env=site["env"])
        assert result.exit_code == 2, result.stdout + result.stderr
        errors, hints = _lines(result.stderr)
        assert len(errors) == 1 and len(hints) == 1, result.stderr
        assert errors[0].startswith("error: the storage connection string is for ") and other in errors[0]
        assert azurite.account_key not in result.stdout + result.stderr
        assert list(tmp_path.iterdir()) == []
    # Positive control: the URL of the connection string's own account is read.
    ok = cli(*base, "--datastore-url", site["url"], "--out", str(tmp_path / "a.jsonl"), env=site["env"])
    assert ok.exit_code == 0, ok.stderr
    # A container name Azure refuses is said before any request (it was the storage's own error, exit 1).
    bad = cli(
        *base,
        "--datastore-url",
        f"{azurite.blob_endpoint}/xx",
        "--out",
        str(tmp_path / "b.jsonl"),
        env=site["env"],
    )
    errors, hints = _lines(bad.stderr)
    assert bad.exit_code == 2 and len(errors) == 1 and "container 'xx' is not a valid" in errors[0]
    assert len(hints) == 1 and "3-63 characters" in hints[0] and "Traceback" not in bad.stderr, bad.stderr
    assert not (tmp_path / "b.jsonl").exists() and not (tmp_path / ".b.jsonl.amlmon-parts").exists()


def test_a_failure_before_the_first_row_leaves_nothing(
    cli: Any, site: dict[str, Any], azurite: Azurite, tmp_path: Path
) -> None:
    base = ["data", "pull", "credit-ep/blue", "--since", "1h", "--out", str(tmp_path / "m6.jsonl")]
    malformed = cli(*base, "--connection-string", "garbage AccountKey=c2VjcmV0", *site["ws"]["args"])
    assert malformed.exit_code == 2 and "malformed" in malformed.stderr, malformed.stderr
    assert "c2VjcmV0" not in malformed.stdout + malformed.stderr
    assert list(tmp_path.iterdir()) == []
    gone = f"{azurite.blob_endpoint}/no-such-container"
    missing = cli(*base, "--datastore-url", gone, *site["ws"]["args"], env=site["env"])
    assert missing.exit_code == 3 and "does not exist" in missing.stderr, missing.stderr
    assert list(tmp_path.iterdir()) == []
    # Positive control: the same pull of an existing container writes its (empty) file.
    ok = cli(*base, "--datastore-url", site["url"], *site["ws"]["args"], env=site["env"])
    assert ok.exit_code == 0 and list(tmp_path.iterdir()) == [tmp_path / "m6.jsonl"], ok.stderr


@pytest.mark.parametrize("given", ["env", "option"])
def test_a_refused_connection_string_says_its_key_was_refused_not_a_role(
    cli: Any, site: dict[str, Any], azurite: Azurite, tmp_path: Path, given: str
) -> None:
    """A 403 with a connection string is its key refused: no Entra ID token was sent, so the hint about
    the Storage Blob Data Reader role (and signing in) sent the user the wrong way."""
    wrong_key = "d3Jvbmcta2V5LW9mLXRoZS1yaWdodC1sZW5ndGgtZm9yLWF6dXJpdGUtYWNjb3VudA=="
    connection = azurite.connection_string.replace(azurite.account_key, wrong_key)
    assert connection != azurite.connection_string
    source = "AZURE_STORAGE_CONNECTION_STRING" if given == "env" else "--connection-string"
    credential = ["--connection-string", connection] if given == "option" else []
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection if given == "env" else ""}
    out = tmp_path / "refused.jsonl"
    base = ["data", "pull", "credit-ep/blue", "--since", "1h", "--out", str(out), *site["ws"]["args"]]
    for where in ([], ["--datastore-url", site["url"]]):  # the datastore's container, or the one given
        refused = cli(*base, *where, *credential, env=env)
        assert refused.exit_code == 4, refused.stderr
        assert refused.stderr.splitlines() == [
            f"error: the storage account refused the account key in the connection string ({source}) "
            f"for container {site['container']!r}",
            "hint: the account key is wrong, rotated or expired: copy the account's current connection "
            f"string (portal: storage account → Access keys) into {source}, or one with a SAS that allows "
            "read and list",
        ]
        assert wrong_key not in refused.stdout + refused.stderr and not out.exists()
    # The control: the account's own key reads the same container.
    ok = cli(*base, "--datastore-url", site["url"], env=site["env"])
    assert ok.exit_code == 0 and out.exists(), ok.stderr


def test_an_unreachable_datastore_account_is_named_with_a_datastore_url_hint(
    cli: Any, emulator: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    """Without --datastore-url the container is the workspace datastore's, on a host that does not
    resolve here (no connection string sends the calls to Azurite): the error named no URL."""
    status, datastore, _ = arm(
        emulator, "GET", f"{site['ws']['id']}/datastores/workspaceblobstore", version="2024-04-01"
    )
    assert status == 200, datastore
    props = datastore["properties"]
    account_url = f"https://{props['accountName']}.blob.{props['endpoint']}"
    out = tmp_path / "unreached.jsonl"
    args = ["data", "pull", "credit-ep/blue", "--since", "1h", "--out", str(out), *site["ws"]["args"]]
    env = {"AZURE_STORAGE_CONNECTION_STRING": "", "AMLMON_STORAGE_BACKOFF": "0"}
    unreached = cli(*args, env=env)
    assert unreached.exit_code == 1, unreached.stderr
    lines = unreached.stderr.splitlines()
    assert lines[0].startswith(
        f"error: could not reach the storage account {account_url} for container {props['containerName']!r}"
    ), lines
    assert lines[1] == (
        "hint: check the network and the account's name, or give the container the data collector writes "
        "to: --datastore-url https://ACCOUNT.blob.core.windows.net/azureml-blobstore-<workspace id>"
    )
    assert len(lines) == 2 and not out.exists()
    # The control: the container given in --datastore-url (Azurite's) is read.
    ok = cli(*args, "--datastore-url", site["url"], env=site["env"])
    assert ok.exit_code == 0 and out.exists(), ok.stderr


@pytest.mark.parametrize("flags", [[], ["--payloads"]])
def test_an_empty_collector_pull_says_why(
    cli: Any, site: dict[str, Any], tmp_path: Path, flags: list[str]
) -> None:
    out = tmp_path / "green.jsonl"
    args = ["data", "pull", "credit-ep/green", *flags, "--since", "1h", "--out", str(out)]
    result = cli(*args, *site["ws"]["args"], "-o", "json", env=site["env"])
    assert result.exit_code == 0 and result.json()["rows"] == 0, result.stderr
    warnings = [x for x in result.stderr.splitlines() if x.startswith("warning: ")]
    assert len(warnings) == 1 and "credit-ep/green" in warnings[0] and site["container"] in warnings[0]
    assert result.json()["start"] in warnings[0] and "diagnostics status" in warnings[0]


def test_an_empty_endpoint_log_window_says_why(cli: Any, emulator: Any, site: dict[str, Any]) -> None:
    ws = site["ws"]
    resource = f"{ws['id']}/onlineEndpoints/credit-ep".upper()
    row = {
        "TimeGenerated": "2026-01-01T00:00:10Z",
        "InstanceId": "blue-0",
        "DeploymentName": "blue",
        "ContainerName": "inference-server",
        "ContainerImageName": "image:1",
        "Message": "a console line",
        "_ResourceId": resource,
    }
    status, answer = emulator.admin(
        "POST", "/_emulator/endpoint-logs/rows", {"table": "AmlOnlineEndpointConsoleLog", "rows": [row]}
    )
    assert status == 200, answer
    # Positive control: the window with a row prints it and warns of nothing.
    blue = cli("logs", "credit-ep/blue", *WINDOW, *ws["args"], "-o", "json")
    assert blue.exit_code == 0 and [r["message"] for r in blue.json()] == ["a console line"], blue.stderr
    assert "warning:" not in blue.stderr
    for args, what in ((["credit-ep/green"], "console lines"), (["credit-ep/green", "--events"], "events")):
        empty = cli("logs", *args, *WINDOW, *ws["args"], "-o", "json")
        assert empty.exit_code == 0 and empty.json() == [], empty.stderr
        warning = [x for x in empty.stderr.splitlines() if x.startswith("warning: ")]
        assert len(warning) == 1 and what in warning[0] and "credit-ep/green" in warning[0], empty.stderr
        assert "2026-01-01T00:00:00+00:00" in warning[0] and "diagnostics status" in warning[0]


def test_traffic_log_without_target_shows_and_gates_every_deployment(
    cli: Any, emulator: Any, site: dict[str, Any]
) -> None:
    ws = site["ws"]
    status, seeded = emulator.admin(
        "POST",
        "/_emulator/endpoint-logs/seed",
        {
            "subscription": ws["subscription"],
            "resourceGroup": ws["resourceGroup"],
            "workspace": ws["name"],
            "endpoint": "credit-ep",
            "deployments": ["blue"],
            "hours": 1,
            "ratePerMinute": 5,
            "seed": 2,
            "failureRate": 0.0,
        },
    )
    assert status == 200, seeded
    named = cli("check", "credit-ep", "--endpoint-logs", "--since", "2h", *ws["args"], "-o", "json")
    unnamed = cli("check", "--endpoint-logs", "--since", "2h", *ws["args"], "-o", "json")
    for result in (named, unnamed):
        assert result.exit_code == 1, result.stdout + result.stderr
        failed = {r["target"] for r in result.json()["results"] if r["status"] == "FAIL"}
        assert failed == {"credit-ep/green"}, result.json()
    assert {r["target"] for r in unnamed.json()["results"]} == {"credit-ep/blue", "credit-ep/green"}
    stats = cli("stats", "--endpoint-logs", "--since", "2h", *ws["args"], "-o", "json")
    assert stats.exit_code == 0, stats.stderr
    counts = {t["target"]: t["requests"]["count"] for t in stats.json()["targets"]}
    assert counts["credit-ep/green"] == 0 and counts["credit-ep/blue"] > 0, counts
    # Positive control: with --min-requests 0 the same gate passes (green failed on its 0 requests).
    allowed = cli("check", "--endpoint-logs", "--min-requests", "0", "--since", "2h", *ws["args"])
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr


def test_metrics_and_v1_gates_without_target_keep_idle_targets(cli: Any, site: dict[str, Any]) -> None:
    ws = site["ws"]
    metrics = cli("check", "--metrics", "--since", "1h", *ws["args"], "-o", "json")
    assert metrics.exit_code == 1, metrics.stdout + metrics.stderr
    failed = {r["target"] for r in metrics.json()["results"] if r["status"] == "FAIL"}
    assert {"credit-ep/blue", "credit-ep/green"} <= failed, json.dumps(metrics.json())
    v1 = cli("check", "--since", "1h", *ws["args"], "-o", "json")
    assert v1.exit_code == 1, v1.stdout + v1.stderr
    failed = {r["target"] for r in v1.json()["results"] if r["status"] == "FAIL"}
    assert {"churn-aci", "credit-ep/blue", "credit-ep/green"} <= failed, json.dumps(v1.json())


def test_a_name_in_another_case_reads_the_folders_azure_spells(
    cli: Any, site: dict[str, Any], azurite: Azurite, tmp_path: Path
) -> None:
    """Azure matches endpoint and deployment names without case, so `CREDIT-EP/Blue` passes the check;
    the collector's folders (and the rows' names) are spelled as the workspace spells them, so the pull
    reads `credit-ep/blue`'s — not an empty `CREDIT-EP/Blue/` prefix with a warning blaming the collector."""
    container = azurite.service().get_container_client(site["container"])
    for collection, data in (("model_inputs", {"x": 1}), ("model_outputs", {"p": 0.5})):
        blob = container.get_blob_client(
            f"modelDataCollector/credit-ep/blue/{collection}/2026/01/02/00/i.jsonl"
        )
        blob.create_append_blob()
        record = {"specversion": "1.0", "id": collection, "time": "2026-01-02T00:00:05Z"}
        record |= {"data": [data], "correlationid": "case-1"}
        blob.append_block((json.dumps(record) + "\n").encode())
    window = ("--since", "2026-01-02T00:00:00Z", "--until", "2026-01-02T00:30:00Z")
    # credit-ep/blue: the positive control, then the same deployment typed in other cases, both pull paths
    for index, (target, flags) in enumerate(
        (
            ("credit-ep/blue", []),
            ("CREDIT-EP/Blue", []),
            ("Credit-Ep", []),
            ("CREDIT-EP/BLUE", ["--datastore-url", site["url"]]),
            ("Credit-EP", ["--datastore-url", site["url"]]),
        )
    ):
        out = tmp_path / f"case{index}.jsonl"
        args = ["data", "pull", target, *flags, *window, "--out", str(out), *site["ws"]["args"]]
        result = cli(*args, "-o", "json", env=site["env"])
        assert result.exit_code == 0 and result.json()["rows"] == 1, (target, result.stderr)
        row = json.loads(out.read_text())
        assert (row["service"], row["deployment"]) == (
            "credit-ep",
            "blue",
        ) and "warning:" not in result.stderr
    # traces --request searches the same folders (credit-ep/blue first: the control)
    for target in ("credit-ep/blue", "CREDIT-EP/Blue"):
        args = ["traces", target, "--request", "case-1", *window, "--datastore-url", site["url"]]
        found = cli(*args, *site["ws"]["args"], "-o", "json", env=site["env"])
        assert found.exit_code == 0 and len(found.json()["collector"]) == 2, (target, found.stderr)
