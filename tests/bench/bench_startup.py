"""Start-up (issue 2): every `--help` within python start-up + 200 ms; TAB completion without Python.

Baselines measured in the same run: `python -c pass` for the help commands, `bash -c true` for the
static completion script. The import of the SDK clients amlmon avoids at start-up is printed for scale.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.bench.common import median_seconds, report_budget

REPO = Path(__file__).resolve().parents[2]
BASH_COMPLETE = f"source {REPO / 'completions' / 'amlmon.bash'}; COMP_WORDS=(amlmon diagnostics en); COMP_CWORD=2; _amlmon; true"


def run(argv: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, env={**os.environ, **(env or {})}, check=True, capture_output=True)


def main() -> int:
    python = sys.executable
    floor = median_seconds(lambda: run([python, "-c", "pass"])) * 1000
    ok = True
    for args in (["--help"], ["workspace", "--help"], ["emulator", "start", "--help"]):
        took = median_seconds(lambda args=args: run([python, "-m", "amlmon", *args])) * 1000
        ok &= report_budget(f"amlmon {' '.join(args)}", took, floor, "ms", 200)
    bash_floor = median_seconds(lambda: run(["bash", "--norc", "-c", "true"])) * 1000
    tab = median_seconds(lambda: run(["bash", "--norc", "-c", BASH_COMPLETE])) * 1000
    ok &= report_budget("TAB completion (static bash script)", tab, bash_floor, "ms", 20)
    sdk = median_seconds(
        lambda: run(
            [python, "-c", "import azure.monitor.query, azure.mgmt.machinelearningservices, azure.identity"]
        ),
        repeat=3,
    )
    print(f"(for scale: importing the Azure SDK clients amlmon defers takes {sdk * 1000:.0f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
