"""The README is the user's manual: its console examples are real output. Every ```console block whose
commands `make demo` runs is checked against the demo's transcript (after `tests.readme.normalise`);
every `$ amlmon …` line, run by the demo or not, must parse against the current CLI (the command
exists, its options exist, click accepts their values).

A block of output from another setting (e.g. no workspace configured) says so on the line before it:
`<!-- readme-test: parse-only -->`; its commands are still parsed. To regenerate drifted blocks:
`python -m amlmon.emulator.demo --transcript t.json && python -m tests.readme t.json`.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, DemoRun
from tests.readme import Step, console_blocks, demo_blocks, drifted, output_of, runs_of

README = REPO_ROOT / "README.md"


def _amlmon_steps() -> list[Step]:
    return [step for steps in console_blocks(README) for step in steps if step.argv[:1] == ["amlmon"]]


def parse_problem(argv: list[str]) -> str | None:
    """Why click would refuse `amlmon ARGV` (unknown command or option, a value its type rejects), or None.
    Parsing only: nothing runs."""
    import typer
    from typer.main import get_command

    from amlmon.cli import metavars
    from amlmon.cli.app import app
    from amlmon.cli.options import split_global_options
    from amlmon.errors import AmlmonError

    command: Any = get_command(app)
    metavars.apply(command)
    try:
        _, rest = split_global_options(argv, command=command)
        ctx = command.make_context("amlmon", list(rest), resilient_parsing=False)
        while hasattr(ctx.command, "resolve_command"):  # a group: on to the subcommand (typer vendors click)
            remaining = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not remaining:
                break
            name, sub, remaining = ctx.command.resolve_command(ctx, remaining)
            assert sub is not None, name
            ctx = sub.make_context(str(name), remaining, parent=ctx, resilient_parsing=False)
    except (typer.TyperException, AmlmonError) as exc:
        return str(getattr(exc, "message", exc))
    return None


@pytest.mark.parametrize("step", _amlmon_steps(), ids=lambda step: f"README:{step.line}")
def test_every_readme_command_parses_against_the_cli(step: Step) -> None:
    assert parse_problem(step.argv[1:]) is None, f"README line {step.line}: {step.command}"


def test_the_parse_check_can_fail() -> None:
    """Positive control: an unknown option, a bad value, an unknown command are each caught."""
    assert parse_problem(["traces", "churn", "--since", "1h"]) is None
    assert parse_problem(["traces", "churn", "--no-such-option"]) is not None
    assert parse_problem(["services", "lists"]) is not None
    assert parse_problem(["diagnostics", "enable", "x", "--sampling-rate", "many"]) is not None


def _problems(steps: list[Step], demo_run: DemoRun) -> list[str]:
    return [
        f"README:{step.line} `{step.command}` drifted; the demo printed:\n{real}"
        for step, real in drifted(steps, demo_run.transcript)
    ]


@pytest.mark.slow
def test_readme_console_blocks_are_the_demos_real_output(demo_run: DemoRun) -> None:
    assert demo_run.exit_code == 0, demo_run.output[-3000:]
    blocks = demo_blocks(README)
    checked = [step for steps in blocks for step in steps if runs_of(demo_run.transcript, step)]
    assert len(checked) >= 15, f"positive control: most README examples are the demo's ({len(checked)})"
    problems = [problem for steps in blocks for problem in _problems(steps, demo_run)]
    assert problems == [], "\n\n".join(problems) + "\n\n(regenerate: python -m tests.readme TRANSCRIPT)"


@pytest.mark.slow
def test_a_drifted_block_is_caught(demo_run: DemoRun) -> None:
    """Positive control: the demo's own output fits; one changed word, or a missing line, does not."""
    entry = next(e for e in demo_run.transcript if e["args"][:2] == ["check", "fraud-aks"])
    real = output_of(entry).splitlines()
    step = Step(0, shlex.join(["amlmon", *entry["args"]]), real)
    assert _problems([step], demo_run) == []
    changed = Step(0, step.command, [line.replace("PASS", "FAIL", 1) for line in real])
    assert _problems([changed], demo_run) != []
    assert _problems([Step(0, step.command, real[1:])], demo_run) != []


@pytest.mark.parametrize("command", [["data", "pull"], ["data", "extract"]])
def test_the_data_headings_name_every_option_of_the_command(command: list[str]) -> None:
    """The heading of `data pull` / `data extract` is their synopsis: every option --help lists (the
    pull heading lacked --connection-string, --print-query and --format)."""
    import re

    from typer.main import get_command

    from amlmon.cli.app import app

    cli: Any = get_command(app)
    for name in command:
        cli = cli.commands[name]
    options = {opt for param in cli.params for opt in param.opts if opt.startswith("--") and opt != "--help"}
    heading = next(
        line
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith(f"### `amlmon {' '.join(command)} ")
    )
    named = set(re.findall(r"--[a-z][a-z-]*", heading))
    assert options and not options - named, f"{heading} lacks {sorted(options - named)}"
