"""Root of the CLI: builds the command tree, adds the global options, maps errors to exit codes."""

from __future__ import annotations

import copy
import importlib
import os
import sys
import time
import traceback
from functools import cache, partial
from typing import Any

import typer

from amlmon import __version__
from amlmon.cli.common import set_app_context
from amlmon.cli.options import global_options_help, split_global_options
from amlmon.context import AppContext
from amlmon.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, AmlmonError

HELP = """Telemetry of Azure Machine Learning deployed models, from the shell.

Diagnostics on v1 ACI/AKS services and v2 online deployments, KQL queries and trace tails from
Application Insights / Log Analytics, health metrics and a CI gate, long-term export.
Try it offline: `amlmon emulator start --detach` then `--cloud local`."""

# Top-level command → the amlmon.cli module that registers it, in the order help lists them (typer's:
# commands, then groups). A run imports only the module of the command it looks up (each module pulls
# in its domain code: ~50 ms for all of them); `amlmon --help` and completion list every command, so
# they import them all.
COMMAND_MODULES = {
    "query": "query",
    "traces": "traces",
    "logs": "logs",
    "stats": "metrics",
    "check": "metrics",
    "doctor": "doctor",
    "drift": "drift",
    "workspace": "workspace",
    "services": "services",
    "diagnostics": "diagnostics",
    "export": "export",
    "data": "data",
    "emulator": "emulator",
}

_root = typer.Typer(
    name="amlmon",
    help=HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        print(f"amlmon {__version__}")
        raise typer.Exit()


@_root.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Telemetry of Azure Machine Learning deployed models, from the shell."""


def _add_global_help(typer_app: typer.Typer) -> None:
    """Every command's help ends with the global options it accepts."""
    epilog = global_options_help()
    for info in typer_app.registered_commands:
        info.epilog = epilog
    if typer_app.info.epilog is None:
        typer_app.info.epilog = epilog
    if typer_app.registered_callback is not None:  # the root's help comes from its callback's info
        typer_app.registered_callback.epilog = epilog
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _add_global_help(group.typer_instance)


_add_global_help(_root)


@cache
def _module_commands(module: str) -> typer.Typer:
    """The commands one amlmon.cli module registers, on an app of their own (the module imported now)."""
    part = typer.Typer()
    importlib.import_module(f"amlmon.cli.{module}").register(part)
    _add_global_help(part)
    return part


def _commands_of(name: str) -> typer.Typer:
    return _module_commands(COMMAND_MODULES[name])


@cache
def _full_app() -> typer.Typer:
    """The root with every module's commands registered, in COMMAND_MODULES order: what typer's full build
    (`typer.main.get_command(app)`), the completion scripts and the tests walk."""
    full = copy.copy(_root)
    full.registered_commands, full.registered_groups = [], []
    for module in dict.fromkeys(COMMAND_MODULES.values()):
        full.registered_commands += _module_commands(module).registered_commands
        full.registered_groups += _module_commands(module).registered_groups
    return full


def command_tree() -> Any:
    """The click tree a run parses argv with: the root alone, each command (and its module) loaded when
    looked up."""
    from amlmon.cli.tree import command_tree as lazy_tree

    return lazy_tree(_root, {name: partial(_commands_of, name) for name in COMMAND_MODULES})


def __getattr__(name: str) -> typer.Typer:
    # `from amlmon.cli.app import app`: the whole CLI, every command module imported. A run does not use
    # it: run() builds the tree from the root and imports a command's module when the command is looked up.
    if name == "app":
        return _full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _print_error(error: AmlmonError) -> None:
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)


def _quiet_broken_pipe(code: int = EXIT_OK) -> int:
    # `amlmon … | head`: the reader left. Point stdout at /dev/null so the interpreter's final
    # flush does not complain, and exit without a word: 0, or the code the command had decided before
    # printing (a failed gate stays 1).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return code


def run(args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises)."""
    argv = list(sys.argv[1:] if args is None else args)
    command: Any = command_tree()
    try:
        options, rest = split_global_options(argv, command=command)
        from amlmon.render import check_query

        check_query(options.query)
        if options.timeout is not None:  # now, not when a client first waits: a run that never waits too
            from amlmon.timeparse import parse_duration

            parse_duration(options.timeout, option="--timeout")
    except AmlmonError as exc:
        _print_error(exc)
        return exc.exit_code
    debug = options.debug
    if options.debug:
        from amlmon.redact import enable_debug_logging

        enable_debug_logging()
    else:
        from amlmon.redact import silence_sdk_logging

        silence_sdk_logging()
    ctx = AppContext(options)
    set_app_context(ctx)
    started = time.perf_counter()
    try:
        return _invoke(command, rest)
    except AmlmonError as exc:
        _print_error(exc)
        if debug:
            traceback.print_exc()
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _quiet_broken_pipe(ctx.decided_exit)
    except Exception as exc:  # the last line of defence: one line, traceback only with --debug
        return _unexpected(exc, debug)
    finally:
        ctx.close()
        ctx.note(f"command ran in {time.perf_counter() - started:.3f} seconds")  # like az --verbose
        set_app_context(None)


def _invoke(command: Any, argv: list[str]) -> int:
    """Run typer's command tree; its usage errors exit 2 like click's."""
    try:
        result = command.main(args=argv, prog_name="amlmon", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        # click turns a write to a closed pipe (EPIPE) into exit 1 even without standalone mode;
        # `amlmon … | head` ends quietly with 0 (README), whichever write met the closed pipe.
        if _closed_pipe(exc.__context__):
            from amlmon.cli.common import app_context

            _unwrap_streams()
            return _quiet_broken_pipe(app_context().decided_exit)
        raise
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # click's UsageError and friends, vendored by typer
        help_context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and help_context is not None:
            # a group named without its command (`amlmon data`): its help as --help lays it out, and the
            # usage exit code (click's message is that help folded onto one line)
            print(help_context.get_help(), file=sys.stderr)
            return EXIT_USAGE
        code = int(getattr(exc, "exit_code", EXIT_USAGE))
        usage = code == EXIT_USAGE or "Usage" in type(exc).__name__
        _print_click_error(exc, usage, command, argv)
        return EXIT_USAGE if usage else code
    return int(result) if isinstance(result, int) else EXIT_OK


def _closed_pipe(exc: BaseException | None) -> bool:
    import errno

    return isinstance(exc, OSError) and exc.errno == errno.EPIPE


def _unwrap_streams() -> None:
    """Undo click's PacifyFlushWrapper around stdout/stderr, so later writes behave as usual."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        wrapped = getattr(stream, "wrapped", None)
        if type(stream).__name__ == "PacifyFlushWrapper" and wrapped is not None:
            setattr(sys, name, wrapped)


def _print_click_error(
    exc: Exception, usage: bool, command: Any = None, argv: list[str] | None = None
) -> None:
    """click's errors in amlmon's shape: one `error:` line (its message, with its did-you-mean) and a
    `hint:` naming the help of the command it was parsing, instead of click's usage block."""
    suggestion = _global_option_like(exc)
    format_message = getattr(exc, "format_message", None)
    if suggestion:  # without click's "(Possible options: …)": the hint names the closer global option
        format_message = None
    message = " ".join(
        str(format_message() if callable(format_message) else getattr(exc, "message", exc)).split()
    )
    if message[:1].isupper() and not message[1:2].isupper():  # "No such option" → "no such option"
        message = message[0].lower() + message[1:]
    print(f"error: {message.removesuffix('.')}", file=sys.stderr)
    if suggestion:
        print(f"hint: did you mean {suggestion}?", file=sys.stderr)
        return
    if usage:
        click_ctx = getattr(exc, "ctx", None)
        command_path = getattr(click_ctx, "command_path", None) or _command_path(command, argv or [])
        print(f"hint: see `{command_path} --help`", file=sys.stderr)


def _global_option_like(exc: Exception) -> str | None:
    """The global option an unknown option is a typo of (`--outptu` → `--output`), unless an option of
    the command itself is closer (click names those in its message): global options are taken out of argv before click parses
    (amlmon.cli.options), so its own did-you-mean never sees them."""
    import difflib

    from amlmon.cli.options import GLOBAL_OPTIONS

    name = getattr(exc, "option_name", None)
    if type(exc).__name__ != "NoSuchOption" or not name:
        return None
    names = [option for spec in GLOBAL_OPTIONS for option in spec.names if option.startswith("--")]
    own = [str(option) for option in getattr(exc, "possibilities", None) or ()]
    # Compared without their dashes, which every option shares: `--until` is not "close" to `--auth`.
    bare = {option.lstrip("-"): option for option in [*names, *own]}
    close = difflib.get_close_matches(str(name).lstrip("-"), list(bare), n=1)  # the command's own when closer
    return bare[close[0]] if close and bare[close[0]] in names else None


def _command_path(command: Any, argv: list[str]) -> str:
    """`amlmon traces` for `traces SVC --message` (click raises "requires an argument" with no
    context): the sub-commands named in argv, as far as the command tree goes."""
    path = ["amlmon"]
    for token in argv:
        commands = getattr(command, "commands", None)
        if commands is None:
            break
        if token in commands:
            command = commands[token]
            path.append(token)
        elif not token.startswith("-"):
            break
    return " ".join(path)


def _unexpected(exc: Exception, debug: bool) -> int:
    from amlmon.azure.errors import translate

    translated = translate(exc) if "azure.core" in sys.modules else None
    if translated is not None:
        _print_error(translated)
        if debug:
            traceback.print_exc()
        return translated.exit_code
    from amlmon.redact import redact

    print(f"error: unexpected {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
    if debug:
        traceback.print_exc()
    else:
        print("hint: run again with --debug for the traceback, and report it", file=sys.stderr)
    return EXIT_FAILED


def main() -> None:
    try:
        code = run()
    except KeyboardInterrupt:  # a second Ctrl-C as run() ended the command the first one stopped
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:
        _end_at_a_further_interrupt()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _quiet_broken_pipe(code)  # the reader left after the command ended: its code stands
    sys.exit(code)


def _end_at_a_further_interrupt() -> None:
    """The command stopped at Ctrl-C (or SIGTERM) and cleaned up, but Python still waits for its threads
    (a download under way finishes) and then finalizes: a further Ctrl-C meanwhile printed "Exception
    ignored in: <module 'threading'>" with a traceback, or, once Python had restored the default handler,
    killed the process by SIGINT. Now it ends the process at once, exit 130; after the threads' wait,
    interrupts are ignored (nothing is left to stop)."""
    import atexit
    import signal

    def end_now(_signum: int, _frame: Any) -> None:
        os._exit(EXIT_INTERRUPTED)

    def ignore_from_now() -> None:  # atexit's calls come after Python's wait for the threads
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, end_now)
    atexit.register(ignore_from_now)
