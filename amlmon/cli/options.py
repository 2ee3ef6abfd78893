"""Global options (Azure CLI names), accepted anywhere on the command line of every command.

Like the Azure CLI, amlmon takes these out of argv before the command parser sees the rest, so
`amlmon services list -g rg -o json` and `amlmon -o json services list -g rg` mean the same, and
every command has them without declaring them.

The pre-parser walks the click command tree as it reads argv, so it knows the options of the
command being resolved: a token that is the value of one of that command's options belongs to that
option (`--message -ojsonl` filters on "-ojsonl"), and a command's own option of the same name as a
global one is the command's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from amlmon.context import GlobalOptions
from amlmon.errors import UsageError
from amlmon.render import FORMATS

AUTH_CHOICES = ("default", "cli", "env", "msi", "workload", "device", "browser")


@dataclass(frozen=True)
class GlobalOption:
    names: tuple[str, ...]
    field: str
    help: str
    metavar: str | None = None  # None: a flag that takes no value
    choices: tuple[str, ...] | None = None


GLOBAL_OPTIONS: tuple[GlobalOption, ...] = (
    GlobalOption(("--subscription",), "subscription", "Subscription ID. [env: AMLMON_SUBSCRIPTION]", "ID"),
    GlobalOption(
        ("-g", "--resource-group"), "resource_group", "Resource group. [env: AMLMON_RESOURCE_GROUP]", "NAME"
    ),
    GlobalOption(
        ("-w", "--workspace-name"),
        "workspace",
        "Azure ML workspace name or full resource ID. [env: AMLMON_WORKSPACE]",
        "NAME|ID",
    ),
    GlobalOption(
        ("--auth",),
        "auth",
        "How to sign in; default is DefaultAzureCredential without a browser. [env: AMLMON_AUTH]",
        "|".join(AUTH_CHOICES),
        AUTH_CHOICES,
    ),
    GlobalOption(
        ("--cloud",),
        "cloud",
        "AzureCloud, AzureUSGovernment, AzureChinaCloud, local (the emulator) or an `az cloud` name. "
        "[env: AMLMON_CLOUD]",
        "NAME",
    ),
    GlobalOption(
        ("-o", "--output"),
        "output",
        "Output format; default table on a terminal, json otherwise. [env: AMLMON_OUTPUT]",
        "|".join(FORMATS),
        FORMATS,
    ),
    GlobalOption(("--query",), "query", "JMESPath query applied to the JSON result.", "JMESPATH"),
    GlobalOption(
        ("--timeout",),
        "timeout",
        "Deadline for waiting on a throttled or failing service, counted from the start (each "
        "Retry-After is honoured up to 60s); past it amlmon stops with exit 5. Default 5m; "
        "`traces --follow` and `data pull` have none unless given; `diagnostics enable/disable` use "
        "their own --timeout. [env: AMLMON_TIMEOUT]",
        "DURATION",
    ),
    GlobalOption(("--debug",), "debug", "Log HTTP traffic (secrets redacted) and show tracebacks."),
    GlobalOption(("--verbose",), "verbose", "Say more about what is happening."),
    GlobalOption(("--only-show-errors",), "only_show_errors", "Suppress warnings."),
    GlobalOption(("--no-color",), "no_color", "No colour. [env: NO_COLOR]"),
)
_BY_NAME = {name: option for option in GLOBAL_OPTIONS for name in option.names}


def _match(token: str) -> tuple[GlobalOption, str | None] | None:
    """The global option a token names, and its attached value (`--output=json`, `-ojson`)."""
    if token in _BY_NAME:
        return _BY_NAME[token], None
    if token.startswith("--") and "=" in token:
        name, value = token.split("=", 1)
        if name in _BY_NAME:
            return _BY_NAME[name], value
    if len(token) > 2 and token[0] == "-" and token[1] != "-" and token[:2] in _BY_NAME:
        option = _BY_NAME[token[:2]]
        if option.metavar is not None:
            return option, token[2:]
    return None


def _own_option_values(command: Any, token: str) -> int | None:
    """How many following tokens are the value of `token` as an option of `command` (0 when the
    value is attached or the option is a flag); None when `token` is not one of its options."""
    if command is None or not token.startswith("-") or token == "-":
        return None
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", None) != "option":
            continue
        names = (*param.opts, *param.secondary_opts)
        takes_value = not (param.is_flag or param.count)
        if token in names:
            return int(param.nargs) if takes_value else 0
        if token.startswith("--") and "=" in token and token.split("=", 1)[0] in names:
            return 0
        if takes_value and len(token) > 2 and token[1] != "-" and token[:2] in names:
            return 0  # `-fquery.kql`: click's attached short value
    return None


def _subcommand(command: Any, token: str) -> Any:
    """The subcommand `token` names under a group, else None."""
    commands = getattr(command, "commands", None)
    if not commands or token.startswith("-"):
        return None
    return commands.get(token)


def split_global_options(
    argv: list[str], env: Mapping[str, str] | None = None, command: Any = None
) -> tuple[GlobalOptions, list[str]]:
    """Take the global options out of argv. Everything after `--` is left alone.

    `command` is the root click command: with it, the values of the resolved command's own
    options are never read as global options (without it every matching token is taken)."""
    options = GlobalOptions.from_env(dict(os.environ) if env is None else dict(env))
    rest: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            rest.extend(argv[index:])
            break
        own_values = _own_option_values(command, token)
        if own_values is not None:
            rest.extend(argv[index : index + 1 + own_values])
            index += 1 + own_values
            continue
        matched = _match(token)
        if matched is None:
            rest.append(token)
            index += 1
            command = _subcommand(command, token) or command
            continue
        index = _take_global(options, matched, argv, index + 1)
    if not {"-h", "--help"} & set(rest):  # help is printed whatever the environment says
        _check_environment_choices(options)
    return options, rest


# Global options with fixed values whose environment variable may set them (GlobalOptions.from_env).
_CHOICE_VARIABLES = {"output": "AMLMON_OUTPUT", "auth": "AMLMON_AUTH"}


def _check_environment_choices(options: GlobalOptions) -> None:
    """A value of AMLMON_OUTPUT / AMLMON_AUTH outside the option's choices is refused before the command
    runs: it once surfaced only when the result was printed — after `diagnostics enable` had changed the
    service — or as an unrelated sign-in error. (A flag's value is checked as it is read.)"""
    for option in GLOBAL_OPTIONS:
        variable = _CHOICE_VARIABLES.get(option.field)
        value = getattr(options, option.field)
        if variable is None or option.choices is None or value is None or value in option.choices:
            continue
        raise UsageError(
            f"{variable} {value!r} is not one of {', '.join(option.choices)}",
            hint=f"set {variable} to one of them or unset it (e.g. {option.names[-1]} {option.choices[0]} "
            "overrides it)",
        )


def _take_global(
    options: GlobalOptions, matched: tuple[GlobalOption, str | None], argv: list[str], index: int
) -> int:
    """Set one global option on `options`; returns the index of the token after it (and its value)."""
    option, value = matched
    if option.metavar is None:
        if value is not None:
            raise UsageError(f"{option.names[-1]} takes no value", hint=f"write {option.names[-1]} alone")
        setattr(options, option.field, True)
        return index
    if value is None:
        if index >= len(argv):
            raise UsageError(
                f"{option.names[-1]} needs a value",
                hint=f"e.g. {option.names[-1]} {option.metavar.split('|')[0]}",
            )
        value = argv[index]
        index += 1
    if option.choices is not None and value not in option.choices:
        raise UsageError(
            f"{option.names[-1]} {value!r} is not one of {', '.join(option.choices)}",
            hint=f"e.g. {option.names[-1]} {option.choices[0]}",
        )
    setattr(options, option.field, value)
    return index


def global_options_help() -> str:
    """The 'Global options' section appended to every command's help."""
    # "\b" keeps click's help formatter from re-wrapping the block.
    lines = ["\b", "Global options:"]
    for option in GLOBAL_OPTIONS:
        flag = ", ".join(option.names) + (f" {option.metavar}" if option.metavar else "")
        lines.append(f"  {flag}\n      {option.help}")
    return "\n".join(lines)
