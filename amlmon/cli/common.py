"""What every command module uses: the shared AppContext and the output call."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, Any

from amlmon.context import AppContext, GlobalOptions
from amlmon.render import TableRenderer, emit

_current: AppContext | None = None


def set_app_context(ctx: AppContext | None) -> None:
    """Called by the CLI entry point once per invocation."""
    global _current
    _current = ctx


def app_context() -> AppContext:
    """The invocation's one AppContext."""
    global _current
    if _current is None:  # a command called outside run(), e.g. from typer's own test runner
        _current = AppContext(GlobalOptions.from_env())
    return _current


def output(
    data: Any,
    *,
    table: TableRenderer | None = None,
    tsv: Callable[[Any], Any] | None = None,
    exit_code: int = 0,
) -> None:
    """Render a command's result with the global -o/--query/--no-color settings. `exit_code`: what the
    command will exit with, decided before printing (a failed gate: 1), which stands even when the reader
    of stdout leaves before the end (`| head`): a pipeline with pipefail must not see a pass."""
    ctx = app_context()
    ctx.decided_exit = exit_code
    opts = ctx.options
    emit(data, output=opts.output, query=opts.query, table=table, no_color=opts.no_color, tsv=tsv)


def warn(message: str) -> None:
    """A one-line warning on stderr, unless --only-show-errors."""
    if not app_context().options.only_show_errors:
        print(f"warning: {message}", file=sys.stderr)


def note(message: str) -> None:
    """A `note:` line on stderr, shown even with --only-show-errors: what an interrupted run kept."""
    print(f"note: {message}", file=sys.stderr)


def info(message: str) -> None:
    """An `info:` line on stderr, only with --verbose."""
    app_context().note(message)


def table_view(render: Callable[..., None]) -> Callable[[Any, IO[str]], None]:
    """A command's own `-o table` view (`render(data, stream, no_color=…)`), coloured unless --no-color."""
    return lambda data, stream: render(data, stream, no_color=app_context().options.no_color)
