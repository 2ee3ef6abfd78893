"""A v2 deployment whose data collector is on keeps its model data in blobs: `data pull` and `drift`
without --datastore-url read them from the workspace's `workspaceblobstore` datastore (rather than
looking in App Insights and suggesting another service's --role); with --role (App Insights chosen)
they say where the data is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.azurite import Azurite
from tests.conftest import Emulator

pytestmark = [pytest.mark.usefixtures("clear_faults"), pytest.mark.azurite]

HINT = "the v2 data collector writes blobs: give --datastore-url"


@pytest.fixture(scope="module")
def workspace(emulator: Emulator, azurite: Azurite) -> dict[str, Any]:
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
    # The workspace's datastore container, in Azurite (empty: blue had no traffic)
    status, _ = emulator.admin(
        "POST", "/_emulator/modeldata/storage", {"connectionString": azurite.connection_string}
    )
    assert status == 200
    azurite.service().create_container(f"azureml-blobstore-{_workspace_guid(emulator, ws)}")
    return {**ws, "env": {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}}


def _workspace_guid(emulator: Emulator, ws: dict[str, Any]) -> str:
    from tests.helpers import arm

    ws_id = (
        f"/subscriptions/{ws['subscription']}/resourceGroups/{ws['resourceGroup']}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{ws['name']}"
    )
    _, body, _ = arm(emulator, "GET", ws_id)
    return str(body["properties"]["workspaceId"])


def test_data_pull_of_a_collector_deployment_reads_the_workspace_datastore(
    cli: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    args = ["data", "pull", "credit-ep/blue", "--since", "1h", *workspace["scope"], "-o", "json"]
    result = cli(*args, "--out", str(tmp_path / "v2.jsonl"), env=workspace["env"])
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert (summary["rows"], summary["blobs"], summary["skippedCopies"]) == (0, 0, 0), summary  # blobs read
    assert "--role" not in result.stderr and HINT not in result.stderr
    # With --role the user chose App Insights: empty there, the answer says where the data is instead.
    chosen = cli(*args, "--role", "nothing", "--out", str(tmp_path / "r.jsonl"), env=workspace["env"])
    assert chosen.exit_code == 0, chosen.stderr
    warnings = [line for line in chosen.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and HINT in warnings[0] and "credit-ep/blue" in warnings[0], chosen.stderr
    # Green has no collector: read from App Insights; its empty answer names the collector that is off
    # and how to turn it on (it only suggested another service's --role), and keeps that suggestion.
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
    warnings = [line for line in other.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, other.stderr
    collector_line = "no model data of credit-ep/green from the data collector: it is off for credit-ep/green"
    assert warnings[0].startswith(f"warning: {collector_line}"), other.stderr
    assert "`amlmon diagnostics enable credit-ep/green --model-data`" in warnings[0]
    assert "--datastore-url" in warnings[0] and "--role churn" in warnings[1], other.stderr
    assert HINT not in other.stderr
    assert "blobs" not in other.json(), "green was read from App Insights"


def test_drift_of_a_collector_deployment_reads_the_workspace_datastore(
    cli: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    env = {"AMLMON_CACHE_DIR": str(tmp_path / "cache"), **workspace["env"]}
    result = cli(
        "drift",
        "credit-ep/blue",
        "--baseline",
        "14d..7d",
        *workspace["scope"],
        "--verbose",
        "-o",
        "json",
        env=env,
    )
    assert result.exit_code == 6, result.stdout + result.stderr
    assert "info: data collector blobs: datastore workspaceblobstore" in result.stderr, result.stderr
    assert HINT not in result.stderr
    green = cli(
        "drift", "credit-ep/green", "--baseline", "14d..7d", *workspace["scope"], "-o", "json", env=env
    )
    assert green.exit_code == 6 and HINT not in green.stderr
