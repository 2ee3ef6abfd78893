"""A v2 deployment whose data collector is on keeps its model data in blobs: `data pull` and `drift`
without --datastore-url say so (rather than suggesting another service's --role)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator

pytestmark = pytest.mark.usefixtures("clear_faults")

HINT = "the v2 data collector writes blobs: give --datastore-url"


@pytest.fixture(scope="module")
def workspace(emulator: Emulator) -> dict[str, Any]:
    collector = {"collections": {"model_inputs": {"dataCollectionMode": "Enabled"}}}
    ws = emulator.create_workspace(
        "collector",
        services=[{"name": "churn", "computeType": "ACI", "appInsightsEnabled": True}],
        deployments=[
            {
                "endpoint": "credit-ep",
                "name": "blue",
                "appInsightsEnabled": True,
                "properties": {"dataCollector": collector},
            },
            {"endpoint": "credit-ep", "name": "green", "appInsightsEnabled": True},
        ],
    )
    # model data of another service in the window: the old answer suggested its --role for blue
    emulator.seed(ws, ["churn"], hours=1, ratePerMinute=2, generation="1.5", seed=3)
    return ws


def test_data_pull_of_a_collector_deployment_points_at_the_blobs(
    cli: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "v2.jsonl"
    result = cli(
        "data",
        "pull",
        "credit-ep/blue",
        "--since",
        "1h",
        "--out",
        str(out),
        *workspace["scope"],
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and HINT in warnings[0] and "credit-ep/blue" in warnings[0], result.stderr
    assert "--role" not in result.stderr
    # Positive control: green has no collector, so the App Insights explanation (with --role) stays.
    other = cli(
        "data",
        "pull",
        "credit-ep/green",
        "--since",
        "1h",
        "--out",
        str(tmp_path / "g.jsonl"),
        *workspace["scope"],
        "-o",
        "json",
    )
    assert HINT not in other.stderr and "--role" in other.stderr, other.stderr


def test_drift_of_a_collector_deployment_without_datastore_url_hints_at_it(
    cli: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    env = {"AMLMON_CACHE_DIR": str(tmp_path / "cache")}
    result = cli(
        "drift", "credit-ep/blue", "--baseline", "14d..7d", *workspace["scope"], "-o", "json", env=env
    )
    assert result.exit_code == 6, result.stdout + result.stderr
    hint = [line for line in result.stderr.splitlines() if line.startswith("hint:")]
    assert len(hint) == 1 and HINT in hint[0], result.stderr
    green = cli(
        "drift", "credit-ep/green", "--baseline", "14d..7d", *workspace["scope"], "-o", "json", env=env
    )
    assert green.exit_code == 6 and HINT not in green.stderr
