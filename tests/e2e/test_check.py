"""`amlmon check`, the CI gate: right verdicts on seeded telemetry, distinct exit codes, never a false pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator

SVC = "gate-svc"  # a 1.5.x service: the truth is only in the custom dimensions


@pytest.fixture(scope="module")
def seeded(emulator: Emulator) -> dict[str, Any]:
    services = [{"name": SVC, "computeType": "ACI"}, {"name": "silent-svc", "computeType": "ACI"}]
    ws = emulator.create_workspace("check", services=services)
    body = emulator.seed(
        ws,
        [SVC],
        hours=1,
        ratePerMinute=10,
        generation="1.5",
        seed=11,
        failureRate={SVC: 0.05},
        latencyMs={SVC: 100},
    )
    truth = body["truth"][SVC]
    assert truth["failures"] > 0
    return {"scope": ws["scope"], "truth": truth}


pytestmark = pytest.mark.usefixtures("clear_faults")


def check(
    cli: Any, seeded: dict[str, Any], *args: str, output: str = "json", env: dict[str, str] | None = None
) -> Any:
    return cli("check", *args, "--since", "2h", *seeded["scope"], "-o", output, env=env)


def _rate(truth: dict[str, Any]) -> float:
    return float(truth["failures"]) / float(truth["requests"])


def test_passes_when_every_threshold_holds(cli: Any, seeded: dict[str, Any]) -> None:
    truth = seeded["truth"]
    limit_rate = f"{(_rate(truth) + 0.01) * 100:.2f}%"
    limit_p95 = f"{truth['p95'] + 5:.0f}ms"
    result = check(
        cli, seeded, SVC, "--max-failure-rate", limit_rate, "--max-p95", limit_p95, "--min-requests", "100"
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    verdict = result.json()
    assert verdict["passed"] is True
    assert [r["check"] for r in verdict["results"]] == ["minRequests", "maxFailureRate", "maxP95"]
    assert {r["status"] for r in verdict["results"]} == {"PASS"}
    measured = {r["check"]: r["measured"] for r in verdict["results"]}
    assert measured["minRequests"] == truth["requests"]
    assert measured["maxFailureRate"] == pytest.approx(_rate(truth), abs=1e-6)


def test_fails_on_the_failure_rate_just_below_the_truth(cli: Any, seeded: dict[str, Any]) -> None:
    limit = f"{(_rate(seeded['truth']) - 0.005) * 100:.2f}%"
    result = check(cli, seeded, SVC, "--max-failure-rate", limit, "--max-p95", "60s")
    assert result.exit_code == 1
    verdict = result.json()
    assert verdict["passed"] is False
    failed = [r for r in verdict["results"] if r["status"] == "FAIL"]
    assert [r["check"] for r in failed] == ["maxFailureRate"]
    assert failed[0]["reason"].startswith(f"{SVC}: failure rate ") and " > " in failed[0]["reason"]


@pytest.mark.parametrize("key", ["p95", "p99"])
def test_latency_limits_cut_at_the_measured_percentile(cli: Any, seeded: dict[str, Any], key: str) -> None:
    value = seeded["truth"][key]
    below = check(cli, seeded, SVC, f"--max-{key}", f"{value * 0.9 / 1000:.3f}s")
    above = check(cli, seeded, SVC, f"--max-{key}", f"{value * 1.1:.0f}ms")
    assert below.exit_code == 1, below.stdout
    assert above.exit_code == 0, above.stdout + above.stderr


def test_no_traffic_fails_on_min_requests_and_says_so(cli: Any, seeded: dict[str, Any]) -> None:
    result = check(cli, seeded, "silent-svc", "--max-failure-rate", "1%", output="table")
    assert result.exit_code == 1
    assert "FAIL silent-svc: only 0 requests in 2h, at least 1 required" in result.stdout
    assert "SKIP" in result.stdout and "PASS" not in result.stdout


def test_no_traffic_passes_only_when_allowed_explicitly(cli: Any, seeded: dict[str, Any]) -> None:
    result = check(cli, seeded, "silent-svc", "--max-failure-rate", "1%", "--min-requests", "0")
    assert result.exit_code == 0, result.stdout


def test_too_few_requests(cli: Any, seeded: dict[str, Any]) -> None:
    result = check(cli, seeded, SVC, "--min-requests", str(seeded["truth"]["requests"] + 1), output="table")
    assert result.exit_code == 1
    assert f"only {seeded['truth']['requests']} requests in 2h" in result.stdout


def test_one_line_per_threshold_on_a_terminal_table(cli: Any, seeded: dict[str, Any]) -> None:
    result = check(
        cli,
        seeded,
        SVC,
        "--max-failure-rate",
        "50%",
        "--max-p99",
        "60s",
        "--max-exceptions",
        "100000",
        output="table",
    )
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL", "SKIP"))]
    assert len(lines) == 4 and all(line.startswith("PASS") for line in lines)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-failure-rate", "5"),
        ("--max-failure-rate", "abc"),
        ("--max-p95", "fast"),
        ("--max-p95", "2"),
        ("--max-p50", "500"),
        ("--min-requests", "-1"),
    ],
)
def test_bad_thresholds_exit_2_with_an_example(
    cli: Any, emulator: Emulator, seeded: dict[str, Any], option: str, value: str
) -> None:
    before = emulator.last_seq()
    result = check(cli, seeded, SVC, option, value)
    assert result.exit_code == 2
    assert option in result.stderr and "hint:" in result.stderr and "e.g." in result.stderr
    assert not [e for e in emulator.requests_since(before) if "/query" in str(e.get("path", ""))]


@pytest.mark.parametrize("option", ["--max-p50", "--max-p95", "--max-p99"])
def test_a_latency_limit_needs_a_unit(cli: Any, seeded: dict[str, Any], option: str) -> None:
    # `--max-p95 2` used to be 2 ms, silently: now the gate refuses to guess and lists the accepted forms.
    result = check(cli, seeded, SVC, option, "2")
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {option} '2' has no unit"
    assert lines[1].startswith("hint:") and f"{option} 2ms" in lines[1] and "units: ms, s, m" in lines[1]
    assert len(lines) == 2 and result.stdout == ""


@pytest.mark.parametrize("value", ["1", "1.0", "5"])
def test_a_bare_rate_of_one_or_more_is_ambiguous(cli: Any, seeded: dict[str, Any], value: str) -> None:
    # `--max-failure-rate 1` was read as 100% and passed a 5% failure rate; the user may have meant 1%.
    result = check(cli, seeded, SVC, "--max-failure-rate", value)
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert (
        lines[0]
        == f"error: --max-failure-rate '{value}' is ambiguous: a rate without % is a fraction below 1"
    )
    assert lines[1].startswith("hint:") and f"--max-failure-rate {value}%" in lines[1] and "100%" in lines[1]
    assert len(lines) == 2 and result.stdout == ""
    # Positive control: the fraction below 1 is still a limit, and the 5% breach fails the gate.
    assert check(cli, seeded, SVC, "--max-failure-rate", "0.01").exit_code == 1


def test_a_persistent_503_is_an_error_exit_not_a_verdict(
    cli: Any, emulator: Emulator, seeded: dict[str, Any]
) -> None:
    status, _ = emulator.admin(
        "POST", "/_emulator/faults", {"kind": "status", "status": 503, "path": "/query", "count": None}
    )
    assert status in (200, 201)
    result = check(cli, seeded, SVC, "--max-failure-rate", "100%", "--min-requests", "0")
    assert result.exit_code == 6, (result.exit_code, result.stderr)
    assert result.stdout == ""  # no PASS, no FAIL, no JSON verdict
    assert result.stderr.startswith("error: the gate could not be evaluated")
    assert "Traceback" not in result.stderr


def test_throttled_once_then_the_verdict_is_right(
    cli: Any, emulator: Emulator, seeded: dict[str, Any]
) -> None:
    emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 429, "retryAfter": 1, "path": "/query", "count": 1},
    )
    result = check(cli, seeded, SVC, "--max-failure-rate", "100%")
    assert result.exit_code == 0, result.stderr
    assert result.json()["results"][0]["measured"] == seeded["truth"]["requests"]


def test_github_step_summary_is_appended(cli: Any, seeded: dict[str, Any], tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = check(
        cli, seeded, SVC, "--max-failure-rate", "0.001%", env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.exit_code == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "### amlmon check: FAILED" in text and "| ❌ | gate-svc | maxFailureRate |" in text


def test_print_query_runs_nothing(cli: Any, seeded: dict[str, Any]) -> None:
    result = cli("check", SVC, "--max-p95", "500ms", "--print-query", *seeded["scope"])
    assert result.exit_code == 0
    assert "percentile(ms, 95)" in result.stdout
