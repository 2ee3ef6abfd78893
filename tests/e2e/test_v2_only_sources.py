"""Sources only v2 deployments have (platform metrics, the endpoints' traffic log): the targets are
resolved once before any read, a v1 service is refused, and every deployment of an endpoint is gated."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import mixed_workspace

pytestmark = pytest.mark.usefixtures("clear_faults")


@pytest.mark.parametrize(
    "args",
    [
        ["check", "churn-aci", "--max-cpu", "80%"],
        ["stats", "churn-aci", "--metrics"],
        ["check", "churn-aci", "--endpoint-logs"],
        ["stats", "churn-aci", "--endpoint-logs"],
    ],
)
def test_v2_only_source_of_a_v1_service_is_a_usage_error(cli: Any, emulator: Any, args: list[str]) -> None:
    ws = mixed_workspace(emulator)
    result = cli(*args, *ws["args"])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: metrics and endpoint logs are for v2 deployments only"), lines
    assert "churn-aci" in lines[0] and lines[1].startswith("hint:"), lines
    assert lines[1].endswith(f"e.g. amlmon {args[0]} churn-aci"), "the same command, without the v2 source"
    assert "ResourceNotFound" not in result.stderr and result.stdout == ""
    without = [arg for arg in args if arg not in ("--metrics", "--endpoint-logs", "--max-cpu", "80%")]
    assert cli(*without, *ws["args"]).exit_code in (0, 1), "the hinted command works for v1"


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["stats", "credit-ep", "--metrics"], ["--endpoint-logs"]),  # two sources: one was dropped silently
        (["stats", "credit-ep", "--metrics"], ["--role", "x"]),  # an App Insights role: no metric has it
        (["stats", "credit-ep", "--endpoint-logs"], ["--role", "x"]),
        (["check", "credit-ep", "--max-cpu", "80%"], ["--role", "x"]),
        (["check", "credit-ep", "--endpoint-logs"], ["--role", "x"]),
    ],
)
def test_an_option_the_v2_source_cannot_honour_is_refused_not_ignored(
    cli: Any, emulator: Any, args: list[str], extra: list[str]
) -> None:
    ws = mixed_workspace(emulator)
    result = cli(*args, *extra, "--since", "1h", *ws["args"])
    assert result.exit_code == 2 and result.stdout == "", (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and extra[0] in lines[0], lines
    assert lines[1].startswith("hint: "), lines
    # Positive control: the same command without it runs (a gate may fail on no traffic: exit 1)
    assert cli(*args, "--since", "1h", *ws["args"]).exit_code in (0, 1)


def test_a_rate_over_100_percent_names_the_range(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    result = cli("check", "credit-ep/blue", "--max-cpu", "120%", *ws["args"])
    assert result.exit_code == 2 and "error: --max-cpu '120%' is more than 100%" in result.stderr
    assert "hint: --max-cpu takes a percentage from 0% to 100%" in result.stderr


def test_v2_only_source_of_an_unknown_name_is_not_found(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    result = cli("check", "credit-e", "--endpoint-logs", *ws["args"])
    assert result.exit_code == 3, result.stderr
    assert "did you mean credit-ep" in result.stderr


def test_endpoint_logs_gate_every_deployment_of_an_endpoint_on_its_own(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    result = cli("check", "credit-ep", "--endpoint-logs", *ws["args"], "-o", "json")
    assert result.exit_code == 1, result.stderr
    verdict = result.json()
    failed = sorted({r["target"] for r in verdict["results"] if r["status"] == "FAIL"})
    assert failed == ["credit-ep/blue", "credit-ep/green"], verdict
    # Positive control: --min-requests 0 lets both pass (the failure was their 0 requests).
    allowed = cli("check", "credit-ep", "--endpoint-logs", "--min-requests", "0", *ws["args"], "-o", "json")
    assert allowed.exit_code == 0, allowed.stdout
    assert {r["target"] for r in allowed.json()["results"]} == {"credit-ep/blue", "credit-ep/green"}


@pytest.mark.parametrize("command", ["stats", "check"])
def test_an_unknown_name_is_said_first_though_the_workspace_read_beside_it_fails(
    cli: Any, emulator: Any, command: str
) -> None:
    """`--endpoint-logs` reads the workspace's App Insights / Log Analytics resources while it checks the
    targets: a failure of that read must not overtake the not-found of a name (nor change its words)."""
    ws = mixed_workspace(emulator)
    args = ["--endpoint-logs", *ws["args"]]
    plain = cli(command, "credit-e/blue", *args)
    status, _ = emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 403, "path": "/providers/microsoft.insights/components/", "count": None},
    )
    assert status in (200, 201)
    unknown = cli(command, "credit-e/blue", *args)
    assert unknown.exit_code == plain.exit_code == 3, unknown.stderr
    assert unknown.stderr == plain.stderr and "did you mean credit-ep" in unknown.stderr
    # Positive control: the fault is live: a known name reaches the component and fails on it.
    known = cli(command, "credit-ep/blue", *args)
    assert known.exit_code == 4, (known.exit_code, known.stderr)


@pytest.mark.parametrize("source", ["--metrics", "--endpoint-logs"])
def test_v2_stats_table_on_a_narrow_terminal_keeps_one_line_per_row_and_the_whole_target(
    cli: Any, emulator: Any, source: str
) -> None:
    """As every amlmon table: one line per row, cells cut with … to the terminal, the target never cut
    (the v2 tables wrapped their header and cells over lines and cut `credit-ep/blue` to `credit-…`)."""
    from tests.helpers import on_a_terminal

    ws = mixed_workspace(emulator)
    args = ["stats", "credit-ep", source, "--since", "1h", *ws["args"], "-o", "table", "--no-color"]
    for columns in (70, 100):
        lines = on_a_terminal(args, emulator.env(), columns=columns).splitlines()
        table = [line for line in lines if line.strip()][-3:]  # after the title: header and two rows
        assert table[0].startswith("target "), lines
        assert [line.split()[0] for line in table[1:]] == ["credit-ep/blue", "credit-ep/green"], lines
        assert all(len(line.rstrip()) <= columns for line in table), lines
    # Positive control: piped, every cell is whole (the same header words as on a terminal)
    piped = cli(*args).stdout.splitlines()
    assert piped[-3].split()[:2] == ["target", "requests"] and piped[-2].split()[0] == "credit-ep/blue"


@pytest.mark.parametrize("source", ["--metrics", "--endpoint-logs"])
def test_v2_stats_tsv_is_one_row_per_target(cli: Any, emulator: Any, source: str) -> None:
    """As v1 `stats -o tsv`: one row per target (target, start, end, source, then each figure); it was
    one line holding the whole answer's JSON."""
    ws = mixed_workspace(emulator)
    result = cli("stats", "credit-ep", source, "--since", "1h", *ws["args"], "-o", "tsv")
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == ["credit-ep/blue", "credit-ep/green"], result.stdout
    named = {"--metrics": "platform-metrics", "--endpoint-logs": "endpoint-logs"}[source]
    assert all(len(row) == len(rows[0]) > 5 and row[3] == named for row in rows), rows
    assert not any(cell.startswith(("{", "[")) for row in rows for cell in row), rows
    assert rows[0][4] == "0"  # requests.count: the deployment had no traffic
