"""Telemetry the real azureml-inference-server-http 1.4.1 posted, replayed into the emulator through its
ingestion endpoint (POST /v2.1/track), read as a user would: print lines and exceptions attributed to
their service from the evidence the records carry (host, Request Id), in both query schemas."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from tests.conftest import Emulator
from tests.helpers import post, reference_telemetry, telemetry_workspace

SCHEMAS = pytest.mark.parametrize("schema", [[], ["--log-analytics"]], ids=["app-insights", "log-analytics"])


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _envelope(name: str, ikey: str, host: str, at: dt.datetime) -> dict[str, Any]:
    """A copy of a real 1.4.1 envelope with this workspace's key, host and time."""
    envelope = copy.deepcopy(reference_telemetry(name))
    envelope["iKey"] = ikey
    envelope["time"] = _stamp(at)
    envelope["tags"]["ai.cloud.roleInstance"] = host
    envelope["tags"]["ai.device.id"] = host
    return envelope


def server_session(
    ikey: str, service: str, host: str, *, prints: int, ok: int, failed: int, start: dt.datetime
) -> list[dict[str, Any]]:
    """What one 1.4.1 server on `host` sends: `ok` requests with model data, `failed` requests that
    raised (each a request and an exception with its Request Id), and `prints` print() lines."""
    envelopes = []
    at = start
    for index in range(ok + failed):
        at += dt.timedelta(seconds=3)
        request_id = str(uuid.uuid4())
        kind = "500" if index >= ok else "200"
        request = _envelope(f"v1.4.1-request-{kind}.json", ikey, host, at)
        request["tags"]["ai.operation.id"] = uuid.uuid4().hex
        request["data"]["baseData"]["id"] = request_id
        props = request["data"]["baseData"]["properties"]
        props.update({"Request Id": request_id, "Service Name": service, "start_time": _stamp(at)})
        envelopes.append(request)
        if kind == "200":
            record = _envelope("v1.4.1-message-model_data_collection.json", ikey, host, at)
            record["data"]["baseData"]["properties"].update(
                {"Request Id": request_id, "Service Name": service}
            )
            envelopes.append(record)
        else:
            exception = _envelope("v1.4.1-exception.json", ikey, host, at + dt.timedelta(milliseconds=5))
            exception["data"]["baseData"]["properties"]["Request Id"] = request_id
            envelopes.append(exception)
    for index in range(prints):
        line = _envelope("v1.4.1-message-print-run.json", ikey, host, start + dt.timedelta(seconds=index))
        line["data"]["baseData"]["message"] = f"{service}: custom trace {index}"
        envelopes.append(line)
    return envelopes


def _aks(names: list[str]) -> list[dict[str, str]]:
    return [{"name": name, "computeType": "AKS"} for name in names]


def ingest(emulator: Emulator, envelopes: list[dict[str, Any]]) -> None:
    status, answer = post(emulator, "/v2.1/track", json.dumps(envelopes).encode())
    assert status == 200 and answer["itemsAccepted"] == len(envelopes), answer


@pytest.fixture(scope="module")
def one_service(emulator: Emulator) -> dict[str, Any]:
    ws = telemetry_workspace(emulator, "replay", services=_aks(["my-service"]))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    ingest(emulator, server_session(ws["ikey"], "my-service", "vm", prints=20, ok=6, failed=4, start=start))
    return ws


@pytest.fixture(scope="module")
def several(emulator: Emulator) -> dict[str, Any]:
    """Two services on hosts of their own, and two more that shared one host."""
    ws = telemetry_workspace(emulator, "replay2", services=_aks(["svc-a", "svc-b", "svc-c", "svc-d"]))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    envelopes = server_session(ws["ikey"], "svc-a", "host-a", prints=5, ok=3, failed=2, start=start)
    envelopes += server_session(ws["ikey"], "svc-b", "host-b", prints=7, ok=2, failed=1, start=start)
    envelopes += server_session(ws["ikey"], "svc-c", "host-shared", prints=4, ok=2, failed=1, start=start)
    envelopes += server_session(ws["ikey"], "svc-d", "host-shared", prints=0, ok=1, failed=0, start=start)
    ingest(emulator, envelopes)
    return ws


def _lines(cli: Any, ws: dict[str, Any], *args: str) -> tuple[list[dict[str, Any]], str]:
    result = cli("traces", *args, "--since", "1h", "--format", "jsonl", *ws["scope"])
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


@SCHEMAS
def test_print_lines_of_a_1_4_1_service_are_shown_for_it(
    cli: Any, one_service: dict[str, Any], schema: list[str]
) -> None:
    records, stderr = _lines(cli, one_service, "my-service", *schema)
    assert [r["message"] for r in records] == [f"my-service: custom trace {i}" for i in range(20)]
    assert {r["target"] for r in records} == {"my-service"}
    assert stderr == ""


@SCHEMAS
def test_stats_counts_the_exceptions_and_check_fails_on_them(
    cli: Any, one_service: dict[str, Any], schema: list[str]
) -> None:
    result = cli("stats", "my-service", "--since", "1h", *one_service["scope"], "-o", "json", *schema)
    assert result.exit_code == 0, result.stderr
    (target,) = result.json()["targets"]
    assert target["exceptions"]["count"] == 4
    assert target["requests"]["count"] == 10 and target["requests"]["failures"] == 4
    gate = cli(
        "check", "my-service", "--since", "1h", "--max-exceptions", "0", *one_service["scope"], *schema
    )
    assert gate.exit_code == 1, gate.stdout + gate.stderr
    assert "my-service: exceptions 4 > 0" in gate.stdout
    # positive control: the same gate passes when 4 exceptions are allowed
    allowed = cli(
        "check", "my-service", "--since", "1h", "--max-exceptions", "4", *one_service["scope"], *schema
    )
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr


@SCHEMAS
def test_two_services_on_their_own_hosts_are_told_apart(
    cli: Any, several: dict[str, Any], schema: list[str]
) -> None:
    records, stderr = _lines(cli, several, "svc-a", *schema)
    assert stderr == ""
    assert [r["message"] for r in records] == [f"svc-a: custom trace {i}" for i in range(5)]
    records, _ = _lines(cli, several, "svc-b", "svc-a", *schema)
    assert sorted(r["message"] for r in records) == sorted(
        [f"svc-a: custom trace {i}" for i in range(5)] + [f"svc-b: custom trace {i}" for i in range(7)]
    )
    assert {r["target"] for r in records if r["message"].startswith("svc-b")} == {"svc-b"}
    result = cli("stats", "svc-a", "svc-b", "--since", "1h", *several["scope"], "-o", "json", *schema)
    counts = {t["target"]: t["exceptions"]["count"] for t in result.json()["targets"]}
    assert counts == {"svc-a": 2, "svc-b": 1}


@SCHEMAS
def test_a_host_that_served_two_services_is_said_once_not_guessed(
    cli: Any, several: dict[str, Any], schema: list[str]
) -> None:
    records, stderr = _lines(cli, several, "svc-c", *schema)
    assert records == []
    notes = [line for line in stderr.splitlines() if "host" in line]
    assert len(notes) == 1, stderr
    assert "4 on 1 host that served svc-c and another service" in notes[0]
    # its exceptions still belong to it: they name their request
    result = cli("stats", "svc-c", "--since", "1h", *several["scope"], "-o", "json", *schema)
    assert result.json()["targets"][0]["exceptions"]["count"] == 1
