"""Azurite (Microsoft's Azure Storage emulator, from npm) for the tests and `make demo`: find the pinned
install, start, stop.

`make install` installs the exact version the Makefile names (AZURITE_VERSION) into .venv/azurite; the
tests and the demo never install anything, they find it (in the venv running them, or this checkout's
.venv) and say how to install it when it is missing or another version.

The blob service runs on a free loopback port with a temporary data folder. The account is Azurite's
well-known development account; its key is published in Azurite's documentation — fine for tests,
never printed (the connection string is only handed to amlmon through the environment).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout: its Makefile pins the version
# The venv running the tests first (a git worktree shares its main checkout's venv), then this checkout's.
AZURITE_PREFIXES = (Path(sys.prefix) / "azurite", REPO_ROOT / ".venv" / "azurite")
ACCOUNT = "devstoreaccount1"
# Azurite's published development account key (https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    process: subprocess.Popen[bytes]
    port: int
    location: Path

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def account_key(self) -> str:
        return DEV_ACCOUNT_KEY

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def service(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def alive(self) -> bool:
        return self.process.poll() is None


def pinned_version() -> str:
    """The Azurite version `make install` installs (the Makefile's AZURITE_VERSION line)."""
    try:
        makefile = (REPO_ROOT / "Makefile").read_text()
    except OSError as exc:  # an installed package has no Makefile: nothing pins a version
        raise RuntimeError(f"no Makefile in {REPO_ROOT} names the Azurite version") from exc
    found = re.search(r"^AZURITE_VERSION\s*:=\s*(\S+)", makefile, re.MULTILINE)
    if found is None:
        raise RuntimeError("the Makefile names no AZURITE_VERSION")
    return found.group(1)


def find_installed() -> Path:
    """The pinned Azurite's blob server; a RuntimeError saying how to install it when it is not there."""
    wanted = pinned_version()
    seen = []
    for prefix in AZURITE_PREFIXES:
        try:
            version = json.loads((prefix / "node_modules" / "azurite" / "package.json").read_text())[
                "version"
            ]
        except (OSError, ValueError, KeyError):
            continue
        binary = prefix / "node_modules" / ".bin" / "azurite-blob"
        if version == wanted and binary.exists():
            return binary
        seen.append(f"{version} in {prefix}")
    found = f" (found {'; '.join(seen)})" if seen else ""
    raise RuntimeError(f"Azurite {wanted} is not installed{found}: run `make install` (needs npm, Node 18+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_azurite(location: Path, port: int | None = None, timeout: float = 60.0) -> Azurite:
    binary = find_installed()
    location.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    handle = Azurite(process, port, location)
    try:
        _wait_until_listening(handle, timeout)
    except BaseException:  # not listening in time, or Ctrl-C meanwhile: no Azurite outlives its caller
        stop_azurite(handle)
        raise
    return handle


def _wait_until_listening(azurite: Azurite, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if azurite.process.poll() is not None:
            raise RuntimeError(f"azurite exited with {azurite.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", azurite.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("azurite did not start in time")


def stop_azurite(azurite: Azurite) -> None:
    process = azurite.process
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
