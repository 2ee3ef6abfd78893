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
from tests.azurite import ACCOUNT, Azurite, start_azurite, stop_azurite
from tests.helpers import finish, kill_once_parts_saved, parts_done

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
    assert "1 record was cut" in result.stderr and "1 line was not a JSON record" in result.stderr
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
        "--overwrite", "-o", "json", env=env,
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
    # a connection string's key was refused (no Entra ID token was sent): not a role to ask for
    assert refused.exit_code == 4 and "refused the account key in the connection string" in refused.stderr
    assert "role" not in refused.stderr and "d3Jvbmcta2V5" not in refused.stderr
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


@pytest.mark.parametrize("storage", ["refuses connections", "never answers"])
def test_a_pull_from_a_failing_storage_endpoint_ends_within_its_timeout(tmp_path: Path, storage: str) -> None:
    """`data pull --timeout 2s` against a storage port that refuses connections, or takes them and never
    answers: exit 5 naming --timeout, well within 5 s (the interpreter's start included), nothing left.
    The blob client's retries knew no deadline: three 2 s waits (6.5 s, exit 1), or four reads of 60 s."""
    import socket

    from tests.azurite import DEV_ACCOUNT_KEY
    from tests.conftest import spawn_amlmon

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if storage == "refuses connections":
        server.close()
    else:
        server.listen(8)  # the kernel takes the connections; nothing reads or answers them
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    connection = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};BlobEndpoint={endpoint};"
    out = tmp_path / "collected.parquet"
    try:
        started = time.monotonic()
        process = spawn_amlmon(
            [
                *("data", "pull", "ep/blue", "--datastore-url", f"{endpoint}/azureml-blobstore-x"),
                *("--out", str(out), "--timeout", "2s"),
            ],
            {"AZURE_STORAGE_CONNECTION_STRING": connection},
        )
        _, stderr = finish(process, 30)
        took = time.monotonic() - started
    finally:
        server.close()
    assert process.returncode == 5, stderr
    error, hint = stderr.strip().splitlines()
    assert error.startswith("error: gave up after --timeout 2s: the storage account did not answer"), error
    assert hint.startswith("hint: ") and "--timeout" in hint, hint
    assert took < 5, (took, stderr)
    assert not list(tmp_path.iterdir()), "no dataset, no parts folder, no lock"


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
    flat = cli(
        "data", "extract", str(root), "--out", str(tmp_path / "flat.parquet"), "--flatten", "-o", "json"
    )
    assert flat.exit_code == 0, flat.stderr
    assert flat.json()["flattened"] == ["input.data[0][0]", "input.data[0][1]", "prediction[0]"]
    by_id = {row["request_id"]: row for row in datasets.read_rows(tmp_path / "flat.parquet")}
    assert by_id["r2"]["input.data[0][1]"] == 4.0 and by_id["r-cut"]["prediction[0]"] is None
    missing = cli("data", "extract", str(tmp_path / "nope"), "--out", str(tmp_path / "new.csv"))
    assert (
        missing.exit_code == 2
    )  # a local path is input (test_extract_from_a_local_folder_that_is_not_there…)


def _export_folder(root: Path) -> Path:
    for (container, name), content in export_files().items():
        path = root / container / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_an_existing_out_file_is_kept_unless_overwrite(cli: Any, tmp_path: Path) -> None:
    root = _export_folder(tmp_path / "export")
    out = tmp_path / "md.jsonl"
    out.write_text("yesterday's labels\n")
    refused = cli("data", "extract", str(root), "--out", str(out))
    assert refused.exit_code == 2, refused.stderr
    assert refused.stderr.splitlines() == [
        f"error: --out {str(out)!r} already exists",
        "hint: pass --overwrite to replace it, or choose another --out",
    ]
    assert out.read_text() == "yesterday's labels\n"
    replaced = cli("data", "extract", str(root), "--out", str(out), "--overwrite", "-o", "json")
    assert replaced.exit_code == 0, replaced.stderr
    assert _ids(out) == ["r-cut", "r1", "r2", "r3", "r4"]


def test_out_extension_and_format_must_agree(cli: Any, tmp_path: Path) -> None:
    root = _export_folder(tmp_path / "export")
    out = tmp_path / "x.jsonl"
    result = cli("data", "extract", str(root), "--out", str(out), "--format", "parquet")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --format parquet does not match --out {str(out)!r}")
    assert "hint: drop --format (the extension decides) or name the file x.parquet" in result.stderr
    assert not out.exists()
    same = cli("data", "extract", str(root), "--out", str(out), "--format", "jsonl", "-o", "json")
    assert same.exit_code == 0, same.stderr


@pytest.mark.parametrize("where", ["folder", "proc", "under-a-file"])
def test_an_out_that_cannot_be_written_is_one_line_and_leaves_nothing(
    cli: Any, tmp_path: Path, where: str
) -> None:
    root = _export_folder(tmp_path / "export")
    work = tmp_path / "work"
    work.mkdir()
    (work / "a-file").write_text("x")
    out = {"folder": work, "proc": Path("/proc/amlmon-x.jsonl"), "under-a-file": work / "a-file" / "x.jsonl"}[
        where
    ]
    result = cli("data", "extract", str(root), "--out", str(out))
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "unexpected" not in result.stderr
    assert sorted(p.name for p in work.iterdir()) == ["a-file"], "no parts directory or temp file left"
    assert not any(p.name.startswith(".amlmon-x") for p in Path("/proc").iterdir())


def test_pull_refuses_an_unusable_out_before_querying(
    cli: Any, emulator: Any, pulled_ws: dict[str, Any], tmp_path: Path
) -> None:
    existing = tmp_path / "md.parquet"
    existing.write_bytes(b"PAR1")
    (tmp_path / "named.jsonl").mkdir()
    before = emulator.last_seq()
    for out, message in (
        (existing, "already exists"),
        (tmp_path, "is a folder"),
        (tmp_path / "named.jsonl", "is a folder"),
        (
            Path("/proc/amlmon-x.jsonl"),
            "error: cannot write --out '/proc/amlmon-x.jsonl': folder '/proc' accepts no new files "
            "(a virtual file system such as /proc or /sys)",
        ),
        (
            existing / "x.jsonl",
            f"error: cannot write --out {str(existing / 'x.jsonl')!r}: {str(existing)!r} is not a folder",
        ),
    ):
        result = cli("data", "pull", *pulled_ws["args"], "--since", "3h", "--out", str(out))
        assert result.exit_code == 2, result.stderr
        assert message in result.stderr.splitlines()[0] and len(result.stderr.splitlines()) == 2
        if message.startswith("error: cannot write"):  # the path and the reason, not a bare strerror
            assert result.stderr.splitlines() == [
                message,
                f"hint: choose --out in a folder you can write to, e.g. --out ./{out.name}",
            ]
    assert existing.read_bytes() == b"PAR1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["md.parquet", "named.jsonl"]
    assert not [e for e in emulator.requests_since(before) if "/query" in str(e.get("path", ""))]


@pytest.mark.usefixtures("clear_faults")
def test_ctrl_c_before_the_first_slice_says_nothing_was_kept(
    emulator: Any, pulled_ws: dict[str, Any], tmp_path: Path
) -> None:
    import signal

    from tests.conftest import spawn_amlmon

    out = tmp_path / "md.jsonl"
    parts = tmp_path / ".md.jsonl.amlmon-parts"
    # Every query answers after 30 s: the pull is inside its first query when Ctrl-C arrives.
    emulator.admin(
        "POST", "/_emulator/faults", {"kind": "slow", "delay": 30, "path": "/query$", "count": None}
    )
    process = spawn_amlmon(
        ["data", "pull", *pulled_ws["args"], "--since", "3h", "--out", str(out)], emulator.env()
    )
    deadline = time.monotonic() + 60
    while not parts.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert parts.exists(), "the pull started (its parts directory appeared)"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert (
        f"note: interrupted before the first slice was saved: nothing was kept ({out} not created)" in stderr
    )
    assert not out.exists() and not parts.exists()


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_during_an_extract_says_nothing_was_kept(tmp_path: Path, signum: str) -> None:
    """Ctrl-C, and SIGTERM taken as it (a cancelled CI job, `timeout`, `docker stop`), as `data pull`
    does: exit 130, the note, no parts folder, lock or temp file left (SIGTERM ended the process where it
    stood, leaving them)."""
    import signal
    import socket

    from tests.azurite import ACCOUNT, DEV_ACCOUNT_KEY
    from tests.conftest import spawn_amlmon

    with socket.socket() as probe:  # a port nothing listens on: the storage client retries, slowly
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    connection = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};BlobEndpoint={endpoint};"
    out = tmp_path / "md.jsonl"
    process = spawn_amlmon(
        ["data", "extract", f"{endpoint}/insights-logs-apptraces", "--out", str(out)],
        {"AZURE_STORAGE_CONNECTION_STRING": connection, "AMLMON_STORAGE_BACKOFF": "10"},
    )
    time.sleep(3)  # started, and waiting between retries (three 10 s waits ahead)
    assert process.poll() is None, process.communicate()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".md.jsonl.amlmon-lock", ".md.jsonl.amlmon-parts"]
    process.send_signal(getattr(signal, signum))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert f"note: interrupted: nothing was kept ({out} not created)" in stderr
    assert list(tmp_path.iterdir()) == [], "no parts directory, no temp file"


def test_extract_reads_export_files_outside_their_time_folders(cli: Any, tmp_path: Path) -> None:
    # PT1H.json files copied out of y=/m=/d=/h=/m= folders (e.g. downloaded one by one) used to give 0 rows.
    flat = tmp_path / "downloads"
    flat.mkdir()
    for index, ((_container, _name), content) in enumerate(sorted(export_files().items())):
        (flat / f"hour{index}").mkdir()
        (flat / f"hour{index}" / ("PT1H.json" if index % 2 else "PT05M.json")).write_text(content)
    (flat / "notes.json").write_text("{}")
    out = tmp_path / "md.jsonl"
    result = cli("data", "extract", str(flat), "--out", str(out), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert _ids(out) == ["r-cut", "r1", "r2", "r3", "r4"]
    assert (
        "warning: 1 .json file was not read: export files are named PT1H.json or PT05M.json" in result.stderr
    )
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "notes.json").write_text("{}")
    none = cli("data", "extract", str(empty), "--out", str(tmp_path / "none.jsonl"))
    assert none.exit_code == 3 and "no export files (PT1H.json, PT05M.json)" in none.stderr
    assert not (tmp_path / "none.jsonl").exists()


def test_flatten_names_the_records_it_could_not_flatten(cli: Any, tmp_path: Path) -> None:
    root = _export_folder(tmp_path / "export")
    odd = _record("2026-11-20T11:02:00.0000000Z", "churn", _v15_props("r-odd", [1.0, 2.0, 3.0]))
    extra = root / "insights-logs-apptraces" / f"resourceId={COMPONENT}/y=2026/m=11/d=20/h=11/m=00/PT1H.json"
    extra.write_text(extra.read_text() + odd + "\n")
    out = tmp_path / "flat.parquet"
    result = cli("data", "extract", str(root), "--out", str(out), "--flatten", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["flattened"] == ["prediction[0]"]
    assert (
        "warning: --flatten: input was not flattened in any record: 1 record has another shape than the "
        "first (request r-odd)" in result.stderr
    )
    assert "warning: --flatten: 1 truncated record has no flattened values (request r-cut)" in result.stderr


def test_csv_keeps_the_same_json_text_with_and_without_flatten(cli: Any, tmp_path: Path) -> None:
    import csv

    root = _export_folder(tmp_path / "export")
    plain, flat = tmp_path / "plain.csv", tmp_path / "flat.csv"
    assert cli("data", "extract", str(root), "--out", str(plain)).exit_code == 0
    assert cli("data", "extract", str(root), "--out", str(flat), "--flatten").exit_code == 0

    def texts(path: Path) -> list[tuple[str, str]]:
        with open(path, newline="", encoding="utf-8") as handle:
            return [(row["input"], row["prediction"]) for row in csv.DictReader(handle)]

    assert texts(flat) == texts(plain)
    assert ('{"data": [[1.0, 2.0]]}', "[0.5]") in texts(plain), "the text the server sent, as sent"


def test_unknown_output_format_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    result = cli("data", "extract", str(tmp_path), "--out", str(tmp_path / "x.txt"))
    assert result.exit_code == 2 and ".parquet, .jsonl or .csv" in result.stderr


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------------------------------------
# data pull: the query API, sliced, verified, resumable
# ------------------------------------------------------------------------------------------------
def _pull_workspace(emulator: Any) -> dict[str, Any]:
    services = [{"name": "churn", "computeType": "ACI"}, {"name": "fraud", "computeType": "AKS"}]
    ws = emulator.create_workspace("data", services=services)
    seeded = emulator.seed(ws, ["churn", "fraud"], hours=2, ratePerMinute=3, generation="mixed", seed=11)
    return {"args": ws["scope"], "truth": seeded["truth"], **ws}


@pytest.fixture(scope="module")
def pulled_ws(emulator: Any) -> dict[str, Any]:
    return _pull_workspace(emulator)


def _cut_envelope(ikey: str, request_id: str, time: str | None = None) -> dict[str, Any]:
    """A 1.5.1 model_data_collection trace whose custom_dimensions App Insights cut at 8,192 characters."""
    inner = repr(
        {
            "Request Id": request_id,
            "Service Name": "churn",
            "Input": json.dumps(json.dumps({"d": "x" * 9000})),
        }
    )
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": time or datetime_now_iso(),
        "iKey": ikey,
        "tags": {"ai.cloud.role": "churn", "ai.cloud.roleInstance": "host-9", "ai.operation.id": "0" * 32},
        "data": {
            "baseType": "MessageData",
            "baseData": {
                "ver": 2,
                "message": "model_data_collection",
                "properties": {"custom_dimensions": inner[:8192]},
            },
        },
    }


def datetime_now_iso() -> str:
    import datetime as dt

    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_pull_slices_the_range_and_matches_the_seed(
    cli: Any, pulled_ws: dict[str, Any], tmp_path: Path
) -> None:
    expected = sum(int(t.get("modelData", 0)) for t in pulled_ws["truth"].values())
    assert expected > 100
    out = tmp_path / "md.parquet"
    result = cli(
        "data", "pull", *pulled_ws["args"], "--since", "3h", "--out", str(out), "-o", "json",
        env={"AMLMON_DATA_SLICE_ROWS": "60"},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["rows"] == expected and summary["verified"] is True and summary["slices"] > 3
    rows = list(datasets.read_rows(out))
    assert len(rows) == expected
    assert len({(r["time"], r["request_id"], json.dumps(r["input"])) for r in rows}) == expected, (
        "no duplicates"
    )
    assert {r["generation"] for r in rows} == {"1.4", "1.5"}
    assert {r["service"] for r in rows} == {"churn", "fraud"}
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no parts or temp files left"

    la = tmp_path / "la.parquet"
    through_la = cli(
        "data", "pull", *pulled_ws["args"], "--since", "3h", "--out", str(la), "--log-analytics", "-o", "json"
    )  # fmt: skip
    assert through_la.exit_code == 0, through_la.stderr
    assert sorted(datasets.read_rows(la), key=datasets.row_key) == sorted(rows, key=datasets.row_key)

    one = cli(
        "data",
        "pull",
        "churn",
        *pulled_ws["args"],
        "--since",
        "3h",
        "--out",
        str(tmp_path / "c.jsonl"),
        "-o",
        "json",
    )
    assert one.exit_code == 0, one.stderr
    assert one.json()["rows"] == int(pulled_ws["truth"]["churn"]["modelData"])


def test_pull_keeps_truncated_records_flagged(cli: Any, emulator: Any, tmp_path: Path) -> None:
    ws = _pull_workspace(emulator)
    status, body = emulator.admin(
        "POST",
        "/_emulator/telemetry/rows",
        {
            "instrumentationKey": ws["instrumentationKey"],
            "envelopes": [_cut_envelope(ws["instrumentationKey"], "r-cut-1")],
        },
    )
    assert status in (200, 201), body
    out = tmp_path / "md.jsonl"
    result = cli("data", "pull", "churn", *ws["args"], "--since", "3h", "--out", str(out), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["truncated"] >= 1 and "cut by Application Insights" in result.stderr
    [cut] = [r for r in datasets.read_rows(out) if r["request_id"] == "r-cut-1"]
    assert cut["truncated"] is True and cut["input"] is None and len(cut["raw"]) == 8192


def test_pull_print_query_escapes_targets(cli: Any, pulled_ws: dict[str, Any], tmp_path: Path) -> None:
    result = cli(
        "data",
        "pull",
        "churn",
        "ep/blue",
        *pulled_ws["args"],
        "--print-query",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert result.exit_code == 0, result.stderr
    assert 'message == "model_data_collection"' in result.stdout and '"ep"' in result.stdout
    assert not (tmp_path / "x.csv").exists()


def test_pull_survives_transient_query_faults(
    cli: Any, emulator: Any, pulled_ws: dict[str, Any], tmp_path: Path
) -> None:
    for rule in (
        {"kind": "status", "status": 503, "path": "/query$", "count": 1},
        {"kind": "status", "status": 429, "retryAfter": 1, "path": "/query$", "count": 1},
        {"kind": "reset", "path": "/query$", "count": 1},
    ):
        status, _ = emulator.admin("POST", "/_emulator/faults", rule)
        assert status in (200, 201)
    out = tmp_path / "md.csv"
    result = cli(
        "data",
        "pull",
        *pulled_ws["args"],
        "--since",
        "3h",
        "--out",
        str(out),
        "-o",
        "json",
        env={"AMLMON_DATA_SLICE_ROWS": "200"},
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["rows"] == sum(int(t.get("modelData", 0)) for t in pulled_ws["truth"].values())


def test_resume_over_a_finished_pull_of_another_target_keeps_the_users_file(
    cli: Any, pulled_ws: dict[str, Any], tmp_path: Path
) -> None:
    """A finished dataset (no parts folder) for TARGET churn, then `data pull fraud --resume` to the same
    --out: nothing to resume, so it is a new pull to an existing file, refused as without --resume (README:
    never replaced without --overwrite); the file stays churn's. --overwrite replaces it (the control)."""
    out = tmp_path / "f.parquet"
    scope = [*pulled_ws["args"], "--since", "3h", "--out", str(out)]
    first = cli("data", "pull", "churn", *scope, "-o", "json")
    assert first.exit_code == 0 and first.json()["rows"] > 0, first.stderr
    churn = out.read_bytes()
    refused = cli("data", "pull", "fraud", *scope, "--resume")
    assert refused.exit_code == 2, refused.stderr
    assert refused.stderr.splitlines() == [
        f"error: --out {str(out)!r} already exists, and --resume has nothing to resume (no interrupted run to it)",
        "hint: pass --overwrite to replace it, or choose another --out",
    ]
    assert out.read_bytes() == churn and sorted(p.name for p in tmp_path.iterdir()) == ["f.parquet"]
    replaced = cli("data", "pull", "fraud", *scope, "--overwrite", "-o", "json")
    assert replaced.exit_code == 0, replaced.stderr
    assert out.read_bytes() != churn


def test_a_failed_pull_leaves_no_file_and_resume_finishes_it(
    cli: Any, emulator: Any, pulled_ws: dict[str, Any], tmp_path: Path
) -> None:
    import datetime as dt

    whole = tmp_path / "whole.jsonl"
    until = datetime_now_iso()
    # One fixed window for every run: a relative --since moves between runs, and a row crossing a slice
    # boundary then changes the slice plan the query count below is measured against
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = [*pulled_ws["args"], "--since", since, "--until", until, "-o", "json"]
    env = {"AMLMON_DATA_SLICE_ROWS": "60"}
    first = cli("data", "pull", *args, "--out", str(whole), env=env)
    assert first.exit_code == 0, first.stderr
    slices = int(first.json()["slices"])
    # A persistent outage after a few slices: the run fails, the finished slices stay for --resume.
    out = tmp_path / "md.jsonl"
    failing = _pull_with_outage_after(cli, emulator, args, out, env, after_slices=3)
    assert failing.exit_code != 0 and not out.exists()
    assert "--resume" in failing.stderr and "Traceback" not in failing.stderr
    parts = json.loads((tmp_path / ".md.jsonl.amlmon-parts" / "checkpoint.json").read_text())["parts"]
    assert len(parts) >= 3
    # Other options than the interrupted pull's: each named with its saved and given value, exit 2.
    other = [*pulled_ws["args"], "--since", since, "--until", "5m", "--flatten", "-o", "json"]
    refused = cli("data", "pull", *other, "--out", str(out), "--resume", env=env)
    assert refused.exit_code == 2, refused.stderr
    error, hint = refused.stderr.splitlines()
    assert f"--until was {until!r}, now '5m'; --flatten was off, now on" in error and "--since" not in error
    assert hint.startswith("hint: repeat the interrupted pull's options") and not out.exists()
    seq = emulator.last_seq()
    resumed = cli("data", "pull", *args, "--out", str(out), "--resume", env=env)
    assert resumed.exit_code == 0, resumed.stderr
    assert out.read_text() == whole.read_text(), "resume gives the same file as an uninterrupted run"
    queries = [r for r in emulator.requests_since(seq) if r["path"].endswith("/query") and r["status"] == 200]
    # +1: the final count. (The failed run's prefetch of its next slice, left on a thread, used to send
    # its last retry once the outage ended, inside this window; a command's requests stop when it ends.)
    assert len(queries) <= slices - len(parts) + 1, "finished slices are not fetched again"


def test_resumed_pull_reports_the_figures_of_an_uninterrupted_one(
    cli: Any, emulator: Any, tmp_path: Path
) -> None:
    """Issue 12.6: truncated records and halvings of slices finished before a failure are in the
    checkpoint, so the resumed run's summary equals the uninterrupted run's, figure for figure."""
    import datetime as dt

    ws = _pull_workspace(emulator)
    now = dt.datetime.now(dt.UTC)
    cut = [
        _cut_envelope(
            ws["instrumentationKey"],
            f"r-cut-{minute}",
            (now - dt.timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )
        for minute in range(7, 120, 4)
    ]
    status, body = emulator.admin(
        "POST",
        "/_emulator/telemetry/rows",
        {"instrumentationKey": ws["instrumentationKey"], "envelopes": cut},
    )
    assert status in (200, 201), body
    since = (now - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = [*ws["scope"], "--since", since, "--until", _now_iso(), "-o", "json"]
    env = {"AMLMON_DATA_SLICE_ROWS": "60"}
    try:
        # Answers cut at 40 rows while slices plan 60: slices are halved, and halvings are a figure too.
        emulator.admin("PUT", "/_emulator/settings", {"queryRowLimit": 40})
        whole = cli("data", "pull", *args, "--out", str(tmp_path / "whole.jsonl"), env=env)
        assert whole.exit_code == 0, whole.stderr
        assert whole.json()["slices"] >= 4
        out = tmp_path / "md.jsonl"
        failing = _pull_with_outage_after(cli, emulator, args, out, env, after_slices=2)
        assert failing.exit_code != 0 and not out.exists()
        resumed = cli("data", "pull", *args, "--out", str(out), "--resume", env=env)
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"queryRowLimit": None})
    assert resumed.exit_code == 0, resumed.stderr
    expected = {k: v for k, v in whole.json().items() if k != "path"}
    assert expected["truncated"] == len(cut) and expected["halvings"] > 0
    assert {k: v for k, v in resumed.json().items() if k != "path"} == expected
    assert sum(1 for row in datasets.read_rows(out) if row["truncated"]) == expected["truncated"]


def _pull_with_outage_after(
    cli: Any, emulator: Any, args: list[str], out: Path, env: dict[str, str], after_slices: int
) -> Any:
    """Run a pull whose query calls start failing after `after_slices` slices (+ histogram) succeeded."""
    import threading

    stop = threading.Event()
    parts_dir = out.with_name(f".{out.name}.amlmon-parts")

    def inject() -> None:
        while not stop.is_set():
            checkpoint = parts_dir / "checkpoint.json"
            try:
                done = len(json.loads(checkpoint.read_text())["parts"])
            except (OSError, ValueError, KeyError):
                done = 0
            if done >= after_slices:
                emulator.admin("DELETE", "/_emulator/faults")
                emulator.admin(
                    "POST",
                    "/_emulator/faults",
                    {"kind": "status", "status": 500, "path": "/query$", "count": None},
                )
                return
            time.sleep(0.005)

    thread = threading.Thread(target=inject)
    thread.start()
    emulator.admin(
        "POST", "/_emulator/faults", {"kind": "slow", "delay": 0.3, "path": "/query$", "count": None}
    )
    try:
        return cli("data", "pull", *args, "--out", str(out), env=env)
    finally:
        stop.set()
        thread.join()
        emulator.admin("DELETE", "/_emulator/faults")


def test_pull_halves_a_slice_the_service_cuts(
    cli: Any, emulator: Any, pulled_ws: dict[str, Any], tmp_path: Path
) -> None:
    expected = sum(int(t.get("modelData", 0)) for t in pulled_ws["truth"].values())
    args = [*pulled_ws["args"], "--since", "3h", "--until", _now_iso(), "-o", "json"]
    whole = cli("data", "pull", *args, "--out", str(tmp_path / "whole.parquet"))
    assert whole.exit_code == 0, whole.stderr
    try:
        # Answers cut at 40 rows while amlmon plans slices of ~200: every slice comes back cut.
        emulator.admin("PUT", "/_emulator/settings", {"queryRowLimit": 40})
        cut = cli(
            "data",
            "pull",
            *args,
            "--out",
            str(tmp_path / "cut.parquet"),
            env={"AMLMON_DATA_SLICE_ROWS": "200"},
        )
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"queryRowLimit": None})
    assert cut.exit_code == 0, cut.stderr
    summary = cut.json()
    assert summary["halvings"] > 0 and summary["rows"] == expected and summary["verified"] is True
    assert list(datasets.read_rows(tmp_path / "cut.parquet")) == list(
        datasets.read_rows(tmp_path / "whole.parquet")
    )


def _now_iso() -> str:
    """Now, a fixed --until: runs compared with each other read the same range (the seed ends now)."""
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest_of(path: Path) -> str:
    """The seed's model data digest, computed from a pulled Parquet file."""
    import pyarrow.parquet as pq

    from amlmon.emulator.seed_rows import digest_line, model_data_digest

    table = pq.read_table(path, columns=["request_id", "input", "prediction", "truncated"])
    lines = [
        digest_line(
            row["request_id"],
            None if row["truncated"] else json.loads(row["input"]),
            None if row["truncated"] else json.loads(row["prediction"]),
            bool(row["truncated"]),
        )
        for row in table.to_pylist()
    ]
    return model_data_digest(lines)


def test_pull_of_over_half_a_million_rows_survives_a_kill_and_matches_the_seed(
    cli: Any, emulator: Any, tmp_path: Path
) -> None:
    """More rows than one answer may hold (500,000): sliced, every row once, the seed's contents; a pull
    killed mid-run (SIGKILL, no clean-up) and resumed writes the same file as an uninterrupted one."""

    import pyarrow.parquet as pq

    ws = emulator.create_workspace(
        "big", services=[{"name": "big-a", "computeType": "ACI"}, {"name": "big-b", "computeType": "AKS"}]
    )
    seeded = emulator.seed(
        ws,
        ["big-a", "big-b"],
        timeout=600,
        hours=2,
        ratePerMinute=2100,  # 2 × 2,100 × 120 = 504,000 requests, each with its model data record
        failureRate={"big-a": 0, "big-b": 0},
        generation="mixed",
        kinds=["modelData"],
        digest=True,
        seed=7,
    )
    expected = sum(int(t["modelData"]) for t in seeded["truth"].values())
    assert expected > 500_000
    args = ["data", "pull", *ws["scope"], "--since", "3h", "--until", _now_iso(), "-o", "json"]

    whole = tmp_path / "whole.parquet"
    result = cli(*args, "--out", str(whole))
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert (summary["rows"], summary["counted"], summary["verified"]) == (expected, expected, True)
    assert summary["slices"] > 1
    assert _digest_of(whole) == seeded["modelDataDigest"], "the same records as the seed, each once"

    out = tmp_path / "resumed.parquet"
    kill_once_parts_saved(args, out, emulator.env(), parts=3, timeout=300)
    assert not out.exists() and 3 <= parts_done(out) < summary["slices"]
    resumed = cli(*args, "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.json()["rows"] == expected
    assert pq.read_table(out).equals(pq.read_table(whole)), (
        "resume gives the same file as an uninterrupted run"
    )


@pytest.mark.azurite
def test_debug_logs_every_storage_request_without_the_sas_signature_or_the_account_key(
    cli: Any, azurite: Azurite, tmp_path: Path
) -> None:
    import datetime as dt

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    container = "insights-logs-apptraces"
    sas = generate_container_sas(
        ACCOUNT,
        container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    signature = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
    runs = {
        "sas": cli(
            "data",
            "extract",
            f"{azurite.blob_endpoint}/{container}?{sas}",
            "--out",
            str(tmp_path / "a.jsonl"),
            "--debug",
            "-o",
            "json",
        ),
        "key": cli(
            "data",
            "extract",
            f"{azurite.blob_endpoint}/{container}",
            "--out",
            str(tmp_path / "b.jsonl"),
            "--debug",
            "-o",
            "json",
            env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
        ),
    }
    for how, result in runs.items():
        assert result.exit_code == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("debug: amlmon.storage: ")]
        # the listing and each blob's download, each with its status and duration
        assert any(" GET " in f" {line} " and "comp=list" in line and "→ 200 (" in line for line in lines), (
            how
        )
        assert sum(".json" in line.split("?")[0] and "→ 20" in line for line in lines) >= 2, lines
        everything = result.stdout + result.stderr
        assert signature not in everything and azurite.account_key not in everything, how
    assert "sig=***" in runs["sas"].stderr
    quiet = cli(
        "data",
        "extract",
        f"{azurite.blob_endpoint}/{container}?{sas}",
        "--out",
        str(tmp_path / "c.jsonl"),
        "-o",
        "json",
    )
    assert quiet.exit_code == 0 and "amlmon.storage" not in quiet.stderr


def _tail_until_following(env: dict[str, str], url: str) -> Any:
    from tests.conftest import spawn_amlmon

    process = spawn_amlmon(["data", "tail", "--datastore-url", url, "--interval", "200ms"], env)
    assert "following" in process.stderr.readline()  # type: ignore[union-attr]
    return process


@pytest.mark.azurite
@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_ends_data_tail_with_130_and_no_traceback(azurite: Azurite, signum: str) -> None:
    """Like traces -f: exit 130 and `interrupted`, whichever moment of the poll loop Ctrl-C meets.
    SIGTERM (`timeout`, a cancelled CI job) ends it the same way: it ended silently with 143."""
    import signal

    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    for delay in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        process = _tail_until_following(env, f"{azurite.blob_endpoint}/insights-logs-apptraces")
        time.sleep(delay)  # different moments of the 200 ms poll cycle
        assert process.poll() is None, process.communicate()
        process.send_signal(getattr(signal, signum))
        _, stderr = finish(process, 20)
        assert process.returncode == 130, (delay, stderr)
        assert stderr.strip().splitlines()[-1] == "interrupted", stderr
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_ctrl_c_during_data_tails_storage_retries_exits_130_at_once(tmp_path: Path) -> None:
    import signal
    import socket

    from tests.azurite import DEV_ACCOUNT_KEY
    from tests.conftest import spawn_amlmon

    with socket.socket() as probe:  # a port nothing listens on: the storage client retries, slowly
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    connection = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};BlobEndpoint={endpoint};"
    process = spawn_amlmon(
        ["data", "tail", "--datastore-url", f"{endpoint}/azureml-blobstore-x"],
        {"AZURE_STORAGE_CONNECTION_STRING": connection, "AMLMON_STORAGE_BACKOFF": "10"},
    )
    time.sleep(3)  # started, and waiting between retries (three 10 s waits ahead)
    assert process.poll() is None, process.communicate()
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = finish(process, 30)
    assert process.returncode == 130, stderr
    assert time.monotonic() - started < 5, "not after the retries"
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr


@pytest.mark.parametrize("kind", ["missing", "a-file"])
def test_extract_from_a_local_folder_that_is_not_there_is_a_usage_error(
    cli: Any, tmp_path: Path, kind: str
) -> None:
    # A path the user typed that is not a folder is bad input (exit 2), as drift's missing --baseline;
    # exit 3 is for Azure resources (a blob container that does not exist stays 3, test above).
    source = tmp_path / "exported"
    if kind == "a-file":
        source.write_text("{}")
    out = tmp_path / "md.jsonl"
    result = cli("data", "extract", str(source), "--out", str(out))
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    reason = "does not exist" if kind == "missing" else "is a file, not a folder"
    assert lines[0] == f"error: {str(source)!r} {reason}", result.stderr
    assert lines[1].startswith("hint: give a folder of exported files") and len(lines) == 2
    assert not out.exists()
