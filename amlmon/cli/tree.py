"""The click command tree a run parses argv with, each top-level command built when it is looked up.

Why: typer turns every command function's signature into click parameters when it builds a command
(string annotations evaluated, options copied): about 10 ms for amlmon's whole tree, paid by every
run although a run uses one command. Here the root group is built alone and its commands are built,
and given their placeholders (amlmon.cli.metavars), the first time something asks for one by name;
listing the names (did-you-mean) builds nothing, listing the commands (help) builds them all. Each
command is built by typer's own functions from the same registration, so it is the one the full
build (`typer.main.get_command(app)`) makes.

With `modules`, the root's commands are not registered yet: each name maps to a function that imports
the module registering it and returns its registrations, so a run imports one command's module only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from functools import partial
from typing import Any

import typer


class LazyCommands(MutableMapping[str, Any]):
    """name → click command, each built on first lookup; names in registration order."""

    def __init__(self, builders: dict[str, Callable[[], Any]]) -> None:
        self._builders = builders
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._builders[name]()  # KeyError: no such command
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._builders  # without building it (Mapping's own would)

    def __setitem__(self, name: str, command: Any) -> None:
        self._builders[name] = lambda: command
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._builders[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


def command_tree(app: typer.Typer, modules: Mapping[str, Callable[[], typer.Typer]] | None = None) -> Any:
    """The root click group of `app` with its commands built on demand, placeholders applied; with
    `modules` (top-level name → the registrations of that name's module, imported when called) the
    commands come from there, in its order, instead of from `app`'s registrations."""
    from typer.main import get_command, solve_typer_info_defaults

    from amlmon.cli import metavars

    builders: dict[str, Callable[[], Any]] = {}
    if modules is not None:
        for command_name, registrations in modules.items():
            builders[command_name] = _building(
                partial(_registered, app, command_name, registrations), metavars.apply
            )
        return _root(app, builders)
    for info in app.registered_commands:
        builders[_command_name(info)] = _building(partial(_command, app, info), metavars.apply)
    for group in app.registered_groups:
        name = solve_typer_info_defaults(group).name if group.typer_instance else None
        if not name:  # a group merged into the root (add_typer without a name): build it all at once
            tree = get_command(app)
            metavars.apply(tree)
            return tree
        builders[name] = _building(partial(_group, app, group), metavars.apply)
    return _root(app, builders)


def _root(app: typer.Typer, builders: dict[str, Callable[[], Any]]) -> Any:
    from typer.main import get_command

    from amlmon.cli import metavars

    shell = copy.copy(app)  # the root alone: its callback, --version and the completion options
    shell.registered_commands, shell.registered_groups = [], []
    root: Any = get_command(shell)
    metavars.apply(root)
    root.commands = LazyCommands(builders)
    return root


def _building(build: Callable[[], Any], apply: Callable[[Any, str], None]) -> Callable[[], Any]:
    def built() -> Any:
        command = build()
        apply(command, command.name)
        return command

    return built


def _registered(app: typer.Typer, name: str, registrations: Callable[[], typer.Typer]) -> Any:
    """The command or group `name` as registered on the app `registrations` gives."""
    from typer.main import solve_typer_info_defaults

    module_app = registrations()
    for info in module_app.registered_commands:
        if _command_name(info) == name:
            return _command(app, info)
    for group in module_app.registered_groups:
        if solve_typer_info_defaults(group).name == name:
            return _group(app, group)
    raise KeyError(name)  # the table names a command its module does not register


def _command_name(info: Any) -> str:
    from typer.main import get_command_name

    return str(info.name or get_command_name(info.callback.__name__))


def _command(app: typer.Typer, info: Any) -> Any:
    from typer.main import get_command_from_info

    return get_command_from_info(
        info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
    )


def _group(app: typer.Typer, group: Any) -> Any:
    from typer.main import get_group_from_info

    return get_group_from_info(
        group,
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
