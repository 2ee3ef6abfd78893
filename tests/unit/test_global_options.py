"""No value given to any global option ends in a traceback: always a documented exit code and one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlmon.cli.options import GLOBAL_OPTIONS
from tests.conftest import run_cli

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5}
VALUE_OPTIONS = [option.names[-1] for option in GLOBAL_OPTIONS if option.metavar is not None]
# --debug is left out: showing the traceback is what it is for.
FLAGS = [o.names[-1] for o in GLOBAL_OPTIONS if o.metavar is None and o.names[-1] != "--debug"]
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Nothing to find: no emulator running, no config, no az profile — so nothing reaches a network."""
    home = tmp_path_factory.mktemp("home")
    return {
        "HOME": str(home),
        "AZURE_CONFIG_DIR": str(home / "az"),
        "AMLMON_CLOUD": "local",
        "AMLMON_EMULATOR_DIR": str(home / "no-emulator"),
    }


def run_offline(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    old = os.getcwd()
    os.chdir(env["HOME"])
    try:
        result = run_cli(args, env)
    finally:
        os.chdir(old)
    return result.exit_code, result.stderr + result.stdout


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    option=st.sampled_from(VALUE_OPTIONS), value=values, flags=st.lists(st.sampled_from(FLAGS), max_size=2)
)
def test_any_value_of_any_global_option_gives_a_documented_exit(
    offline_env: dict[str, str], option: str, value: str, flags: list[str]
) -> None:
    code, text = run_offline(["workspace", "show", *flags, option, value], offline_env)
    assert code in DOCUMENTED_EXIT_CODES
    assert "Traceback" not in text


@pytest.mark.parametrize("option", VALUE_OPTIONS)
def test_a_value_option_without_its_value_is_a_usage_error(offline_env: dict[str, str], option: str) -> None:
    code, text = run_offline(["workspace", "show", option], offline_env)
    assert code == 2 and option in text


def test_global_options_work_before_and_after_the_command(
    offline_env: dict[str, str], tmp_path: Path
) -> None:
    before = run_offline(["-o", "json", "--subscription", "s", "workspace", "show"], offline_env)
    after = run_offline(["workspace", "show", "--subscription", "s", "-o", "json"], offline_env)
    assert before[0] == after[0] == 2  # resource group and workspace still missing
    assert "resource group, workspace" in before[1] and "resource group, workspace" in after[1]


# --- a value belongs to its option (issue 12.1) ------------------------------------------------


def _root_command() -> Any:
    from typer.main import get_command

    from amlmon.cli.app import app

    return get_command(app)


def _value_options(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str, str]]:
    """(command path, spelling, long name) of every option of every command that takes a value."""
    found: list[tuple[tuple[str, ...], str, str]] = []
    for name, sub in getattr(command, "commands", {}).items():
        found.extend(_value_options(sub, (*path, name)))
    for param in getattr(command, "params", ()):
        if param.param_type_name == "option" and not (param.is_flag or param.count):
            long_name = next(o for o in param.opts if o.startswith("--"))
            found.extend((path, spelling, long_name) for spelling in param.opts)
    return found


ROOT = _root_command()
COMMAND_VALUE_OPTIONS = [item for item in _value_options(ROOT) if item[0]]
# Every way a global option can be spelled as one token: bare names, attached short values, `--x=v`.
GLOBAL_SPELLINGS = sorted(
    {name for option in GLOBAL_OPTIONS for name in option.names}
    | {f"{name}json" for option in GLOBAL_OPTIONS for name in option.names if len(name) == 2}
    | {f"{name}=x" for option in GLOBAL_OPTIONS for name in option.names if name.startswith("--")}
    | {"-w[0-9]+", "-ojsonl", "-gfoo", "--output=json"}
)
_cases_run: list[int] = []


def _parsed(argv: list[str]) -> tuple[Any, ...]:
    """What amlmon would run: the global options and the resolved command's raw parsed values."""
    import typer._click as click

    from amlmon.cli.options import split_global_options

    options, rest = split_global_options(argv, env={}, command=ROOT)
    command = ROOT
    while rest and rest[0] in getattr(command, "commands", {}):
        command = command.commands[rest.pop(0)]
    values, extra, _ = command.make_parser(click.Context(command)).parse_args(list(rest))
    return options, values, extra


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(
    option=st.sampled_from(COMMAND_VALUE_OPTIONS),
    value=st.sampled_from(GLOBAL_SPELLINGS),
    after=st.lists(st.sampled_from([["--debug"], ["-o", "json"], ["-w", "ws"], ["x"]]), max_size=3),
)
def test_a_global_option_spelling_as_a_value_belongs_to_the_option(
    option: tuple[tuple[str, ...], str, str], value: str, after: list[list[str]]
) -> None:
    path, spelling, long_name = option
    tail = [token for group in after for token in group]
    separate = _parsed([*path, spelling, value, *tail])
    attached = _parsed([*path, f"{long_name}={value}", *tail])
    assert separate == attached
    _cases_run.append(1)


def test_every_global_spelling_as_every_value_of_every_command() -> None:
    """The same property, exhaustively (no surrounding tokens): every pair is checked."""
    checked = 0
    for path, spelling, long_name in COMMAND_VALUE_OPTIONS:
        for value in GLOBAL_SPELLINGS:
            assert _parsed([*path, spelling, value]) == _parsed([*path, f"{long_name}={value}"]), (
                path,
                spelling,
                value,
            )
            checked += 1
    assert checked == len(COMMAND_VALUE_OPTIONS) * len(GLOBAL_SPELLINGS) > 1000
    print(f"\nexhaustive pairs checked: {checked}")


def test_the_property_above_ran_every_case() -> None:
    # Counted so the report can give the number of generated cases (pytest -s prints it).
    print(f"\nvalue-belongs-to-its-option cases run: {len(_cases_run)}")


def test_the_examples_from_issue_12() -> None:
    options, values, _ = _parsed(["traces", "svc-a", "--print-query", "--message", "-ojsonl", "--grep", "x"])
    assert options.output is None and values["message"] == "-ojsonl" and values["grep"] == "x"
    assert values["targets"] == ("svc-a",)
    options, values, _ = _parsed(["traces", "--grep", "-w[0-9]+", "--message", "timeout"])
    assert options.workspace is None and values["grep"] == "-w[0-9]+"
    # global options still work anywhere else, and a command's own --timeout stays its own
    options, values, _ = _parsed(["-o", "json", "traces", "svc", "-w", "ws", "--grep", "x", "--debug"])
    assert (options.output, options.workspace, options.debug) == ("json", "ws", True)
