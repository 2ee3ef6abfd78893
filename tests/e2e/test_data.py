"""`amlmon data extract` against Azurite and a local folder; `data pull` against the emulator's query API."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amlmon import datasets
from tests.azurite import Azurite, start_azurite, stop_azurite

COMPONENT = "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG-DATA/PROVIDERS/MICROSOFT.INSIGHTS/COMPONENTS/WS-AI"
LA_WORKSPACE = (
    "/subscriptions/s1/resourcegroups/rg-data/providers/microsoft.operationalinsights/workspaces/ws-law"
)


def _v15_props(request_id: str, features: list[float]) -> dict[str, str]:
    inner = {
        "Container Id": "cont-1",
        "Request Id": request_id,
        "Client Request Id": "client-" + request_id,
        "Workspace Name": "ws",
        "Service Name": "churn",
        "Models": ("churn:1",),
        "Input": json.dumps(json.dumps({"data": [features]})),
        "Prediction": json.dumps([0.5]),
    }
    return {"custom_dimensions": repr(inner)}


def _v14_props(request_id: str, features: list[float]) -> dict[str, str]:
    return {
        "Container Id": "cont-2",
        "Request Id": request_id,
        "Client Request Id": "client-" + request_id,
        "Workspace Name": "ws",
        "Service Name": "churn-old",
        "Models": "['churn:2']",
        "Input": json.dumps({"data": [features]}),
        "Prediction": json.dumps([1]),
    }


def _record(time_text: str, role: str, props: dict[str, Any], message: str = "model_data_collection") -> str:
    return json.dumps(
        {
            "time": time_text,
            "resourceId": COMPONENT,
            "ResourceGUID": "00000000-0000-0000-0000-000000000001",
            "Type": "AppTraces",
            "AppRoleInstance": "host-1",
            "AppRoleName": role,
            "ClientType": "PC",
            "IKey": "00000000-0000-0000-0000-0000000000aa",
            "OperationId": "0" * 32,
            "Properties": props,
            "Message": message,
            "SeverityLevel": 1,
            "ItemCount": 1,
        }
    )


def export_files() -> dict[tuple[str, str], str]:
    """(container, blob name) → content: both layouts, both generations, a cut record, noise."""
    cut = {
        "custom_dimensions": repr(
            {"Request Id": "r-cut", "Input": json.dumps(json.dumps({"d": "x" * 9000}))}
        )[:8192]
    }
    diag_10 = "\n".join(
        [
            _record("2026-11-20T10:05:00.1000000Z", "churn", _v15_props("r1", [1.0, 2.0])),
            _record("2026-11-20T10:06:00.0000000Z", "azmlinfsrv", _v14_props("r2", [3.0, 4.0])),
            _record(
                "2026-11-20T10:07:00.0000000Z", "churn", {"code.function.name": "run"}, message="scoring"
            ),
            "{this line is broken",
            _record("2026-11-20T10:08:00.0000000Z", "churn", cut),
        ]
    )
    diag_11 = _record("2026-11-20T11:01:00.0000000Z", "churn", _v15_props("r3", [5.0, 6.0]))
    export = json.dumps(
        {
            "TimeGenerated": "2026-11-20T11:30:00.0000000Z",
            "Type": "AppTraces",
            "_ResourceId": COMPONENT.lower(),
            "AppRoleName": "churn",
            "Message": "model_data_collection",
            "Properties": _v15_props("r4", [7.0, 8.0]),
        }
    )
    base = f"resourceId={COMPONENT}"
    return {
        ("insights-logs-apptraces", f"{base}/y=2026/m=11/d=20/h=10/m=00/PT1H.json"): diag_10 + "\n",
        ("insights-logs-apptraces", f"{base}/y=2026/m=11/d=20/h=11/m=00/PT1H.json"): diag_11 + "\n",
        ("am-apptraces", f"WorkspaceResourceId={LA_WORKSPACE}/y=2026/m=11/d=20/h=11/m=30/PT05M.json"): export
        + "\n",
        ("am-apptraces", f"WorkspaceResourceId={LA_WORKSPACE}/y=2026/m=11/d=20/h=11/m=30/PT05M_1.json"): "",
    }


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    handle = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        service = handle.service()
        for (container, name), content in export_files().items():
            if not service.get_container_client(container).exists():
                service.create_container(container)
            service.get_blob_client(container, name).upload_blob(content.encode(), overwrite=True)
        yield handle
    finally:
        stop_azurite(handle)


def _ids(path: Path) -> list[str]:
    return sorted(str(row["request_id"]) for row in datasets.read_rows(path))


@pytest.mark.azurite
def test_extract_from_a_container_url_reads_both_generations(
    cli: Any, azurite: Azurite, tmp_path: Path
) -> None:
    out = tmp_path / "md.parquet"
    result = cli(
        "data",
        "extract",
        f"{azurite.blob_endpoint}/insights-logs-apptraces",
        "--out",
        str(out),
        "-o",
        "json",
        env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["rows"] == 4 and summary["truncated"] == 1 and summary["malformed"] == 1
    assert summary["skipped"] == 1 and summary["blobs"] == 2
    rows = {row["request_id"]: row for row in datasets.read_rows(out)}
    assert rows["r1"]["input"] == {"data": [[1.0, 2.0]]} and rows["r1"]["service"] == "churn"
    assert rows["r2"]["service"] == "churn-old" and rows["r2"]["generation"] == "1.4"
    assert rows["r-cut"]["truncated"] is True and rows["r-cut"]["input"] is None
    assert "1 records were cut" in result.stderr and "1 lines were not JSON" in result.stderr
    assert azurite.account_key not in result.stdout + result.stderr


@pytest.mark.azurite
def test_extract_from_an_account_finds_both_layouts_and_prunes_by_folder(
    cli: Any, azurite: Azurite, tmp_path: Path
) -> None:
    out = tmp_path / "md.jsonl"
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    result = cli("data", "extract", azurite.blob_endpoint, "--out", str(out), "-o", "json", env=env)
    assert result.exit_code == 0, result.stderr
    assert _ids(out) == ["r-cut", "r1", "r2", "r3", "r4"]
    pruned = cli(
        "data", "extract", azurite.blob_endpoint, "--out", str(out), "--since", "2026-11-20T11:00:00Z",
        "-o", "json", env=env,
    )  # fmt: skip
    assert pruned.exit_code == 0, pruned.stderr
    assert _ids(out) == ["r3", "r4"]


@pytest.mark.azurite
def test_extract_storage_failures_are_one_line_and_leave_no_file(
    cli: Any, azurite: Azurite, tmp_path: Path
) -> None:
    out = tmp_path / "md.csv"
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string, "AMLMON_STORAGE_BACKOFF": "0"}
    missing = cli("data", "extract", f"{azurite.blob_endpoint}/no-such-container", "--out", str(out), env=env)
    assert missing.exit_code == 3 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    bad_key = azurite.connection_string.replace(azurite.account_key, "d3Jvbmcta2V5" * 7 + "AA==")
    refused = cli(
        "data", "extract", f"{azurite.blob_endpoint}/insights-logs-apptraces", "--out", str(out),
        env={**env, "AZURE_STORAGE_CONNECTION_STRING": bad_key},
    )  # fmt: skip
    assert refused.exit_code == 4 and "refused the credential" in refused.stderr
    assert "d3Jvbmcta2V5" not in refused.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.azurite
def test_extract_from_a_stopped_storage_endpoint_fails_after_retries(
    cli: Any, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    handle = start_azurite(tmp_path_factory.mktemp("azurite-stopped"))
    connection_string = handle.connection_string
    endpoint = handle.blob_endpoint
    stop_azurite(handle)
    out = tmp_path / "md.parquet"
    started = time.monotonic()
    result = cli(
        "data", "extract", f"{endpoint}/insights-logs-apptraces", "--out", str(out),
        env={"AZURE_STORAGE_CONNECTION_STRING": connection_string, "AMLMON_STORAGE_BACKOFF": "0"},
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert "could not reach the storage account" in result.stderr and "after retries" in result.stderr
    assert time.monotonic() - started < 30
    assert not out.exists()


def test_extract_from_a_local_folder_matches_the_blob_layout(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "export"
    for (container, name), content in export_files().items():
        path = root / container / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    out = tmp_path / "md.csv"
    result = cli("data", "extract", str(root), "--out", str(out), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["rows"] == 5
    assert _ids(out) == ["r-cut", "r1", "r2", "r3", "r4"]
    rows = {row["request_id"]: row for row in datasets.read_rows(out)}
    assert rows["r4"]["prediction"] == [0.5] and rows["r1"]["models"] == ["churn:1"]
    missing = cli("data", "extract", str(tmp_path / "nope"), "--out", str(out))
    assert missing.exit_code == 3


def test_unknown_output_format_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    result = cli("data", "extract", str(tmp_path), "--out", str(tmp_path / "x.txt"))
    assert result.exit_code == 2 and ".parquet, .jsonl or .csv" in result.stderr


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
