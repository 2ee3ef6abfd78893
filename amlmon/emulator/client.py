"""Starting, finding and stopping an emulator process, and calling its admin API (/_emulator/...)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


class EmulatorNotRunning(RuntimeError):
    pass


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _alive(pid: int) -> bool:
    try:  # started by this very process (a test, the demo): reap it, or its zombie looks alive forever
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_state(data_dir: Path) -> dict[str, Any] | None:
    """The state of a live emulator in `data_dir`; a stale state file (dead pid) is removed."""
    state = read_state(data_dir)
    if state is None:
        return None
    if not _alive(int(state.get("pid", 0))):
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        return None
    return state


class PortInUse(RuntimeError):
    """The emulator could not bind its port: something else listens there."""


# `python -m amlmon.emulator serve`'s exit code when its port is taken (__main__.py).
PORT_IN_USE_EXIT = 98


def start_detached(
    data_dir: Path, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0
) -> dict[str, Any]:
    """Start `python -m amlmon.emulator serve` in the background and wait for its state file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    log = open(data_dir / "emulator.log", "ab")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amlmon.emulator",
            "serve",
            "--data",
            str(data_dir),
            "--host",
            host,
            "--port",
            str(port),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            tail = (data_dir / "emulator.log").read_text(errors="replace").strip().splitlines()[-1:]
            said = " ".join(tail).removeprefix("error: ")  # the CLI adds its own prefix
            if process.returncode == PORT_IN_USE_EXIT:
                raise PortInUse(said)
            raise RuntimeError(f"the emulator exited with {process.returncode}: {said}")
        state = read_state(data_dir)
        if state and state.get("pid") == process.pid:
            return state
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the emulator did not start within {timeout:.0f}s (log: {data_dir / 'emulator.log'})")


def stop(data_dir: Path, timeout: float = 20.0) -> bool:
    """SIGTERM the emulator (it stops the inference servers it started); False if none was running."""
    state = running_state(data_dir)
    if state is None:
        return False
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    return True


class AdminClient:
    """JSON over HTTPS to the emulator's admin API."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.endpoint = str(state["endpoint"])
        self._context = ssl.create_default_context(cafile=str(state["ca_path"]))

    @classmethod
    def for_dir(cls, data_dir: Path) -> AdminClient:
        state = running_state(data_dir)
        if state is None:
            raise EmulatorNotRunning(f"no emulator is running with data directory {data_dir}")
        return cls(state)

    def call(self, method: str, path: str, body: Any = None, timeout: float = 300) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, {"message": raw.decode(errors="replace")}
