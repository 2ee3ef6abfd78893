"""`make completions`: write the shell completion scripts shipped in completions/.

The scripts call back into `amlmon` (typer's completion protocol), so they stay right as commands
change; they are regenerated here only when the protocol itself changes. A test checks the committed
files are what this writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# shell -> file name the shell's completion loader expects
SCRIPTS = {"bash": "amlmon.bash", "zsh": "_amlmon", "fish": "amlmon.fish"}


def completion_script(shell: str) -> str:
    env = {**os.environ, "_AMLMON_COMPLETE": f"source_{shell}"}
    result = subprocess.run(
        [sys.executable, "-m", "amlmon"], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for shell, name in SCRIPTS.items():
        target = directory / name
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(completion_script(shell))
        os.replace(tmp, target)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    directory = Path(argv[0] if argv else "completions")
    for path in write_all(directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
