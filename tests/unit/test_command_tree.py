"""amlmon.cli.tree: the tree a run parses with builds a top-level command only when it is looked up,
and, once all are built, is the tree typer's full build makes (names, options, placeholders, help)."""

from __future__ import annotations

from typing import Any

from typer.main import get_command

from amlmon.cli import metavars
from amlmon.cli.app import app
from amlmon.cli.tree import command_tree


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
