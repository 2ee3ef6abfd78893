"""Endpoint sets for the Azure clouds amlmon can talk to, including the local emulator.

The local emulator publishes its endpoints in a state file (see `emulator_state_path`); the product
reads that file and never imports the emulator package.
"""

from __future__ import annotations

import configparser
import json
import os
from dataclasses import dataclass
from pathlib import Path

from amlmon.errors import ConfigError

LOCAL = "local"


@dataclass(frozen=True)
class Cloud:
    name: str
    arm: str  # Azure Resource Manager endpoint, no trailing slash
    authority: str  # Entra ID authority host
    logs: str  # Log Analytics query endpoint
    portal: str
    storage_suffix: str
    ca_bundle: str | None = None  # a CA file to trust (the emulator's self-made CA)
    token_url: str | None = None  # emulator only: where its credential gets tokens

    @property
    def arm_scope(self) -> str:
        return self.arm + "/.default"

    @property
    def logs_scope(self) -> str:
        return self.logs + "/.default"

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL


KNOWN_CLOUDS: dict[str, Cloud] = {
    "AzureCloud": Cloud(
        "AzureCloud",
        arm="https://management.azure.com",
        authority="https://login.microsoftonline.com",
        logs="https://api.loganalytics.io",
        portal="https://portal.azure.com",
        storage_suffix="core.windows.net",
    ),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment",
        arm="https://management.usgovcloudapi.net",
        authority="https://login.microsoftonline.us",
        logs="https://api.loganalytics.us",
        portal="https://portal.azure.us",
        storage_suffix="core.usgovcloudapi.net",
    ),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud",
        arm="https://management.chinacloudapi.cn",
        authority="https://login.chinacloudapi.cn",
        logs="https://api.loganalytics.azure.cn",
        portal="https://portal.azure.cn",
        storage_suffix="core.chinacloudapi.cn",
    ),
}

CLOUD_NAMES = [*KNOWN_CLOUDS, LOCAL]


def emulator_dir() -> Path:
    """Where the local emulator keeps its state, certificate and data (AMLMON_EMULATOR_DIR)."""
    configured = os.environ.get("AMLMON_EMULATOR_DIR")
    return Path(configured) if configured else Path.home() / ".amlmon" / "emulator"


def emulator_state_path() -> Path:
    return emulator_dir() / "state.json"


def read_emulator_state() -> dict[str, object]:
    path = emulator_state_path()
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"the local emulator is not running (no {path})",
            hint="start it with `amlmon emulator start --detach`, or pick a real cloud with --cloud AzureCloud",
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"the emulator state file {path} is unreadable: {exc}",
            hint="restart the emulator: `amlmon emulator stop; amlmon emulator start --detach`",
        ) from None
    if not isinstance(state, dict) or "endpoint" not in state:
        raise ConfigError(f"the emulator state file {path} has no endpoint", hint="restart the emulator")
    return state


def local_cloud() -> Cloud:
    state = read_emulator_state()
    base = str(state["endpoint"]).rstrip("/")
    return Cloud(
        LOCAL,
        arm=base,
        authority=base,
        logs=base,
        portal=base + "/portal",
        storage_suffix="blob.local",
        ca_bundle=str(state.get("ca_path") or "") or None,
        token_url=base + "/" + str(state.get("tenant_id", "common")) + "/oauth2/v2.0/token",
    )


def _custom_cloud(name: str) -> Cloud:
    """A cloud registered with `az cloud register`, read from the Azure CLI's clouds.config."""
    config_dir = Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
    parser = configparser.ConfigParser()
    try:
        parser.read(config_dir / "clouds.config")
    except (configparser.Error, UnicodeDecodeError) as exc:
        from amlmon.resolve import config_file_problem

        raise ConfigError(
            f"{config_dir / 'clouds.config'} is malformed: {config_file_problem(exc)}",
            hint="fix or move it (`az cloud register` writes it), or choose a built-in --cloud",
        ) from None
    if not parser.has_section(name):
        raise ConfigError(
            f"unknown cloud {name!r}",
            hint=f"use one of {', '.join(CLOUD_NAMES)}, or register it with `az cloud register -n {name} …`",
        )
    section = parser[name]

    def get(key: str) -> str:
        value = section.get(key)
        if not value:
            raise ConfigError(f"cloud {name!r} in clouds.config has no {key}")
        return value.rstrip("/")

    return Cloud(
        name,
        arm=get("endpoint_resource_manager"),
        authority=get("endpoint_active_directory"),
        logs=section.get("endpoint_log_analytics_resource_id", "https://api.loganalytics.io").rstrip("/"),
        portal=section.get("endpoint_portal", "https://portal.azure.com").rstrip("/"),
        storage_suffix=section.get("suffix_storage_endpoint", "core.windows.net"),
    )


def get_cloud(name: str) -> Cloud:
    if name == LOCAL:
        return local_cloud()
    for known, cloud in KNOWN_CLOUDS.items():
        if known.lower() == name.lower():
            return cloud
    return _custom_cloud(name)
