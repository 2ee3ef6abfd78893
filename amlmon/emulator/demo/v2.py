"""The story's v2 half: what credit-ep/blue (a real inference server with the azureml-ai-monitoring
Collector behind the endpoint's front door) sent, read back from where v2 keeps it — the endpoint log
tables, the container's own log, Azure Monitor platform metrics and the collector's blobs — and one
request followed across all of them."""

from __future__ import annotations

import json

from amlmon.emulator.demo.shell import amlmon, banner, quietly
from amlmon.emulator.demo.world import Demo, wait_until

DEPLOYMENT = "credit-ep/blue"
COLLECTIONS = ("model_inputs", "model_outputs")


def datastore_container(demo: Demo) -> str | None:
    """The default datastore's container (`azureml-blobstore-{workspace guid}`): the only container of
    the storage account, made by the collector with its first record; None before that."""
    assert demo.azurite is not None
    names = [c.name for c in demo.azurite.service().list_containers(name_starts_with="azureml-blobstore-")]
    return names[0] if names else None


def collected(demo: Demo, container: str, request_id: str) -> set[str]:
    """The collections whose blobs hold a whole record of request `request_id`: read directly, as the
    demo's own check; amlmon's reading is what the story shows."""
    assert demo.azurite is not None
    client = demo.azurite.service().get_container_client(container)
    found = set()
    for collection in COLLECTIONS:
        for blob in client.list_blobs(name_starts_with=f"modelDataCollector/{DEPLOYMENT}/{collection}/"):
            lines = client.download_blob(blob.name).readall().decode().split("\n")[:-1]
            if any(json.loads(line).get("xrequestid") == request_id for line in lines if line.strip()):
                found.add(collection)
    return found


def wait_for_v2(demo: Demo, request_id: str, requests: int) -> None:
    """Until every request is in the traffic log and (with Azurite) `request_id` in both collections, so
    what the story prints does not depend on how fast the pipes are; then CONTAINER_URL is known."""
    count = ("query", "AmlOnlineEndpointTrafficLog | count", "--log-analytics", "--since", "1h", "-o", "tsv")

    def logged() -> bool:
        result = quietly(*count, env=demo.env)
        return result.returncode == 0 and result.stdout.strip() == str(requests)

    def stored() -> bool:
        container = datastore_container(demo)
        return container is not None and collected(demo, container, request_id) == set(COLLECTIONS)

    wait_until(f"fewer than {requests} rows in AmlOnlineEndpointTrafficLog", logged)
    if demo.azurite is not None:
        wait_until("the collector did not store the request", stored)
        demo.env["CONTAINER_URL"] = f"{demo.azurite.blob_endpoint}/{datastore_container(demo)}"


def endpoint_tables(demo: Demo) -> None:
    env = demo.env
    banner("12. v2: what the endpoint's diagnostic setting sends to Log Analytics, by KQL")
    amlmon(
        "query",
        "AmlOnlineEndpointTrafficLog | project TimeGenerated, DeploymentName, XRequestId, ResponseCode, "
        "ModelStatusCode, TotalDurationMs, ResponseDurationMs, RequestPayloadSize | order by TimeGenerated asc",
        "--log-analytics", "--since", "1h", "-o", "table", env=env,
    )  # fmt: skip
    amlmon(
        "query",
        "AmlOnlineEndpointConsoleLog | where Message has 'scored' "
        "| project TimeGenerated, InstanceId, DeploymentName, Message",
        "--log-analytics", "--since", "1h", "-o", "table", env=env,
    )  # fmt: skip


def console_and_events(demo: Demo) -> None:
    env = demo.env
    banner("13. v2: the server's console lines and the container's events (endpoint logs, or getLogs)")
    amlmon("traces", DEPLOYMENT, "--since", "1h", "--limit", "2", env=env)
    amlmon("traces", "credit-ep", "--events", "--since", "1h", "--format", "short", env=env)
    amlmon("logs", DEPLOYMENT, "--tail", "4", "-o", "table", env=env)
    amlmon("logs", DEPLOYMENT, "--source", "endpoint-logs", "--since", "1h", "-o", "table", env=env)
    amlmon("logs", "credit-ep", "--events", "--since", "1h", "-o", "table", env=env)


def health(demo: Demo) -> None:
    env = demo.env
    banner("14. v2 request health: the traffic log's real durations, platform metrics (no setup at all)")
    amlmon("stats", "credit-ep", "--endpoint-logs", "--since", "1h", "-o", "table", env=env)
    amlmon("stats", "credit-ep", "--metrics", "--since", "1h", "-o", "table", env=env)
    banner("   ... and a gate with thresholds only v2 has (CPU, memory)")
    gate = amlmon(
        "check", DEPLOYMENT, "--since", "1h", "--max-cpu", "80%", "--max-memory", "80%",
        "--max-failure-rate", "10%", "-o", "table", env=env, check=False,
    )  # fmt: skip
    if gate != 1:
        raise SystemExit(f"demo: the v2 gate exited {gate}, not 1 (1 of 8 requests failed on purpose)")
    print(f"(the gate exited {gate}: 1 of 8 requests failed on purpose, more than 10%)")


def collected_data(demo: Demo) -> None:
    banner("15. v2 model data: the collector's blobs as a dataset, and one request across every source")
    print(
        f"REQUEST_ID={demo.env['REQUEST_ID']}  (the x-request-id of credit-ep's answer to the first request)"
    )
    if demo.azurite is None:
        print("skipped `data pull` of the collector's blobs: Azurite is not installed (`make install`)")
        amlmon("traces", "--request", "$REQUEST_ID", "--since", "1h", "-o", "table", env=demo.env)
        return
    env = demo.storage_env  # AZURE_STORAGE_CONNECTION_STRING: never printed
    print(f"CONTAINER_URL={env['CONTAINER_URL']}  (the default datastore's container: the collector's blobs)")
    pull = ("data", "pull", DEPLOYMENT, "--since", "1h", "--datastore-url", "$CONTAINER_URL")
    amlmon(*pull, "--out", "collected.jsonl", "-o", "json", env=env)
    request = ("traces", "--request", "$REQUEST_ID", "--since", "1h")
    amlmon(*request, "--datastore-url", "$CONTAINER_URL", "-o", "table", env=env)


def v2_story(demo: Demo, sent: list[str]) -> None:
    """Steps 12 to 15, on the requests `v1.traffic` sent to credit-ep (their x-request-ids)."""
    # The first request: it also waited for the server to start, so its traffic-log row (stamped on
    # arrival) is always older than its collector records (stamped in whole seconds when collected).
    demo.env["REQUEST_ID"] = sent[0]
    wait_for_v2(demo, sent[0], requests=8)
    endpoint_tables(demo)
    console_and_events(demo)
    health(demo)
    collected_data(demo)
