"""Azurite for the tests: the emulator package's finder, starter and stopper (the demo uses them too)."""

from amlmon.emulator.azurite import (
    ACCOUNT,
    AZURITE_PREFIXES,
    DEV_ACCOUNT_KEY,
    Azurite,
    find_installed,
    pinned_version,
    start_azurite,
    stop_azurite,
)

__all__ = [
    "ACCOUNT",
    "AZURITE_PREFIXES",
    "DEV_ACCOUNT_KEY",
    "Azurite",
    "find_installed",
    "pinned_version",
    "start_azurite",
    "stop_azurite",
]
