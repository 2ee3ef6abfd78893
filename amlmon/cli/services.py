"""(stub) — commands of this group are being built; see ARCHITECTURE.md."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
