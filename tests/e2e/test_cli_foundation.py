"""What every command shares: start-up cost, completion, global options, errors, the workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from amlmon.cli.completion_gen import SCRIPTS, render
from tests.conftest import REPO_ROOT, Emulator

AZURE_MODULES_AFTER = """
import os, sys
from amlmon.cli.app import run
try:
    run(sys.argv[1:])
except SystemExit:
    pass
print("\\nLOADED=" + ",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("azure", "duckdb", "pyarrow"))))
"""


def loaded_heavy_modules(args: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", AZURE_MODULES_AFTER, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    return result.stdout.rsplit("LOADED=", 1)[1].strip()


def test_help_imports_no_azure_sdk() -> None:
    assert loaded_heavy_modules(["--help"]) == ""
    assert loaded_heavy_modules(["emulator", "--help"]) == ""


def test_completion_imports_no_azure_sdk_and_completes_commands() -> None:
    env = {"_AMLMON_COMPLETE": "complete_bash", "COMP_WORDS": "amlmon emu", "COMP_CWORD": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "amlmon"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert result.returncode == 0 and "emulator" in result.stdout.split()
    assert loaded_heavy_modules([], env) == ""


@pytest.mark.parametrize("shell", sorted(SCRIPTS))
def test_committed_completion_scripts_are_current(shell: str) -> None:
    committed = (REPO_ROOT / "completions" / SCRIPTS[shell]).read_text()
    assert committed == render(shell), "run `make completions` and commit the result"


def bash_complete(line: str) -> list[str]:
    """What TAB offers after `line` in bash with the shipped script — with no Python on PATH."""
    script = REPO_ROOT / "completions" / "amlmon.bash"
    words = line.split(" ")
    program = (
        f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
        '_amlmon; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(
        ["/bin/bash", "--norc", "-c", program],
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent"},
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return [w for w in result.stdout.splitlines() if w]


def test_static_bash_completion_of_commands_options_and_values() -> None:
    assert "emulator" in bash_complete("amlmon emu")
    assert bash_complete("amlmon emulator faults a") == ["add"]
    assert bash_complete("amlmon -o js") == ["json", "jsonc", "jsonl"]
    assert bash_complete("amlmon -g my-rg workspace s") == ["show"]
    assert "--output" in bash_complete("amlmon workspace show --out")
    assert bash_complete("amlmon --cloud Azure") == ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"]


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        # -f is --follow (a flag) in traces, a FILE in query; --log-analytics a flag in query, an ID in export
        ("amlmon traces -f --mod", ["--model-data"]),
        ("amlmon -o json traces -f --fo", ["--follow", "--format"]),
        ("amlmon query -f ", []),
        ("amlmon query --log-analytics --si", ["--since"]),
        ("amlmon export enable --log-analytics ", []),
        ("amlmon traces churn --since 1h --mod", ["--model-data"]),
    ],
)
def test_static_completion_knows_which_options_take_a_value_in_each_command(
    line: str, offered: list[str]
) -> None:
    assert bash_complete(line) == offered


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("amlmon traces --format j", ["json", "jsonl"]),
        ("amlmon data pull --format p", ["parquet"]),
        ("amlmon data extract --format ", ["parquet", "jsonl", "csv"]),
        ("amlmon traces --severity e", ["error"]),
        ("amlmon services list --kind ", ["ACI", "AKS", "Managed", "Kubernetes"]),
        ("amlmon diagnostics enable --kind A", ["ACI", "AKS"]),
        ("amlmon export enable --tables AppT", ["AppTraces"]),
        ("amlmon emulator faults add s", ["status", "slow"]),
        ("amlmon emulator seed --generation 1", ["1.5", "1.4"]),
    ],
)
def test_static_completion_offers_the_values_of_enumerated_options(line: str, offered: list[str]) -> None:
    assert bash_complete(line) == offered


def test_fish_completion_skips_option_values_per_command() -> None:
    script = (REPO_ROOT / "completions" / "amlmon.fish").read_text()
    takes_value = script.split("function __amlmon_takes_value", 1)[1].split("end\n", 1)[0]
    assert "'query|-f'" in takes_value and "'traces|-f'" not in takes_value
    assert "'export enable|--log-analytics'" in takes_value and "'query|--log-analytics'" not in takes_value
    assert "-l format -r -a 'pretty short json jsonl raw'" in script


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-o", "xml", "workspace", "show"], "xml"),
        (["--auth", "magic", "workspace", "show"], "magic"),
        (["workspace", "show", "--no-such-flag"], "--no-such-flag"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_usage_errors_exit_2_without_traceback(cli, args: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("args", "first", "help_of"),
    [
        (
            ["workspace", "show", "--no-such-flag"],
            "error: no such option: --no-such-flag",
            "amlmon workspace show",
        ),
        (["no-such-command"], "error: no such command 'no-such-command'", "amlmon"),
        (["services", "lis"], "error: no such command 'lis'. Did you mean 'list'?", "amlmon services"),
        (["data", "pull", "churn"], "error: missing option '--out'", "amlmon data pull"),
        (["traces", "--limit", "abc"], "error: invalid value for '--limit'", "amlmon traces"),
        # click gives "requires an argument" no context: the hint named `amlmon --help`
        (
            ["traces", "churn", "--since", "1h", "--message"],
            "error: option '--message' requires",
            "amlmon traces",
        ),
    ],
)
def test_click_usage_errors_are_one_error_line_and_a_hint(
    cli, args: list[str], first: str, help_of: str
) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(first), result.stderr
    assert lines[1] == f"hint: see `{help_of} --help`"
    assert "Usage:" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--outptu", "json", "services", "list"], "hint: did you mean --output?"),  # before the command
        (["services", "list", "--outptu", "json"], "hint: did you mean --output?"),  # after it
        (["services", "list", "--outptu=json"], "hint: did you mean --output?"),
        (
            ["--verbos", "services", "list"],
            "hint: did you mean --verbose?",
        ),  # closer than the root's --version
        # control: the command's own option is the closer one (click names it), the hint stays the help's
        (["data", "pull", "--sinc", "1h"], "hint: see `amlmon data pull --help`"),
        # control: an option like no global one (`--until`, which data tail lacks) is not matched on the
        # dashes all options share (it was "did you mean --auth?")
        (["data", "tail", "--until", "1h"], "hint: see `amlmon data tail --help`"),
    ],
)
def test_a_mistyped_global_option_gets_a_did_you_mean(cli, args: list[str], hint: str) -> None:  # type: ignore[no-untyped-def]
    """Global options are taken out of argv before click parses, so click's own did-you-mean (the one
    mistyped commands get) never saw them."""
    result = cli(*args)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: no such option: --"), result.stderr
    assert lines[1] == hint and result.stdout == "", result.stderr
    if "did you mean" in hint:  # the error line does not offer another option than the hint
        assert "possible options" not in lines[0].lower() and "did you mean" not in lines[0], result.stderr


@pytest.mark.parametrize(
    ("args", "first", "hint"),
    [
        # jmespath's message spread the expression and a caret over three lines
        (["query", "traces", "--query", "["], "error: --query '[' is not a valid JMESPath expression: ",
         "hint: see https://jmespath.org"),
        (["traces", "churn", "-f", "--until", "2020-01-01"], "error: --until (2020-01-01",
         "hint: with --follow, --until is when to stop"),
    ],
)  # fmt: skip
def test_bad_values_are_one_error_line_and_a_hint(cli, args: list[str], first: str, hint: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args, "--subscription", "00000000-0000-0000-0000-000000000000", "-g", "rg", "-w", "wsx")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(first) and lines[1].startswith(hint), result.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("group = rg-without-section\n", "line 1 comes before any [section] header"),
        ("[defaults]\ngroup = rg\nthis is not a setting\n", "line 3 is not `name = value`"),
    ],
)
def test_a_malformed_az_config_is_one_error_line_and_a_hint(
    cli, tmp_path: Path, content: str, problem: str
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "az").mkdir()
    (tmp_path / "az" / "config").write_text(content)
    env = {"HOME": str(tmp_path), "AZURE_CONFIG_DIR": str(tmp_path / "az")}
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = cli("workspace", "show", env=env)
    finally:
        os.chdir(old)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {tmp_path / 'az' / 'config'} is malformed: {problem}"
    assert len(lines) == 2 and lines[1].startswith("hint: fix or move it")


def _command_paths() -> list[list[str]]:
    from typer.main import get_command

    from amlmon.cli.app import app

    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(get_command(app), [])
    return found


def test_help_shows_what_a_value_is_not_its_python_type(cli) -> None:  # type: ignore[no-untyped-def]
    import re

    type_names = re.compile(r"<[a-z][a-z ]*>|(?:--[\w-]+|-\w) (?:TEXT|INTEGER|FLOAT)\b")
    for path in _command_paths():
        result = cli(*path, "--help")
        assert result.exit_code == 0, (path, result.stderr)
        options = result.stdout.split("Global options:")[0]
        assert not type_names.findall(options.replace("--message TEXT", "")), (
            path,
            type_names.findall(options),
        )
    check = cli("check", "--help").stdout
    for shown in ("--max-p95 DURATION", "--max-failure-rate RATE", "--min-requests N", "--since WHEN"):
        assert shown in check
    assert "--out PATH" in cli("data", "pull", "--help").stdout
    assert cli("traces", "--help").stdout.startswith("Usage: amlmon traces [OPTIONS] [TARGET]...")
    assert cli("logs", "--help").stdout.startswith("Usage: amlmon logs [OPTIONS] TARGET\n")
    from amlmon.diagnostics import ROLLING_RATES

    rates = "|".join(rate.lower() for rate in ROLLING_RATES)  # what parse_rolling_rate accepts
    assert f"--rolling-rate {rates}" in cli("diagnostics", "enable", "--help").stdout


def test_data_pull_help_says_where_each_generation_is_read_from(cli) -> None:  # type: ignore[no-untyped-def]
    """`data pull` reads v1 model data from App Insights' query API and v2 from the data collector's
    blobs: its help (whose first line the completions show too) said "from the query API" for both."""
    import re

    _usage, first, *rest = cli("data", "pull", "--help").stdout.split("Arguments:")[0].strip().split("\n\n")
    first = " ".join(first.split())
    assert "v1 from App Insights" in first and "v2 from the data collector's blobs" in first, first
    body = " ".join(" ".join(rest).split())
    assert re.search(r"v1\b[^.]*App Insights' query API", body), body
    assert re.search(r"v2\b[^.]*data collector's blobs", body), body


def test_usage_lines_name_arguments_without_braces(cli) -> None:  # type: ignore[no-untyped-def]
    """Typer wraps a required argument in braces ({ENDPOINT[/DEPLOYMENT]}), which reads as a choice set."""
    usages = {" ".join(path): cli(*path, "--help").stdout.splitlines()[0] for path in _command_paths()}
    assert usages["data extract"] == "Usage: amlmon data extract [OPTIONS] SOURCE"  # a required one is there
    assert not [usage for usage in usages.values() if "{" in usage], usages


def test_top_level_help_lists_the_global_options(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--help")
    assert result.exit_code == 0
    assert "Global options:" in result.stdout
    for option in (
        "--subscription ID",
        "-g, --resource-group NAME",
        "-o, --output",
        "--query JMESPATH",
        "--verbose",
    ):
        assert option in result.stdout


def test_unresolved_workspace_lists_where_it_looked(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"HOME": str(tmp_path), "AZURE_CONFIG_DIR": str(tmp_path / "az")}
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = cli("workspace", "show", env=env)
    finally:
        os.chdir(old)
    assert result.exit_code == 2, result.stderr
    assert "config.json" in result.stderr and "AMLMON_*" in result.stderr
    assert "Traceback" not in result.stderr


def test_workspace_show_gives_provenance_and_linked_resources(cli, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    result = cli(
        "workspace",
        "show",
        "-g",
        ws["resourceGroup"],
        "-w",
        ws["name"],
        "-o",
        "json",
        env={"AMLMON_SUBSCRIPTION": ws["subscription"]},
    )
    assert result.exit_code == 0, result.stderr
    shown = result.json()
    assert shown["subscriptionSource"] == "AMLMON_SUBSCRIPTION"
    assert shown["workspaceSource"] == "--workspace-name"
    assert shown["appInsights"]["id"].lower() == ws["appInsightsId"].lower()
    assert shown["appInsights"]["appId"] == ws["appId"]
    assert shown["logAnalytics"]["customerId"] == ws["customerId"]
    assert "ConnectionString" not in result.stdout and ws["instrumentationKey"] not in result.stdout


def test_workspace_by_resource_id_and_jmespath_query(cli, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    result = cli("workspace", "show", "-w", ws["workspaceId"], "--query", "workspace", "-o", "tsv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == ws["name"]


def test_missing_workspace_is_not_found_exit_3(cli, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    result = cli(
        "workspace", "show", "--subscription", ws["subscription"], "-g", ws["resourceGroup"], "-w", "nope"
    )
    assert result.exit_code == 3, result.stderr
    assert "nope" in result.stderr and "Traceback" not in result.stderr


def test_show_of_a_missing_workspace_still_says_where_each_value_came_from(cli, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    result = cli(
        "workspace", "show", "-g", ws["resourceGroup"], "-w", "nope", "-o", "json",
        env={"AMLMON_SUBSCRIPTION": ws["subscription"]},
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    shown = result.json()
    assert (shown["workspace"], shown["workspaceSource"]) == ("nope", "--workspace-name")
    assert (shown["subscription"], shown["subscriptionSource"]) == (ws["subscription"], "AMLMON_SUBSCRIPTION")
    assert shown["resourceGroupSource"] == "--resource-group"
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: workspace 'nope' not found")
    assert lines[1].startswith("hint: the values above say where each came from")
    assert "workspace show" not in lines[1], "the hint does not send the user back to the command they ran"


@pytest.mark.parametrize("flag", ["-g", "--subscription"])
def test_a_flag_that_contradicts_a_full_workspace_id_is_a_conflict(
    cli, emulator: Emulator, flag: str
) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    before = emulator.last_seq()
    other = "rg-other" if flag == "-g" else "11111111-1111-1111-1111-111111111111"
    result = cli("workspace", "show", "-w", ws["workspaceId"], flag, other, "-o", "json")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert (
        len(lines) == 2 and f"{other!r} conflicts with -w" in lines[0] and lines[1].startswith("hint: drop ")
    )
    assert not [r for r in emulator.requests_since(before) if not r["path"].startswith("/_emulator")]
    same = ws["resourceGroup"].upper() if flag == "-g" else ws["subscription"]
    agreed = cli("workspace", "show", "-w", ws["workspaceId"], flag, same, "-o", "json")
    assert agreed.exit_code == 0, agreed.stderr


def test_debug_logs_http_but_never_the_token(emulator: Emulator, tmp_path: Path) -> None:
    ws = emulator.create_workspace("cli")
    result = subprocess.run(
        [sys.executable, "-m", "amlmon", "--debug", "workspace", "show", *ws["scope"], "-o", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, **emulator.env()},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Authorization" in result.stderr
    assert "emu." not in result.stderr + result.stdout  # emulator tokens start with "emu."
    assert ws["instrumentationKey"] not in result.stderr + result.stdout


def test_debug_logs_each_request_once(cli, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    for _ in range(2):  # a second run in the same process must not log twice either
        result = cli("--debug", "workspace", "show", *ws["scope"], "-o", "json")
        assert result.exit_code == 0, result.stderr
        workspace_get = f"/workspaces/{ws['name']}?api-version="
        requests = [
            line for line in result.stderr.splitlines() if "Request URL:" in line and workspace_get in line
        ]
        assert len(requests) == 1, "\n".join(requests)
        assert result.stderr.count("Response status:") == result.stderr.count("Request URL:")


@pytest.mark.usefixtures("clear_faults")
def test_verbose_says_which_workspace_and_route_the_retries_and_the_time(cli, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    args = ["query", "traces | take 1", *ws["scope"], "-o", "json"]
    quiet = cli(*args)
    assert quiet.exit_code == 0 and quiet.stderr == "", "without --verbose: nothing on stderr"
    emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 503, "retryAfter": 0, "path": "/query$", "count": 1},
    )
    result = cli("--verbose", *args)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("info: ") for line in lines), result.stderr
    assert lines[0] == (
        f"info: workspace {ws['name']} (--workspace-name), resource group {ws['resourceGroup']} "
        f"(--resource-group), subscription {ws['subscription']} (--subscription), cloud local"
    )
    assert any(
        line.startswith("info: queries go to the App Insights component /subscriptions/") for line in lines
    )
    assert any("/query answered 503, Retry-After 0s; retryable: the SDK asks again" in line for line in lines)
    assert lines[-1].startswith("info: command ran in ") and lines[-1].endswith(" seconds")


@pytest.mark.usefixtures("clear_faults")
def test_throttling_is_retried_then_reported_with_exit_5(cli, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    pattern = f"/workspaces/{ws['name']}$"
    emulator.admin("POST", "/_emulator/faults", {"path": pattern, "status": 429, "retryAfter": 0, "count": 1})
    assert cli("workspace", "show", *ws["scope"], "-o", "json").exit_code == 0
    emulator.admin(
        "POST", "/_emulator/faults", {"path": pattern, "status": 429, "retryAfter": 0, "count": 50}
    )
    result = cli("workspace", "show", *ws["scope"], "-o", "json")
    assert result.exit_code == 5, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("flag", "env"), [(["--timeout", "3s"], {}), ([], {"AMLMON_TIMEOUT": "3s"})], ids=["option", "env"]
)
@pytest.mark.usefixtures("clear_faults")
def test_retry_after_600_on_every_query_ends_at_the_timeout_with_exit_5(
    emulator: Emulator, flag: list[str], env: dict[str, str]
) -> None:
    """Issue 12.4: Retry-After is honoured up to a cap and a one-shot command gives up at --timeout
    (exit 5 and the hint) instead of waiting ten minutes a retry."""
    import time

    from tests.conftest import spawn_amlmon

    ws = emulator.create_workspace("cli")
    emulator.admin(
        "POST", "/_emulator/faults", {"path": "/query$", "status": 429, "retryAfter": 600, "count": None}
    )
    started = time.monotonic()
    process = spawn_amlmon(
        ["check", *ws["scope"], "--since", "1h", "--min-requests", "0", *flag],
        {**emulator.env(), **env},
    )
    try:
        _out, err = process.communicate(timeout=60)
        _, rules = emulator.admin("GET", "/_emulator/faults")
    finally:
        if process.poll() is None:
            process.kill()
    assert rules["value"][0]["hits"] >= 1  # the service did throttle
    assert process.returncode == 5, err
    assert time.monotonic() - started < 30
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: gave up after --timeout 3s") and "Retry-After" in lines[0]
    assert lines[1].startswith("hint:") and "--timeout" in lines[1] and "Traceback" not in err


@pytest.mark.usefixtures("clear_faults")
def test_a_short_retry_after_is_honoured_within_the_timeout(cli, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    ws = emulator.create_workspace("cli")
    emulator.admin(
        "POST", "/_emulator/faults", {"path": "/query$", "status": 429, "retryAfter": 1, "count": 2}
    )
    result = cli("query", "print x = 1", *ws["scope"], "-o", "json", "--timeout", "30s")
    _, rules = emulator.admin("GET", "/_emulator/faults")
    assert result.exit_code == 0, result.stderr
    assert rules["value"][0]["hits"] == 2


def test_emulator_lifecycle_from_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    amlmon = [sys.executable, "-m", "amlmon"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*amlmon, *args], capture_output=True, text=True, timeout=120)

    started = run("emulator", "start", "--detach", "--data", str(data), "-o", "json")
    try:
        assert started.returncode == 0, started.stderr
        status = run("emulator", "status", "--data", str(data), "-o", "json")
        assert status.returncode == 0 and json.loads(status.stdout)["endpoint"].startswith(
            "https://127.0.0.1:"
        )
        capped = run("emulator", "settings", "--data", str(data), "--query-row-limit", "100", "-o", "json")
        assert capped.returncode == 0 and json.loads(capped.stdout)["queryRowLimit"] == 100
        reset = run("emulator", "settings", "--data", str(data), "--reset", "-o", "json")
        assert reset.returncode == 0 and json.loads(reset.stdout)["queryRowLimit"] is None
    finally:
        stopped = run("emulator", "stop", "--data", str(data))
    assert stopped.returncode == 0, stopped.stderr
    assert not (data / "state.json").exists()
    assert run("emulator", "status", "--data", str(data)).returncode != 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_emulator_refuses_to_bind_beyond_loopback(tmp_path: Path, host: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "amlmon", "emulator", "start", "--host", host, "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr and "Traceback" not in result.stderr


def _start(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amlmon", "emulator", "start", "--data", str(tmp_path / "emu"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("port", ["99999", "-1"])
@pytest.mark.parametrize("detach", [False, True])
def test_emulator_start_refuses_a_port_out_of_range(tmp_path: Path, port: str, detach: bool) -> None:
    result = _start(tmp_path, "--port", port, *(["--detach"] if detach else []))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: --port {port} is not a port", lines
    assert lines[1].startswith("hint: give 1-65535, or 0") and len(lines) == 2, lines


@pytest.mark.parametrize("detach", [False, True])
def test_emulator_start_on_a_port_in_use_says_which_and_what_to_do(tmp_path: Path, detach: bool) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _start(tmp_path, "--port", str(port), *(["--detach"] if detach else []))
        # The emulator's own entry point (what --detach runs) says it the same way, with its own code.
        served = subprocess.run(
            [
                sys.executable,
                "-m",
                "amlmon.emulator",
                "serve",
                "--data",
                str(tmp_path / "s"),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: port {port} on 127.0.0.1 is already in use", lines
    assert len(lines) == 2 and "another --port" in lines[1] and "amlmon emulator stop" in lines[1], lines
    assert served.returncode == 98 and served.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use"
    ], served.stderr
    # Positive control: the same command on a free port starts (and is stopped again).
    free = _start(tmp_path, "--port", str(port), "--detach", "-o", "json")
    try:
        assert free.returncode == 0, free.stderr
    finally:
        subprocess.run(
            [sys.executable, "-m", "amlmon", "emulator", "stop", "--data", str(tmp_path / "emu")],
            capture_output=True,
            timeout=60,
        )


def test_workspaces_keep_working_after_an_emulator_restart(tmp_path: Path) -> None:
    """The port changes on restart; discovery URL, ingestion endpoint and scoring URIs follow it."""
    from tests.conftest import run_cli, start_emulator, stop_emulator

    data = tmp_path / "emu"
    first = start_emulator(data)
    try:
        ws = first.create_workspace("restart", services=[{"name": "svc", "computeType": "ACI"}])
    finally:
        stop_emulator(first)
    second = start_emulator(data)
    try:
        result = run_cli(["services", "list", *ws["scope"], "-o", "json"], second.env())
        assert result.exit_code == 0, result.stderr
        assert [s["scoringUri"] for s in result.json()] == [f"{second.endpoint}/api/v1/service/svc/score"]
        shown = run_cli(["workspace", "show", *ws["scope"], "-o", "json"], second.env()).json()
        assert shown["discoveryUrl"] == f"{second.endpoint}/discovery"
    finally:
        stop_emulator(second)


@pytest.mark.parametrize("verb", ["stats", "check"])
def test_a_missing_workspace_with_endpoint_logs_is_said_as_such(  # type: ignore[no-untyped-def]
    cli, emulator: Emulator, verb: str
) -> None:
    ws = emulator.create_workspace("cli")
    where = ["--subscription", ws["subscription"], "-g", ws["resourceGroup"]]
    for target in ([], ["ep/blue"]):
        result = cli(verb, *target, "--endpoint-logs", *where, "-w", "nope")
        assert result.exit_code == 3, result.stderr
        assert result.stderr.startswith("error: workspace 'nope' not found"), result.stderr
    control = cli(verb, "--endpoint-logs", *where, "-w", ws["name"])  # the workspace exists: no such error
    assert "not found" not in control.stderr, control.stderr


@pytest.mark.parametrize("group", [[], ["data"], ["diagnostics"], ["emulator", "faults"]])
def test_a_group_without_its_command_shows_its_help_laid_out(cli, group: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*group)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Usage: amlmon {' '.join(group)}".rstrip()), result.stderr
    assert "Commands:" in lines and not any(line.startswith("error:") for line in lines)
    assert cli(*group, "--help").stdout.strip() == result.stderr.strip()  # the very --help text


@pytest.mark.parametrize(("given", "env"), [(["--timeout", "abc"], {}), ([], {"AMLMON_TIMEOUT": "0s"})])
def test_a_bad_timeout_is_refused_before_a_blob_only_pull_runs(cli, tmp_path, given, env) -> None:  # type: ignore[no-untyped-def]
    """--timeout was parsed only when a client first waited on a retry, so a collector pull that needed
    none ran with `--timeout abc` (exit 0) and one that did failed late; it is refused first (exit 2)."""
    out = tmp_path / "never.csv"
    url = "https://127.0.0.1:9/devstoreaccount1/azureml-blobstore-x"  # discard port: never reached
    args = ["data", "pull", "ep/blue", "--datastore-url", url, "--since", "1h", "--out", str(out), *given]
    result = cli(*args, env={"AMLMON_WORKSPACE": "", **env})
    assert result.exit_code == 2, result.stderr
    error, hint = result.stderr.splitlines()
    assert error.startswith("error: --timeout ") and hint.startswith("hint: "), result.stderr
    assert not out.exists()
    # Positive control: a good --timeout gets as far as the storage account (unreachable here: its retries
    # reach the 2 s deadline, exit 5)
    reached = cli(*args[: -len(given) or None], "--timeout", "2s", env={"AMLMON_WORKSPACE": ""})
    assert reached.exit_code == 5 and "the storage account did not answer" in reached.stderr, reached.stderr
