"""Azurite (Microsoft's Azure Storage emulator, from npm) for tests: install if missing, start, stop.

The blob service runs on a free loopback port with a temporary data folder. The account is Azurite's
well-known development account; its key is published in Azurite's documentation — fine for tests,
never printed (the connection string is only handed to amlmon through the environment).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_PREFIX = REPO_ROOT / ".venv" / "azurite"
AZURITE_BIN = AZURITE_PREFIX / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development account key (https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
_DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


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
        return _DEV_KEY

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={_DEV_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def service(self):  # type: ignore[no-untyped-def]
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def alive(self) -> bool:
        return self.process.poll() is None


def ensure_installed() -> Path:
    """Install Azurite into .venv/azurite with npm when it is not there yet."""
    if AZURITE_BIN.exists():
        return AZURITE_BIN
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install Azurite (Node 18+)")
    AZURITE_PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(AZURITE_PREFIX), "azurite", "--no-audit", "--no-fund", "--silent"],
        check=True,
        timeout=600,
    )
    return AZURITE_BIN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_azurite(location: Path, port: int | None = None, timeout: float = 60.0) -> Azurite:
    binary = ensure_installed()
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
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"azurite exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Azurite(process, port, location)
        except OSError:
            time.sleep(0.1)
    stop_azurite(Azurite(process, port, location))
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
