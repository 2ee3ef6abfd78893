"""amlmon.cli.tree: the tree a run parses with builds a top-level command only when it is looked up,
and imports only that command's module; once all are built, it is the tree typer's full build makes
(names, options, placeholders, help)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from typer.main import get_command

from amlmon.cli import app as cli_app
from amlmon.cli import metavars
from amlmon.cli.app import COMMAND_MODULES, app
from amlmon.cli.tree import command_tree
from tests.conftest import REPO_ROOT


def _shape(command: Any, path: str = "") -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = [
        (path, type(command).__name__, command.name, command.help, command.epilog, command.hidden)
    ]
    for p in command.params:
        kind = (
            type(p.type).__name__,
            getattr(p.type, "name", None),
            tuple(getattr(p.type, "choices", ()) or ()),
        )
        default = "callable" if callable(p.default) else p.default
        rows.append(
            (
                path,
                p.name,
                tuple(p.opts),
                p.metavar,
                kind,
                p.required,
                default,
                getattr(p, "help", None),
                p.nargs,
            )
        )
    for name, sub in (getattr(command, "commands", None) or {}).items():
        rows += _shape(sub, f"{path} {name}")
    return rows


def test_every_command_built_is_the_full_builds() -> None:
    full = get_command(app)
    metavars.apply(full)
    lazy = command_tree(app)
    assert list(lazy.commands) == list(full.commands)
    assert _shape(lazy) == _shape(full)


def test_a_lookup_builds_that_command_alone() -> None:
    lazy = command_tree(app)
    built = lazy.commands._built
    assert "stats" in lazy.commands and "nope" not in lazy.commands
    assert len(list(lazy.commands)) > 10 and built == {}, "names and membership build nothing"
    stats = lazy.commands.get("stats")
    assert stats is not None and stats.name == "stats" and list(built) == ["stats"]
    assert lazy.commands.get("nope") is None
    since = next(p for p in stats.params if "--since" in p.opts)
    assert since.metavar == "WHEN", "placeholders are applied as each command is built"


def test_the_run_tree_is_the_full_builds() -> None:
    """The tree run() parses with (modules loaded per command) has every command, in order, as built from
    all modules registered at once."""
    full = get_command(app)
    metavars.apply(full)
    run_tree = cli_app.command_tree()
    assert list(run_tree.commands) == list(full.commands) == list(COMMAND_MODULES)
    assert _shape(run_tree) == _shape(full)


COMMAND_MODULES_AFTER = """
import sys
from amlmon.cli.app import run
run(sys.argv[1:])
print("LOADED=" + ",".join(sorted(m for m in sys.modules if m.startswith("amlmon.cli."))))
"""
# amlmon.cli modules every run needs whatever the command: the entry point, the tree, the global options.
SHARED = {"app", "common", "metavars", "options", "params", "tree"}


def _command_modules_loaded(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", COMMAND_MODULES_AFTER, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
    )
    assert "LOADED=" in result.stdout, result.stderr
    loaded = result.stdout.rsplit("LOADED=", 1)[1].split()[0].split(",")
    return {name.removeprefix("amlmon.cli.") for name in loaded} - SHARED


@pytest.mark.parametrize(
    ("argv", "module"),
    [(["stats", "--help"], "metrics"), (["services", "list", "--help"], "services"), (["--version"], None)],
)
def test_a_run_imports_only_its_commands_module(argv: list[str], module: str | None) -> None:
    assert _command_modules_loaded(*argv) == ({module} if module else set())


def test_the_root_help_imports_every_command_module() -> None:
    """Positive control: the subprocess sees command modules when they are loaded (help lists them all)."""
    assert _command_modules_loaded("--help") >= set(COMMAND_MODULES.values())
