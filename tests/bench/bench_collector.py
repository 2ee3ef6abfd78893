"""`amlmon data pull --datastore-url` of ~1,000,000 collected v2 records from Azurite (issue 16).

The blobs are written straight into Azurite in the collector's layout and record schema (inputs and
outputs, one request per record, several instances per hour), `AMLMON_BENCH_COLLECTOR_RECORDS`
requests (default 1,000,000: about 1 GB of JSON lines with both collections).

Targets:
- throughput at least 0.8× the bare azure-storage-blob client downloading the same blobs (a fresh
  process listing and reading every blob, nothing parsed): time ratio <= 1.25, medians of
  `AMLMON_BENCH_COLLECTOR_REPEAT` (default 3) turns of each, run alternately;
- peak memory (RSS of the amlmon process) under 300 MB, and flat: the full pull at most 1.5× the peak
  of a pull of a quarter of the hours;
- the same for one large folder (a day-rolled collection: 40% of the requests in one folder, ~500 MB of
  JSON lines): its pull's peak under 300 MB and at most 1.5× the quarter pull's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.azurite import start_azurite, stop_azurite
from tests.bench.bench_data import MEMORY_LIMIT_MB, _report_memory, _run_measured
from tests.bench.common import report

RECORDS = int(os.environ.get("AMLMON_BENCH_COLLECTOR_RECORDS", "1000000"))
REPEAT = int(os.environ.get("AMLMON_BENCH_COLLECTOR_REPEAT", "3"))
HOURS = 24
INSTANCES = 3
CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-0000000be4c4"
SOURCE = (
    "/subscriptions/00000000-0000-0000-0000-0000000be4c4/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/bench-ep/deployments/blue"
)
BLOCK = 4 * 1024 * 1024  # an append block's limit


def _record(collection: str, when: dt.datetime, request_id: str, data: list[dict[str, float]]) -> bytes:
    text = json.dumps(data, separators=(",", ":"))
    size = len(text)
    return (
        json.dumps(
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": SOURCE,
                "type": f"azureml.inference.{collection}",
                "datacontenttype": "application/json",
                "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "data": data,
                "correlationid": request_id,
                "xrequestid": request_id,
                "contentrange": f"bytes 0-{size - 1}/{size}",
                "modelversion": "default",
                "collectdatatype": "pandas.DataFrame",
                "agent": "azureml-ai-monitoring/1.0.0",
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


def _write(service: object, end: dt.datetime) -> int:
    """The collector's blobs for RECORDS requests spread over HOURS hours; the bytes written."""
    container = service.get_container_client(CONTAINER)  # type: ignore[attr-defined]
    container.create_container()
    per_hour = RECORDS // HOURS
    total = 0
    for hour in range(HOURS):
        folder_start = (end - dt.timedelta(hours=HOURS - hour)).replace(minute=0, second=0, microsecond=0)
        total += _write_folder(container, "blue", f"{folder_start:%Y/%m/%d/%H}", folder_start, per_hour, 3600)
    return total


def _write_folder(
    container: Any, deployment: str, folder: str, start: dt.datetime, requests: int, seconds: int
) -> int:
    """One folder's blobs: `requests` requests over `seconds` from `start`; the bytes written."""
    buffers: dict[str, bytearray] = {}
    for index in range(requests):
        when = start + dt.timedelta(seconds=index * seconds // max(requests, 1))
        request_id = str(uuid.uuid4())
        features = {
            "tenure_months": index % 72,
            "monthly_charges": 20.0 + index % 100,
            "support_calls": index % 7,
        }
        instance = f"{deployment}-{index % INSTANCES}"
        for collection, data in (
            ("model_inputs", [features]),
            ("model_outputs", [{"churn_probability": (index % 1000) / 1000}]),
        ):
            name = f"modelDataCollector/bench-ep/{deployment}/{collection}/{folder}/{instance}.jsonl"
            buffers.setdefault(name, bytearray()).extend(_record(collection, when, request_id, data))
    total = 0
    for name, content in buffers.items():
        blob = container.get_blob_client(name)
        blob.create_append_blob()
        for offset in range(0, len(content), BLOCK):
            blob.append_block(bytes(content[offset : offset + BLOCK]))
        total += len(content)
    return total


def _baseline(connection_string: str) -> int:
    """List and download every collector blob with the bare client, nothing parsed."""
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(CONTAINER)
    total = 0
    for blob in container.list_blobs(name_starts_with="modelDataCollector/"):
        for chunk in container.get_blob_client(blob.name).download_blob(max_concurrency=1).chunks():
            total += len(chunk)
    print(total)
    return 0


@contextlib.contextmanager
def _cpu_seconds(azurite: Any, cpu: dict[str, list[float]], side: str) -> Iterator[None]:
    """Adds to cpu[side] the CPU seconds (user + system) of the child processes run inside, and to
    cpu[side + " storage"] Azurite's (it serves from the same 2 cores)."""
    import psutil

    storage = psutil.Process(azurite.process.pid)

    def storage_seconds() -> float:
        times = storage.cpu_times()
        return float(times.user + times.system)

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = storage_seconds()
    yield
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu[side].append(after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime)
    cpu[f"{side} storage"].append(storage_seconds() - served)


def _report_cpu(cpu: dict[str, list[float]], target_seconds: float) -> None:
    """One line (no target of its own): where the CPU went, medians over the turns. The pull's time can
    reach the target only if its CPU fits what the cores have left beside the storage emulator's."""
    median = {side: statistics.median(seconds) for side, seconds in cpu.items()}
    cores = os.cpu_count() or 1
    room = cores * target_seconds - median["pull storage"]
    print(
        f"data pull CPU: {median['pull']:.2f} s (Azurite {median['pull storage']:.2f} s meanwhile)  "
        f"baseline {median['base']:.2f} s (Azurite {median['base storage']:.2f} s)  "
        f"at the target time ({target_seconds:.2f} s on {cores} cores, Azurite's CPU as in the pull) "
        f"the pull has {room:.2f} s of CPU",
        flush=True,
    )


def _large_folder(
    azurite: Any, env: dict[str, str], url: str, end: dt.datetime, quarter_peak: float, tmp: Path
) -> bool:
    """One day-rolled folder of 40% of RECORDS requests (deployment `green`), pulled: its peak memory."""
    day = (end - dt.timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    container = azurite.service().get_container_client(CONTAINER)
    written = _write_folder(container, "green", f"{day:%Y/%m/%d}", day, RECORDS * 2 // 5, 86_400)
    args = [sys.executable, "-m", "amlmon", "data", "pull", "bench-ep/green", "--datastore-url", url]
    args += ["--since", day.isoformat(), "--until", (day + dt.timedelta(days=1)).isoformat()]
    said: list[str] = []
    args += ["--out", str(tmp / "day.parquet"), "-o", "json", "--verbose"]
    _seconds, peak, stdout = _run_measured(args, env, said)
    rows = json.loads(stdout)["rows"]
    # the fast path's memory is the one measured: a folder read record by record says nothing of it
    fast = "read record by record" not in said[0]
    ratio = peak / quarter_peak if quarter_peak else float("inf")
    ok = fast and rows == RECORDS * 2 // 5 and peak <= MEMORY_LIMIT_MB and ratio <= 1.5
    print(
        f"data pull of one folder ({rows} requests, {written / 1e6:.0f} MB, "
        f"{'by DuckDB' if fast else 'record by record'}) peak memory: {peak:.0f} MB  "
        f"baseline {quarter_peak:.0f} MB (the quarter pull)  ratio {ratio:.2f}  "
        f"target <= 1.5 and <= {MEMORY_LIMIT_MB:.0f} MB  {'ok' if ok else 'MISSED'}",
        flush=True,
    )
    return ok


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--baseline":
        return _baseline(sys.argv[2])
    tmp = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    azurite = start_azurite(tmp / "azurite")
    try:
        end = dt.datetime.now(dt.UTC).replace(microsecond=0)
        started = time.perf_counter()
        written = _write(azurite.service(), end)
        print(
            f"   wrote {RECORDS} requests ({written / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        env = {
            **os.environ,
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        url = f"{azurite.blob_endpoint}/{CONTAINER}"

        def pull(since: dt.datetime, out: Path) -> tuple[float, float, dict[str, object]]:
            args = [sys.executable, "-m", "amlmon", "data", "pull", "bench-ep/blue", "--datastore-url", url]
            args += [
                "--out",
                str(out),
                "--since",
                since.isoformat(),
                "--until",
                end.isoformat(),
                "-o",
                "json",
            ]
            seconds, peak, stdout = _run_measured(args, env)
            return seconds, peak, json.loads(stdout)

        _, quarter_peak, _ = pull(end - dt.timedelta(hours=HOURS / 4 + 1), tmp / "quarter.parquet")
        expected = (RECORDS // HOURS) * HOURS
        # Pull and baseline take turns, REPEAT times each, and the medians are compared: a machine shared
        # with other work slows whichever runs during a busy spell, not one side only.
        pulls, bases, peak = [], [], 0.0
        cpu: dict[str, list[float]] = {"pull": [], "base": [], "pull storage": [], "base storage": []}
        for turn in range(REPEAT):
            with _cpu_seconds(azurite, cpu, "base"):
                base_seconds, _, _ = _run_measured(
                    [
                        sys.executable,
                        "-m",
                        "tests.bench.bench_collector",
                        "--baseline",
                        azurite.connection_string,
                    ],
                    env,
                )
            with _cpu_seconds(azurite, cpu, "pull"):
                seconds, turn_peak, summary = pull(
                    end - dt.timedelta(hours=HOURS + 1), tmp / f"all-{turn}.parquet"
                )
            if summary["rows"] != expected:
                print(f"data pull wrote {summary['rows']} rows, the blobs hold {expected}", file=sys.stderr)
                return 1
            pulls.append(seconds)
            bases.append(base_seconds)
            peak = max(peak, turn_peak)
            print(
                f"   turn {turn + 1}: pull {seconds:.2f} s, baseline {base_seconds:.2f} s, "
                f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
                flush=True,
            )
        ok = report(
            f"data pull {expected} collected requests → parquet",
            statistics.median(pulls),
            statistics.median(bases),
            "s",
            1.25,
        )
        _report_cpu(cpu, statistics.median(bases) * 1.25)
        ok &= _report_memory(peak, quarter_peak)
        ok &= _large_folder(azurite, env, url, end, quarter_peak, tmp)
        return 0 if ok else 1
    finally:
        stop_azurite(azurite)
        shutil.rmtree(tmp, ignore_errors=True)  # the blobs alone are over a gigabyte


if __name__ == "__main__":
    sys.exit(main())
