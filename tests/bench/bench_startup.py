"""Start-up (issue 2): every `--help` within python start-up + 200 ms; TAB completion without Python.

Baselines measured in the same run: `python -c pass` for the help commands, `bash -c true` for the
static completion script. The import of the SDK clients amlmon avoids at start-up is printed for scale.

Cold start of commands that run: a run imports only its own command's module, so `amlmon stats --help`
costs about what the root alone (`amlmon --version`) does, and a real command against the emulator
(`services list`: its SDK client, a token, two HTTPS calls) stays within a ratio of that root.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from tests.bench.common import median_seconds, report, report_budget, running_emulator

REPO = Path(__file__).resolve().parents[2]
BASH_COMPLETE = f"source {REPO / 'completions' / 'amlmon.bash'}; COMP_WORDS=(amlmon diagnostics en); COMP_CWORD=2; _amlmon; true"


def run(argv: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, env={**os.environ, **(env or {})}, check=True, capture_output=True)


def main() -> int:
    python = sys.executable
    floor = median_seconds(lambda: run([python, "-c", "pass"])) * 1000
    ok = True
    for args in (["--help"], ["workspace", "--help"], ["emulator", "start", "--help"]):
        took = median_seconds(functools.partial(run, [python, "-m", "amlmon", *args])) * 1000
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
    ok &= command_start_up(python)
    return 0 if ok else 1


def command_start_up(python: str) -> bool:
    """One command's module, and one real command, against the root alone measured in the same run."""
    with running_emulator("startup") as (emulator, _):
        ws = emulator.create_workspace("startup", services=[{"name": "svc-a", "computeType": "ACI"}])
        env = {**emulator.env(), "PYTHONPATH": str(REPO)}
        amlmon = [python, "-m", "amlmon"]
        root = median_seconds(lambda: run([*amlmon, "--version"], env), repeat=20) * 1000
        ok = report(
            "amlmon stats --help vs amlmon --version",
            median_seconds(lambda: run([*amlmon, "stats", "--help"], env), repeat=20) * 1000,
            root,
            "ms",
            1.5,
        )
        listing = [*amlmon, "services", "list", "-o", "json", *ws["scope"]]
        took = median_seconds(lambda: run(listing, env), repeat=20) * 1000
        return report("amlmon services list -o json vs amlmon --version", took, root, "ms", 4.0) and ok


if __name__ == "__main__":
    raise SystemExit(main())
