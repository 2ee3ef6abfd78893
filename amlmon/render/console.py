"""Rich consoles that honour NO_COLOR, --no-color and whether the stream is a terminal."""

from __future__ import annotations

import os
from typing import IO, Any


def color_allowed(stream: IO[str], no_color: bool = False) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def make_console(stream: IO[str], *, no_color: bool = False, width: int | None = None) -> Any:
    from rich.console import Console

    colored = color_allowed(stream, no_color)
    return Console(
        file=stream,
        no_color=not colored,
        color_system="auto" if colored else None,
        force_terminal=None if colored else False,
        highlight=False,
        soft_wrap=False,
        width=width if width is not None else (None if stream.isatty() else 200),
        emoji=False,
    )
