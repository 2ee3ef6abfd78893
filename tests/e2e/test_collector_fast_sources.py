"""The fast path (amlmon/collector_fast.py) looks `source` up once per distinct value: a folder whose every
input record names another workspace must still be read in a pull's memory (Azurite, through the CLI)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from amlmon import datasets
from tests.azurite import start_azurite, stop_azurite

pytestmark = pytest.mark.azurite

CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-0000000500ce"
HOUR = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
REQUESTS = 100_000


def _source(workspace: str) -> str:
    return (
        "/subscriptions/00000000-0000-0000-0000-0000000500ce/resourceGroups/rg/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{workspace}/onlineEndpoints/ep/deployments/blue"
    )


def _pull(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], int]:
    """`amlmon ARGS` in a child of its own; its result and peak memory (MB)."""
    measure = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr); "
        "sys.exit(done.returncode)"
    )
    result = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, "-m", "amlmon", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    *stderr, peak = result.stderr.splitlines()
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout, "\n".join(stderr)), int(
        peak
    )


def test_a_folder_of_many_distinct_sources_is_joined_in_a_pulls_memory(tmp_path: Path) -> None:
    """Every input names its own workspace: the fast path takes the folder (the sources are text) in about
    the memory of a folder as large with one source (~370 MB here), and gives the rows the record-by-record
    reader (a JSONL pull) gives. Its lookup of the sources was a SQL text of literals DuckDB took ~1.2 GB
    and 5 s to parse (with 64 MB it refused the folder, at the same peak)."""
    handle = start_azurite(tmp_path / "azurite")
    try:
        container = handle.service().get_container_client(CONTAINER)
        container.create_container()
        for collection, value in (("model_inputs", {"x": 1}), ("model_outputs", {"p": 0.5})):
            lines = (
                json.dumps(
                    {
                        "specversion": "1.0",
                        "id": f"{collection}-{n}",
                        "source": _source(f"ws-{n}"),
                        "time": (HOUR + dt.timedelta(seconds=n % 3600)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "data": [value],
                        "correlationid": f"r{n}",
                    },
                    separators=(",", ":"),
                )
                + "\n"
                for n in range(REQUESTS)
            )
            blob = container.get_blob_client(
                f"modelDataCollector/ep/blue/{collection}/{HOUR:%Y/%m/%d/%H}/i.jsonl"
            )
            blob.create_append_blob()
            content = "".join(lines).encode()
            for offset in range(0, len(content), 4 * 1024 * 1024):
                blob.append_block(content[offset : offset + 4 * 1024 * 1024])
        env = {"AZURE_STORAGE_CONNECTION_STRING": handle.connection_string}
        args = [
            *(
                "data",
                "pull",
                "ep/blue",
                "--datastore-url",
                f"{handle.blob_endpoint}/{CONTAINER}",
                "--verbose",
            ),
            *("--since", "2026-11-30T09:00:00Z", "--until", "2026-11-30T10:00:00Z"),
        ]
        fast, peak = _pull([*args, "--out", str(tmp_path / "fast.parquet")], env)
        reference, _ = _pull([*args, "--out", str(tmp_path / "reference.jsonl")], env)
    finally:
        stop_azurite(handle)
    assert fast.returncode == 0 and reference.returncode == 0, fast.stderr + reference.stderr
    assert "read record by record" not in fast.stderr, fast.stderr
    assert peak < 500, f"the Parquet pull peaked at {peak} MB"
    rows = list(datasets.read_rows(tmp_path / "fast.parquet"))
    assert rows == list(datasets.read_rows(tmp_path / "reference.jsonl"))
    assert len(rows) == REQUESTS and rows[7]["workspace"] == "ws-7"
