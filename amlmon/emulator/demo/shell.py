"""Running amlmon as a user would in the demo: a new process per command, its command line shown first,
its output shown and (with a transcript) recorded as a terminal 200 columns wide prints it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from typing import Any

# Every amlmon step of this run: {"args": [...], "exit": N, "stderr": "...", "stdout": "..."}; None
# when no transcript is asked for.
TRANSCRIPT: list[dict[str, Any]] | None = None
TRANSCRIPT_COLUMNS = 200  # wide enough for every table of the story
BOLD, DIM, RESET = (
    ("\033[1m", "\033[2m", "\033[0m")
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    else ("", "", "")
)
# `$NAME` in an argument is the shell variable a user would have set (a request id, a container URL
# that changes every run): the transcript keeps it as written, as the README shows it.
_VARIABLE = re.compile(r"\$([A-Z][A-Z0-9_]*)")


def banner(text: str) -> None:
    print(f"\n{BOLD}## {text}{RESET}", flush=True)


def shown(args: tuple[str, ...] | list[str]) -> str:
    """The command line as a user types it: `"$NAME"` stays a variable the shell expands."""
    return "amlmon" + "".join(
        f' "{arg}"' if _VARIABLE.fullmatch(arg) else f" {shlex.quote(arg)}" for arg in args
    )


def expanded(arg: str, env: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda found: env.get(found.group(1), found.group(0)), arg)


def amlmon(*args: str, env: dict[str, str], check: bool = True) -> int:
    """Run one amlmon command as a user would (a new process, in the data directory), showing the
    command line first; with a transcript, its output is captured (and shown) rather than inherited."""
    print(f"{DIM}$ {shown(args)}{RESET}", flush=True)
    command = [sys.executable, "-m", "amlmon", *(expanded(arg, env) for arg in args)]
    cwd = env["AMLMON_EMULATOR_DIR"]
    if TRANSCRIPT is None:
        code = subprocess.run(command, env=env, cwd=cwd, check=False).returncode
    else:
        code, stdout, stderr = run_on_a_terminal(command, env, cwd, TRANSCRIPT_COLUMNS)
        print(stderr + stdout, end="", flush=True)
        TRANSCRIPT.append({"args": list(args), "exit": code, "stderr": stderr, "stdout": stdout})
    if check and code != 0:
        raise SystemExit(f"demo step failed with exit code {code}: {shown(args)}")
    return code


def quietly(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """An amlmon command the demo runs for itself (waiting for data), not shown and not recorded."""
    return subprocess.run(
        [sys.executable, "-m", "amlmon", *args], env=env, capture_output=True, text=True, check=False
    )


def run_on_a_terminal(
    command: list[str], env: dict[str, str], cwd: str, columns: int = 200
) -> tuple[int, str, str]:
    """Run `command` with stdout on a pseudo-terminal `columns` wide (no colour) and stderr on a pipe:
    its exit code, stdout exactly as a user's terminal shows it, and stderr as a log file keeps it
    (progress as plain lines rather than a live display)."""
    import pty
    import threading

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command,
        env={**env, "COLUMNS": str(columns), "NO_COLOR": "1"},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    reader.join()
    code = process.wait()
    stdout = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return code, stdout, b"".join(errors).decode(errors="replace")
