"""The README is the user's manual: its console examples are real output. Every ```console block whose
commands `make demo` runs is checked against the demo's transcript (after `tests.readme.normalise`);
every `$ amlmon …` line, run by the demo or not, must parse against the current CLI (the command
exists, its options exist, click accepts their values).

A block of output from another setting (e.g. no workspace configured) says so on the line before it:
`<!-- readme-test: parse-only -->`; its commands are still parsed. To regenerate a drifted block, run
`python -m amlmon.emulator.demo --transcript t.json` and copy the command's output from t.json.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, DemoRun
from tests.readme import Step, comparable, console_blocks, matches

README = REPO_ROOT / "README.md"
PARSE_ONLY = "<!-- readme-test: parse-only -->"


def _parse_only_lines() -> set[int]:
    """README line numbers of the ```console fences marked parse-only."""
    lines = README.read_text(encoding="utf-8").splitlines()
    return {n + 2 for n, text in enumerate(lines[:-1]) if text.strip() == PARSE_ONLY}


def _blocks() -> list[tuple[list[Step], bool]]:
    """(steps, checked against the demo) per console block."""
    marked = _parse_only_lines()
    text = README.read_text(encoding="utf-8").splitlines()
    fences = [n for n, line in enumerate(text, start=1) if line.strip() == "```console"]
    return [(steps, fence not in marked) for steps, fence in zip(console_blocks(README), fences, strict=True)]


def _amlmon_steps() -> list[Step]:
    return [step for steps, _ in _blocks() for step in steps if step.argv[:1] == ["amlmon"]]


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


def _occurrences(demo_run: DemoRun, argv: list[str]) -> list[dict[str, Any]]:
    return [entry for entry in demo_run.transcript if entry["args"] == argv]


def _check_block(steps: list[Step], demo_run: DemoRun) -> list[str]:
    """What in one block disagrees with the demo's real output; [] when every step the demo ran fits."""
    problems = []
    previous_exit: int | None = None
    for step in steps:
        if step.argv == ["echo", "$?"]:
            if previous_exit is not None and [line.strip() for line in step.output if line.strip()] != [
                str(previous_exit)
            ]:
                problems.append(
                    f"README:{step.line}: `echo $?` shows {step.output}, the exit was {previous_exit}"
                )
            continue
        previous_exit = None
        runs = _occurrences(demo_run, step.argv[1:]) if step.argv[:1] == ["amlmon"] else []
        if not runs:
            continue  # the demo does not run it: parsed only
        expected = comparable(step.output)
        fitting = [run for run in runs if matches(expected, comparable(run["output"].splitlines()))]
        if not fitting:
            real = "\n".join(run["output"] for run in runs)
            problems.append(f"README:{step.line} `{step.command}` drifted; the demo printed:\n{real}")
            continue
        previous_exit = int(fitting[0]["exit"])
    return problems


@pytest.mark.slow
def test_readme_console_blocks_are_the_demos_real_output(demo_run: DemoRun) -> None:
    assert demo_run.exit_code == 0, demo_run.output[-3000:]
    checked = [
        step
        for steps, from_demo in _blocks()
        if from_demo
        for step in steps
        if step.argv[:1] == ["amlmon"] and _occurrences(demo_run, step.argv[1:])
    ]
    assert len(checked) >= 15, f"positive control: most README examples are the demo's ({len(checked)})"
    problems = [
        problem for steps, from_demo in _blocks() if from_demo for problem in _check_block(steps, demo_run)
    ]
    assert problems == [], "\n\n".join(problems)


@pytest.mark.slow
def test_a_drifted_block_is_caught(demo_run: DemoRun) -> None:
    """Positive control: the demo's own output fits; one changed word, or a missing line, does not."""
    entry = next(e for e in demo_run.transcript if e["args"][:2] == ["check", "fraud-aks"])
    real = entry["output"].splitlines()
    step = Step(0, shlex.join(["amlmon", *entry["args"]]), real)
    assert _check_block([step], demo_run) == []
    changed = Step(0, step.command, [line.replace("PASS", "FAIL", 1) for line in real])
    assert _check_block([changed], demo_run) != []
    assert _check_block([Step(0, step.command, real[1:])], demo_run) != []
