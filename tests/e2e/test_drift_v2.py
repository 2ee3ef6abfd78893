"""`amlmon drift --datastore-url`: windows of a v2 deployment's collected model data.

The deployment is backed by the real azureml-inference-server-http whose score.py logs inputs and
outputs with the real azureml-ai-monitoring Collector into Azurite; drift reads the windows through
`data pull --datastore-url`'s reader.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.azurite import Azurite
from tests.helpers import deployment_path, wait_succeeded
from tests.online import FEATURES, Deployment, blob_records, score

pytestmark = [pytest.mark.inference, pytest.mark.azurite]
# the same module fixtures as test_online_inference: Azurite, and an inference-backed deployment on it

WAIT = 60.0
ROWS = 300
SHIFTED = FEATURES[1]
SHIFT = 40.0  # the baseline's charges are uniform over 20..120: ~1.4 standard deviations


def _baseline_rows() -> list[list[float]]:
    rng = np.random.default_rng(18)
    columns = [
        rng.integers(1, 72, ROWS),  # tenure (months)
        rng.uniform(20, 120, ROWS).round(2),  # monthly charges
        rng.integers(0, 8, ROWS),  # support calls
        rng.integers(0, 4, ROWS),  # contract
    ]
    return [[float(column[i]) for column in columns] for i in range(ROWS)]


def _collected(azurite: Azurite, dep: Deployment, collection: str) -> int:
    blobs = blob_records(azurite, dep.container, f"modelDataCollector/{dep.endpoint}/blue/{collection}/")
    return sum(len(record["data"]) for records in blobs.values() for record in records)


def _score_all(emulator: Any, azurite: Azurite, dep: Deployment, rows: list[list[float]], tag: str) -> None:
    """Score `rows` in requests of 50 and wait until the collector has every input and output row."""
    before = {c: _collected(azurite, dep, c) for c in ("model_inputs", "model_outputs")}
    for index in range(0, len(rows), 50):
        status, _, answer = score(emulator, dep, rows[index : index + 50], f"{tag}-{index}")
        assert status == 200, answer
    deadline = time.time() + WAIT
    while any(_collected(azurite, dep, c) < before[c] + len(rows) for c in before):
        assert time.time() < deadline, f"the collector did not write {len(rows)} {tag} rows in {WAIT:.0f} s"
        time.sleep(0.2)


def _instant(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_second(at: dt.datetime) -> dt.datetime:
    return at.replace(microsecond=0) + dt.timedelta(seconds=1)


def test_v2_windows_with_one_shifted_feature_drift_exactly_there(
    cli: Any, emulator: Any, azurite: Azurite, deployment: Deployment, tmp_path: Path
) -> None:
    dep = deployment
    on = cli("diagnostics", "enable", f"{dep.endpoint}/blue", "--model-data", *dep.ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    wait_succeeded(emulator, deployment_path(dep.ws, dep.endpoint, "blue"))
    # Records carry whole-second times: each window is an absolute pair of whole seconds that brackets
    # only its own batch (the next batch is scored after the previous window has ended).
    baseline_rows = _baseline_rows()
    current_rows = [[row[0], row[1] + SHIFT, row[2], row[3]] for row in baseline_rows]
    baseline_start = _next_second(dt.datetime.now(dt.UTC))
    time.sleep((baseline_start - dt.datetime.now(dt.UTC)).total_seconds() + 0.05)
    _score_all(emulator, azurite, dep, baseline_rows, "baseline")
    current_start = _next_second(dt.datetime.now(dt.UTC))
    time.sleep((current_start - dt.datetime.now(dt.UTC)).total_seconds() + 0.05)
    _score_all(emulator, azurite, dep, current_rows, "current")
    current_end = _next_second(dt.datetime.now(dt.UTC))

    env = {
        "AMLMON_CACHE_DIR": str(tmp_path / "cache"),
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
    }
    windows = [
        "--baseline", f"{_instant(baseline_start)}..{_instant(current_start)}",
        "--current", f"{_instant(current_start)}..{_instant(current_end)}",
        "--datastore-url", f"{azurite.blob_endpoint}/{dep.container}",
    ]  # fmt: skip
    result = cli("drift", f"{dep.endpoint}/blue", *windows, "-o", "json", "--verbose", env=env)
    assert result.exit_code == 1, result.stderr
    rows = result.json()
    assert {r["feature"] for r in rows} == set(FEATURES), "collector DataFrame rows: the keys are features"
    breached = {r["feature"] for r in rows if r["breached"]}
    assert breached == {SHIFTED}, rows
    nwd = {r["feature"]: r["value"] for r in rows if r["metric"] == "normalized_wasserstein_distance"}
    # the same rows but one column: the others are identical, the shifted one moved by SHIFT
    assert all(nwd[name] == pytest.approx(0.0, abs=1e-12) for name in FEATURES if name != SHIFTED)
    spread = float(np.std([row[1] for row in baseline_rows], ddof=1))
    assert nwd[SHIFTED] == pytest.approx(SHIFT / spread, rel=1e-6)
    assert (
        f"pulled {ROWS} records" in result.stderr and azurite.account_key not in result.stdout + result.stderr
    )

    # --outputs: prediction drift on the collected model_outputs of the same windows
    outputs = cli("drift", f"{dep.endpoint}/blue", *windows, "--outputs", "-o", "json", env=env)
    assert outputs.exit_code in (0, 1), outputs.stderr
    predicted = outputs.json()
    assert {r["feature"] for r in predicted} == {"churn_probability"}
    assert {r["signal"] for r in predicted} == {"prediction_drift", "data_quality"}
    value = next(r["value"] for r in predicted if r["metric"] == "normalized_wasserstein_distance")
    assert value > 0.0, "higher charges change the predicted churn"


def test_v2_windows_are_cached_once_settled(
    cli: Any, azurite: Azurite, deployment: Deployment, tmp_path: Path
) -> None:
    """Collector blobs of two hours ago (written here in the collector's layout): the first run pulls and
    caches them, the second reads the cache even after the blobs are gone."""
    dep = deployment
    container = azurite.service().get_container_client(dep.container)
    if not container.exists():
        container.create_container()
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)
    folder = f"modelDataCollector/{dep.endpoint}/old/model_inputs/{hour:%Y/%m/%d/%H}"
    lines = []
    for minute in range(30):
        at = hour + dt.timedelta(minutes=minute, seconds=1)
        shift = 50.0 if minute >= 15 else 0.0
        lines.append(
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": f"id-{minute}",
                    "time": _instant(at),
                    "correlationid": f"c-{minute}",
                    "data": [{"x": float(i) + shift, "y": float(i)} for i in range(10)],
                }
            )
        )
    blob = container.get_blob_client(f"{folder}/instance-1.jsonl")
    blob.create_append_blob()
    blob.append_block(("\n".join(lines) + "\n").encode())
    env = {
        "AMLMON_CACHE_DIR": str(tmp_path / "cache"),
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
    }
    middle = hour + dt.timedelta(minutes=15)
    args = [
        "drift", f"{dep.endpoint}/old", "--datastore-url", f"{azurite.blob_endpoint}/{dep.container}",
        "--baseline", f"{_instant(hour)}..{_instant(middle)}",
        "--current", f"{_instant(middle)}..{_instant(hour + dt.timedelta(minutes=30))}", "-o", "json",
    ]  # fmt: skip
    first = cli(*args, "--verbose", env=env)
    assert first.exit_code == 1, first.stderr
    assert {r["feature"] for r in first.json() if r["breached"]} == {"x"}
    assert "pulled 150 records" in first.stderr
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 2

    blob.delete_blob()
    second = cli(*args, "--verbose", env=env)
    assert second.exit_code == 1 and second.json() == first.json(), second.stderr
    assert second.stderr.count(": cached ") == 2 and "pulled" not in second.stderr
    # positive control: a window not in the cache is read from the (now empty) folder
    other = [*args[:-4], "--current", f"{_instant(middle)}..{_instant(hour + dt.timedelta(minutes=31))}"]
    third = cli(*other, "-o", "json", env=env)
    assert third.exit_code == 6 and "no rows" in third.stderr, third.stderr
