"""No value given to any global option ends in a traceback: always a documented exit code and one line."""

from __future__ import annotations

import os
from pathlib import Path

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
