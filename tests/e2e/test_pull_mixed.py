"""`data pull` of a v1 service and a v2 deployment whose data collector is on: the pull reads App
Insights, where the deployment's model data is not — said on stderr, where the file once simply lacked it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_a_collector_deployment_beside_a_service_is_named_as_not_in_the_file(
    cli: Any, emulator: Any, tmp_path: Path
) -> None:
    ws = emulator.create_workspace(
        "pullmix",
        services=[{"name": "churn", "computeType": "ACI"}],
        deployments=[{"endpoint": "credit-ep", "name": "blue", "endpointComputeType": "Managed"}],
    )
    emulator.seed(ws, ["churn"], hours=1, ratePerMinute=5, generation="1.5", seed=9)
    args = ["--since", "2h", *ws["scope"], "-o", "json"]
    off = cli("data", "pull", "churn", "credit-ep/blue", "--out", str(tmp_path / "off.jsonl"), *args)
    nothing = cli("data", "pull", "--out", str(tmp_path / "all-off.jsonl"), *args)
    assert nothing.exit_code == 0 and "data collector is on" not in nothing.stderr, nothing.stderr
    assert off.exit_code == 0 and off.json()["rows"] > 0, off.stderr
    assert "data collector is on" not in off.stderr  # control: the collector is off, nothing to say
    enabled = cli("diagnostics", "enable", "credit-ep/blue", "--model-data", *ws["scope"], "-o", "json")
    assert enabled.exit_code == 0, enabled.stderr
    mixed = cli("data", "pull", "churn", "credit-ep/blue", "--out", str(tmp_path / "mixed.jsonl"), *args)
    assert mixed.exit_code == 0 and mixed.json()["rows"] == off.json()["rows"], mixed.stderr
    assert (
        "warning: credit-ep/blue's data collector is on: its model data is in blobs, which this pull from App "
        "Insights does not read; pull credit-ep/blue on its own"
    ) in mixed.stderr
    every = cli("data", "pull", "--out", str(tmp_path / "every.jsonl"), *args)  # no TARGET: every model
    assert every.exit_code == 0 and every.json()["rows"] == off.json()["rows"], every.stderr
    assert "warning: credit-ep/blue's data collector is on" in every.stderr
