"""No silent empty output: when a target has nothing, one stderr line says why (when amlmon can tell) and
what fixes it; stdout stays the (empty) result and the exit code is unchanged. Includes v2 deployments
whose server labels telemetry with a role name amlmon cannot know (`--role`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator

SCHEMAS = pytest.mark.parametrize("schema", [[], ["--log-analytics"]], ids=["app-insights", "log-analytics"])


@pytest.fixture(scope="module")
def workspace(emulator: Emulator) -> dict[str, Any]:
    ws = emulator.create_workspace(
        "empty",
        services=[
            {"name": "quiet", "computeType": "ACI"},  # diagnostics off
            {"name": "loud", "computeType": "ACI", "appInsightsEnabled": True},  # model data off
        ],
        deployments=[
            {
                "endpoint": "credit",
                "name": "blue",
                "endpointComputeType": "Managed",
                "appInsightsEnabled": True,
            }
        ],
    )
    seeded = emulator.seed(
        ws,
        ["credit/blue"],
        hours=1,
        ratePerMinute=2,
        generation="1.5",
        seed=5,
        roles={"credit/blue": "amlsvc-7f3a"},
    )
    return {**ws, "truth": seeded["truth"]["credit/blue"]}


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@SCHEMAS
def test_diagnostics_off_is_said_with_the_command_that_turns_them_on(
    cli: Any, workspace: dict[str, Any], schema: list[str]
) -> None:
    for command in (["traces", "quiet"], ["stats", "quiet", "-o", "json"]):
        result = cli(*command, "--since", "1h", *workspace["scope"], *schema)
        assert result.exit_code == 0, result.stderr
        (line,) = _warnings(result.stderr)
        assert "diagnostics (Application Insights) are off for quiet" in line
        assert "`amlmon diagnostics enable quiet`" in line
        assert "diagnostics" not in result.stdout


def test_model_data_collection_off_and_nothing_ingested_are_told_apart(
    cli: Any, workspace: dict[str, Any]
) -> None:
    result = cli("traces", "loud", "--model-data", "--since", "1h", *workspace["scope"])
    assert result.exit_code == 0 and result.stdout == ""
    (line,) = _warnings(result.stderr)
    assert "model data collection is off for loud" in line and "--model-data`" in line
    # diagnostics on, no model data needed: the window simply has no print lines of loud, but others exist
    result = cli("traces", "loud", "--since", "1h", *workspace["scope"])
    (line,) = _warnings(result.stderr)
    assert "no print() traces of loud in the window, but the workspace has some of role amlsvc-7f3a" in line


@SCHEMAS
def test_a_v2_role_amlmon_cannot_know_is_listed_and_named_with_role(
    cli: Any, workspace: dict[str, Any], schema: list[str]
) -> None:
    scope = [*workspace["scope"], *schema]
    result = cli("traces", "credit/blue", "--since", "2h", "--format", "jsonl", *scope)
    assert result.exit_code == 0 and result.stdout == ""
    (line,) = _warnings(result.stderr)
    assert "role amlsvc-7f3a (" in line and "amlmon traces credit/blue --role amlsvc-7f3a" in line
    result = cli(
        "traces", "credit/blue", "--role", "amlsvc-7f3a", "--since", "2h", "--format", "jsonl", *scope
    )
    assert result.exit_code == 0 and _warnings(result.stderr) == []
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == workspace["truth"]["requests"] and {r["target"] for r in records} == {
        "credit/blue"
    }
    stats = cli("stats", "credit/blue", "--since", "2h", "-o", "json", *scope)
    assert stats.json()["targets"][0]["requests"]["count"] == 0
    assert "--role amlsvc-7f3a" in _warnings(stats.stderr)[0]
    stats = cli("stats", "credit/blue", "--role", "amlsvc-7f3a", "--since", "2h", "-o", "json", *scope)
    assert stats.json()["targets"][0]["requests"]["count"] == workspace["truth"]["requests"]
    assert _warnings(stats.stderr) == []


def test_data_pull_of_nothing_says_why(cli: Any, workspace: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "blue.jsonl"
    result = cli(
        "data", "pull", "credit/blue", "--out", str(out), "--since", "2h", *workspace["scope"], "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["rows"] == 0
    assert any(
        "amlmon data pull credit/blue --role amlsvc-7f3a" in line for line in _warnings(result.stderr)
    ), result.stderr
    again = tmp_path / "blue2.jsonl"
    result = cli(
        "data", "pull", "credit/blue", "--role", "amlsvc-7f3a", "--out", str(again), "--since", "2h",
        *workspace["scope"], "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json()["rows"] == workspace["truth"]["modelData"] > 0
