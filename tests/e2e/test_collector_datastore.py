"""v2 collected data without --datastore-url, payload logging, and payloads kept in blobs of their own.

A deployment backed by the real inference server and Collector, with its data collector's `model_inputs`,
`model_outputs`, `request` and `response` collections on, writing into Azurite. amlmon finds the container
by asking the workspace for its `workspaceblobstore` datastore (ARM, api 2024-04-01); the emulator answers
with the real fields and Azurite's account name. Azurite is reached through its connection string in
AZURE_STORAGE_CONNECTION_STRING, as in the other v2 tests.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from amlmon import datasets
from tests.azurite import Azurite
from tests.helpers import arm, http, make_workspace
from tests.online import MODEL, WAIT

pytestmark = [pytest.mark.inference, pytest.mark.azurite]

ON = {"dataCollectionMode": "Enabled"}
COLLECTOR = {"collections": {"model_inputs": ON, "model_outputs": ON, "request": ON, "response": ON}}
# Fields of a datastore GET (azure-rest-api-specs stable/2024-04-01 examples Datastore/get.json).
DATASTORE_FIELDS = {
    "description",
    "tags",
    "isDefault",
    "properties",
    "credentials",
    "datastoreType",
    "accountName",
    "containerName",
    "endpoint",
    "protocol",
}
# The docs' payload records (how-to-collect-production-data.md), plus the blob pointer's `datainblob`.
REQUEST_FIELDS = {
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "time",
    "data",
    "path",
    "method",
    "contentrange",
    "correlationid",
    "xrequestid",
}
RESPONSE_FIELDS = REQUEST_FIELDS - {"path", "method"}
LARGE = 4 * 1024 * 1024 + 4096  # bytes of note: the request body is over the collector's 4 MB


@pytest.fixture(scope="module")
def site(emulator: Any, azurite: Azurite) -> dict[str, Any]:
    status, _ = emulator.admin(
        "POST", "/_emulator/modeldata/storage", {"connectionString": azurite.connection_string}
    )
    assert status == 200
    endpoint = f"ds{uuid.uuid4().hex[:8]}"
    ws = make_workspace(
        emulator,
        deployments=[
            {
                "endpoint": endpoint,
                "name": "blue",
                "backend": "inference",
                "properties": {"dataCollector": COLLECTOR},
            }
        ],
    )
    _, body, _ = arm(emulator, "GET", ws["id"])
    _, ep_body, _ = arm(emulator, "GET", f"{ws['id']}/onlineEndpoints/{endpoint}")
    return {
        "ws": ws,
        "endpoint": endpoint,
        "container": f"azureml-blobstore-{body['properties']['workspaceId']}",
        "scoring_uri": ep_body["properties"]["scoringUri"],
        "env": {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    }


def _score(emulator: Any, site: dict[str, Any], body: bytes, content_type: str) -> tuple[int, str, Any]:
    status, headers, answer = http(
        emulator,
        "POST",
        site["scoring_uri"],
        raw=body,
        headers={"Content-Type": content_type, "azureml-model-deployment": "blue"},
    )
    try:
        return status, str(headers["x-request-id"]), json.loads(answer)
    except ValueError:
        return status, str(headers["x-request-id"]), answer


def _records(
    azurite: Azurite, site: dict[str, Any], collection: str, count: int, ids: set[str] | None = None
) -> list[dict[str, Any]]:
    """The collection's records (of requests `ids`, when given) once there are `count`, from its .jsonl
    blobs (a binary payload's raw file lies in the same folder)."""
    prefix = f"modelDataCollector/{site['endpoint']}/blue/{collection}/"
    container = azurite.service().get_container_client(site["container"])
    deadline = time.time() + WAIT
    while True:
        found = []
        if container.exists():
            for blob in container.list_blobs(name_starts_with=prefix):
                if blob.name.endswith(".jsonl"):
                    text = container.download_blob(blob.name).readall().decode()
                    found += [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]
        found = [r for r in found if ids is None or r.get("correlationid") in ids]
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.2)


def test_the_datastore_route_answers_the_real_fields_and_no_secret(
    emulator: Any, site: dict[str, Any], azurite: Azurite
) -> None:
    status, body, _ = arm(emulator, "GET", f"{site['ws']['id']}/datastores/workspaceblobstore")
    assert status == 200, body
    props = body["properties"]
    assert set(props) == DATASTORE_FIELDS
    assert (props["datastoreType"], props["isDefault"], props["endpoint"], props["protocol"]) == (
        "AzureBlob",
        True,
        "core.windows.net",
        "https",
    )
    assert props["accountName"] == "devstoreaccount1" and props["containerName"] == site["container"]
    assert props["credentials"] == {"credentialsType": "AccountKey", "secrets": {"secretsType": "AccountKey"}}
    assert azurite.account_key not in json.dumps(body)
    status, listed, _ = arm(emulator, "GET", f"{site['ws']['id']}/datastores")
    assert status == 200
    defaults = {d["name"]: d["properties"]["isDefault"] for d in listed["value"]}
    assert defaults == {"workspaceblobstore": True, "workspacefilestore": False}


def test_data_pull_and_tail_find_the_container_without_datastore_url(
    cli: Any, emulator: Any, site: dict[str, Any], azurite: Azurite, tmp_path: Path
) -> None:
    rows = [[12.0, 70.0, 1.0, 1.0], [3.0, 95.5, 4.0, 0.0]]
    status, request_id, _ = _score(emulator, site, json.dumps({"data": rows}).encode(), "application/json")
    assert status == 200
    assert len(_records(azurite, site, "model_outputs", 1)) >= 1
    target = f"{site['endpoint']}/blue"
    out = tmp_path / "found.jsonl"
    args = ["data", "pull", target, "--since", "1h", "--out", str(out), *site["ws"]["args"]]
    result = cli(*args, "--verbose", "-o", "json", env=site["env"])
    assert result.exit_code == 0, result.stderr
    assert (
        f"datastore workspaceblobstore, container https://devstoreaccount1.blob.core.windows.net/{site['container']}"
        in result.stderr
    )
    assert result.json()["rows"] >= 2
    pulled = {row["request_id"]: row for row in datasets.read_rows(out)}
    assert pulled[f"{request_id}_1"]["input"] == dict(zip(MODEL.features, rows[1], strict=True))
    assert pulled[f"{request_id}_1"]["prediction"] == {"churn_probability": MODEL.predict(rows)[1]}
    assert azurite.account_key not in result.stdout + result.stderr
    # traces --request: the collector's records of that request, from the same datastore
    timeline = cli(
        "traces",
        "--request",
        request_id,
        target,
        "--since",
        "1h",
        *site["ws"]["args"],
        "-o",
        "json",
        env=site["env"],
    )
    assert timeline.exit_code == 0, timeline.stderr
    kinds = sorted(entry["kind"] for entry in timeline.json()["collector"])
    assert kinds == ["model_inputs", "model_outputs", "request", "response"], kinds
    assert "collector records were not searched" not in timeline.stderr
    # tail: no --datastore-url either; --since prints what is there, then it follows (stopped here)
    import queue
    import threading

    from tests.conftest import spawn_amlmon

    process = spawn_amlmon(
        ["data", "tail", target, "--since", "1h", "--interval", "200ms", *site["ws"]["args"]],
        {**emulator.env(), **site["env"]},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        line = json.loads(lines.get(timeout=WAIT))
        assert line["endpoint"] == site["endpoint"] and line["deployment"] == "blue"
    finally:
        process.kill()
        process.communicate(timeout=30)


def test_a_payload_over_4mb_is_followed_and_requests_join_responses(
    cli: Any, emulator: Any, site: dict[str, Any], azurite: Azurite, tmp_path: Path
) -> None:
    big = json.dumps({"data": [[1, 80, 2, 1]], "note": "x" * LARGE}).encode()
    small = json.dumps({"data": [[24, 20, 0, 3]]}).encode()
    binary = b"\x00\xff binary payload \x01"
    big_status, big_id, big_answer = _score(emulator, site, big, "application/json")
    small_status, small_id, small_answer = _score(emulator, site, small, "application/json")
    _, binary_id, _ = _score(emulator, site, binary, "application/octet-stream")
    assert (big_status, small_status) == (200, 200)
    ids = {big_id, small_id, binary_id}

    requests = _records(azurite, site, "request", 3, ids)
    responses = _records(azurite, site, "response", 3, ids)
    assert len(requests) == 3 and len(responses) == 3, (requests, responses)
    assert all(set(r) <= REQUEST_FIELDS | {"datainblob"} for r in requests)
    assert all(set(r) <= RESPONSE_FIELDS | {"datainblob"} for r in responses)
    by_id = {r["correlationid"]: r for r in requests}
    assert by_id[small_id]["data"] == json.loads(small) and "datainblob" not in by_id[small_id]
    pointer = by_id[big_id]
    assert pointer["datainblob"] == "true" and pointer["data"].startswith(
        f"https://devstoreaccount1.blob.core.windows.net/{site['container']}/modelDataCollector/{site['endpoint']}/blue/"
    )
    assert pointer["contentrange"] == f"bytes 0-{len(big) - 1}/{len(big)}"
    kept = pointer["data"].split(f"/{site['container']}/", 1)[1]
    blob = azurite.service().get_blob_client(site["container"], kept).download_blob().readall()
    assert blob == big, "the separate blob holds the whole payload"
    assert by_id[binary_id]["datainblob"] == "true" and by_id[binary_id]["datacontenttype"] == (
        "application/octet-stream"
    )

    out = tmp_path / "payloads.jsonl"
    result = cli(
        "data",
        "pull",
        f"{site['endpoint']}/blue",
        "--payloads",
        "--since",
        "1h",
        "--out",
        str(out),
        *site["ws"]["args"],
        "-o",
        "json",
        env=site["env"],
    )
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["pointersFollowed"] >= 1 and summary["payloadsInBlobs"] >= 1
    pulled = {row["request_id"]: row for row in datasets.read_rows(out)}
    assert pulled[big_id]["input"] == json.loads(big), "the pointer was followed to the whole body"
    assert pulled[big_id]["prediction"] == big_answer
    assert pulled[small_id]["input"] == json.loads(small)
    assert pulled[small_id]["prediction"] == small_answer == {"predictions": MODEL.predict([[24, 20, 0, 3]])}
    assert pulled[binary_id]["input"] == by_id[binary_id]["data"], "a binary payload keeps its blob URL"
    assert "in blobs of their own" in result.stderr


def test_a_datastore_not_blob_or_gone_is_one_error_with_a_hint(
    cli: Any, emulator: Any, site: dict[str, Any], azurite: Azurite, tmp_path: Path
) -> None:
    other = make_workspace(
        emulator,
        deployments=[{"endpoint": "gone-ep", "name": "blue", "properties": {"dataCollector": COLLECTOR}}],
    )
    args = ["data", "pull", "gone-ep/blue", "--payloads", "--since", "1h"]
    # Positive control: the datastore is there, the pull runs (its container is made here: no traffic).
    _, body, _ = arm(emulator, "GET", other["id"])
    azurite.service().create_container(f"azureml-blobstore-{body['properties']['workspaceId']}")
    ok = cli(*args, "--out", str(tmp_path / "a.jsonl"), *other["args"], "-o", "json", env=site["env"])
    assert ok.exit_code == 0 and ok.json()["rows"] == 0, ok.stderr

    # workspaceblobstore made a file share (PUT, as createOrUpdate takes it): not a blob container
    share = {
        "properties": {
            "credentials": {
                "credentialsType": "AccountKey",
                "secrets": {"secretsType": "AccountKey", "key": "c2VjcmV0"},
            },
            "datastoreType": "AzureFile",
            "accountName": "sharedfiles",
            "fileShareName": "shared",
            "endpoint": "core.windows.net",
            "protocol": "https",
        }
    }
    status, answer, _ = arm(emulator, "PUT", f"{other['id']}/datastores/workspaceblobstore", share)
    assert status == 200 and "c2VjcmV0" not in json.dumps(answer), answer
    not_blob = cli(*args, "--out", str(tmp_path / "s.jsonl"), *other["args"], env=site["env"])
    assert not_blob.exit_code == 2, not_blob.stderr
    errors = [line for line in not_blob.stderr.splitlines() if line.startswith("error:")]
    hints = [line for line in not_blob.stderr.splitlines() if line.startswith("hint:")]
    assert len(errors) == 1 and "AzureFile" in errors[0] and "not an Azure Blob container" in errors[0]
    assert len(hints) == 1 and "--datastore-url" in hints[0] and "Traceback" not in not_blob.stderr

    status, _, _ = arm(emulator, "DELETE", f"{other['id']}/datastores/workspaceblobstore")
    assert status == 200
    gone = cli(*args, "--out", str(tmp_path / "b.jsonl"), *other["args"], env=site["env"])
    assert gone.exit_code == 3, gone.stderr
    errors = [line for line in gone.stderr.splitlines() if line.startswith("error:")]
    hints = [line for line in gone.stderr.splitlines() if line.startswith("hint:")]
    assert len(errors) == 1 and "workspaceblobstore" in errors[0], gone.stderr
    assert len(hints) == 1 and "--datastore-url" in hints[0] and "Traceback" not in gone.stderr
    # --datastore-url still wins: no datastore is asked for
    given = cli(
        *args,
        "--out",
        str(tmp_path / "c.jsonl"),
        "--datastore-url",
        f"{azurite.blob_endpoint}/{site['container']}",
        *other["args"],
        "-o",
        "json",
        env=site["env"],
    )
    assert given.exit_code == 0, given.stderr

    # A connection string for another account than the datastore's is refused, naming only accounts.
    wrong = "DefaultEndpointsProtocol=https;AccountName=elsewhere;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net"
    refused = cli(
        *args[:2],
        f"{site['endpoint']}/blue",
        *args[3:],
        "--out",
        str(tmp_path / "d.jsonl"),
        *site["ws"]["args"],
        env={"AZURE_STORAGE_CONNECTION_STRING": wrong},
    )
    assert refused.exit_code == 2, refused.stderr
    assert "'elsewhere'" in refused.stderr and "'devstoreaccount1'" in refused.stderr
    assert "c2VjcmV0" not in refused.stderr and "hint:" in refused.stderr
