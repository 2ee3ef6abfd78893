"""A TARGET that names nothing in the workspace is an error everywhere (exit 3, did-you-mean, the resolver
`diagnostics` uses); `stats`/`check` with several targets or none report and gate each target, the
workspace aggregate `*` beside them, never instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator
from tests.helpers import OFFLINE, OFFLINE_SCOPE


@pytest.fixture(scope="module")
def workspace(emulator: Emulator) -> dict[str, Any]:
    ws = emulator.create_workspace(
        "names",
        services=[{"name": "churn-aci", "computeType": "ACI"}, {"name": "fraud-aks", "computeType": "AKS"}],
        deployments=[{"endpoint": "credit-ep", "name": "blue", "endpointComputeType": "Managed"}],
    )
    emulator.seed(
        ws,
        ["churn-aci", "fraud-aks"],
        hours=1,
        ratePerMinute=5,
        generation="1.5",
        seed=3,
        failureRate={"churn-aci": 0.5, "fraud-aks": 0.0},
    )
    return ws


@pytest.mark.parametrize(
    ("command", "typo", "suggestion"),
    [
        (["traces"], "churn-ac", "churn-aci"),
        (["traces", "--model-data"], "churn-ac", "churn-aci"),
        (["stats"], "credit-ep/bleu", "credit-ep/blue"),
        (["check", "--min-requests", "0"], "fraud-ak", "fraud-aks"),
    ],
)
def test_a_name_that_matches_nothing_is_exit_3_with_did_you_mean(
    cli: Any, workspace: dict[str, Any], command: list[str], typo: str, suggestion: str
) -> None:
    result = cli(*command, typo, "--since", "1h", *workspace["scope"])
    assert result.exit_code == 3, result.stdout + result.stderr
    assert result.stdout == ""  # never "gate passed", never zeros
    error, hint = result.stderr.splitlines()
    assert error == f"error: no service, endpoint or deployment named '{typo}' in the workspace"
    assert hint.startswith(f"hint: did you mean {suggestion}")
    # positive control: the suggested name works
    assert cli(*command, suggestion, "--since", "1h", *workspace["scope"]).exit_code == 0


def test_data_pull_of_an_unknown_name_writes_nothing(
    cli: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "x.jsonl"
    result = cli("data", "pull", "churn-ac", "--out", str(out), "--since", "1h", *workspace["scope"])
    assert result.exit_code == 3 and "did you mean churn-aci?" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_check_without_targets_gates_each_target_and_the_aggregate(
    cli: Any, workspace: dict[str, Any]
) -> None:
    result = cli(
        "check",
        "--max-failure-rate",
        "10%",
        "--min-requests",
        "0",
        "--since",
        "2h",
        *workspace["scope"],
        "-o",
        "json",
    )
    assert result.exit_code == 1, result.stdout + result.stderr
    verdicts = {(r["target"], r["check"]): r["status"] for r in result.json()["results"]}
    assert verdicts[("churn-aci", "maxFailureRate")] == "FAIL"
    assert verdicts[("fraud-aks", "maxFailureRate")] == "PASS"
    assert verdicts[("credit-ep/blue", "maxFailureRate")] == "SKIP"  # no requests: not measured
    assert ("*", "maxFailureRate") in verdicts  # the aggregate beside the targets, not instead
    # several targets: each on its own (the one bad target is not averaged away)
    result = cli(
        "check",
        "churn-aci",
        "fraud-aks",
        "--max-failure-rate",
        "10%",
        "--since",
        "2h",
        *workspace["scope"],
        "-o",
        "json",
    )
    assert result.exit_code == 1
    assert {r["target"] for r in result.json()["results"] if r["status"] == "FAIL"} == {"churn-aci"}


def test_stats_without_targets_reports_each_target_and_the_aggregate(
    cli: Any, workspace: dict[str, Any]
) -> None:
    result = cli("stats", "--since", "2h", *workspace["scope"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    counts = {t["target"]: t["requests"]["count"] for t in result.json()["targets"]}
    assert set(counts) == {"churn-aci", "fraud-aks", "credit-ep/blue", "*"}
    assert counts["*"] == counts["churn-aci"] + counts["fraud-aks"] > 0 and counts["credit-ep/blue"] == 0


@pytest.mark.parametrize("source", [[], ["--events", "--since", "1h"]], ids=["getLogs", "endpoint-logs"])
@pytest.mark.parametrize(
    ("target", "error", "hint"),
    [
        (
            "nosuch/blue",
            "no online endpoint named 'nosuch' in the workspace",
            "its online endpoints: credit-ep (`amlmon services list` shows every deployment)",
        ),
        ("credt-ep/blue", "no online endpoint named 'credt-ep' in the workspace", "did you mean credit-ep?"),
        (
            "credit-ep/bleu",
            "endpoint credit-ep has no deployment named 'bleu'",
            "did you mean credit-ep/blue?",
        ),
    ],
)
def test_logs_of_an_unknown_endpoint_or_deployment_names_it_with_did_you_mean(
    cli: Any, workspace: dict[str, Any], source: list[str], target: str, error: str, hint: str
) -> None:
    """Not ARM's raw ResourceNotFound: which name is wrong, and the workspace's names to use instead."""
    result = cli("logs", target, *source, *workspace["scope"])
    assert result.exit_code == 3, result.stderr
    assert result.stderr.splitlines() == [f"error: {error}", f"hint: {hint}"]
    control = cli("logs", "credit-ep/blue", *source, *workspace["scope"])  # the right name reads its log
    assert control.exit_code == 0, control.stderr


@pytest.mark.parametrize("source", [[], ["--events", "--since", "1h"]], ids=["getLogs", "endpoint-logs"])
@pytest.mark.parametrize("target", ["churn-aci", "churn-aci/blue"])
def test_logs_of_a_v1_web_service_says_it_is_one_and_points_to_traces(
    cli: Any, workspace: dict[str, Any], source: list[str], target: str
) -> None:
    result = cli("logs", target, *source, *workspace["scope"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: 'churn-aci' is a v1 web service; `amlmon logs` reads v2 online deployments",
        "hint: read its Application Insights traces: amlmon traces churn-aci",
    ]
    assert cli("traces", "churn-aci", "--since", "1h", *workspace["scope"]).exit_code == 0  # the hint works


def test_logs_of_a_bare_endpoint_names_its_deployments(cli: Any, workspace: dict[str, Any]) -> None:
    result = cli("logs", "credit-ep", *workspace["scope"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: 'credit-ep' names an endpoint; getLogs reads one deployment's container",
        "hint: give endpoint/deployment, e.g. credit-ep/blue",
    ]


@pytest.mark.parametrize(
    ("command", "target", "broken"),
    [
        (
            ["logs"],
            "crédit-ep",
            "the name 'crédit-ep' has 'é', which is not allowed; a name is 1-64 characters",
        ),
        (["logs"], "e" * 300, "the name '" + "e" * 37 + "...' is 300 characters long; a name is 1-64"),
        (["logs"], "credit-ep/..", "the deployment name '..' starts with '.'; a name is 1-64 characters"),
        (["traces"], "credit-ep/blue/x", "a target has at most one '/' (it has 2)"),
        (["stats"], "credit-ep/", "the deployment name is empty; a name is 1-64 characters"),
    ],
)
def test_a_target_that_breaks_the_naming_rule_is_refused_with_that_rule(
    cli: Any, command: list[str], target: str, broken: str
) -> None:
    """README: a name that breaks the naming rule is exit 2, the rule is the hint (before any request)."""
    result = cli(*command, target, *OFFLINE_SCOPE, env=OFFLINE)
    assert result.exit_code == 2, result.stderr
    error, hint = result.stderr.splitlines()
    assert error == f"error: {target!r} is not a target" and hint.startswith(f"hint: {broken}"), hint
    # positive control: a name that follows the rule gets past the check (to the workspace's name)
    passed = cli(*command, "credit-ep", *OFFLINE_SCOPE, env=OFFLINE).stderr
    assert passed.startswith("error: --workspace-name 'ws' is not a valid Azure ML workspace name"), passed
