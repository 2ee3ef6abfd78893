"""(stub) route family — see server.py."""

from __future__ import annotations

from amlmon.emulator.http import Router
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amlmon.emulator.server import EmulatorState


def register(router: Router, state: "EmulatorState") -> None:
    return None
