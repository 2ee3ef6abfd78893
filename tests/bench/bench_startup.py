"""Start-up: `amlmon --help` and a completion request against the floor of any typer CLI.

Baseline: `python -c "import typer"` measured in the same run. amlmon imports the Azure SDK lazily, so
help and completion should cost little more than typer itself. For reference, the import of the SDK
clients amlmon avoids is printed too.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.bench.common import median_seconds, report


def run(args: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, *args], env={**os.environ, **(env or {})}, check=True, capture_output=True
    )


def main() -> int:
    floor = median_seconds(lambda: run(["-c", "import typer"]))
    help_time = median_seconds(lambda: run(["-m", "amlmon", "--help"]))
    complete_env = {"_AMLMON_COMPLETE": "complete_bash", "COMP_WORDS": "amlmon diag", "COMP_CWORD": "1"}
    completion = median_seconds(lambda: run(["-m", "amlmon"], complete_env))
    sdk = median_seconds(
        lambda: run(["-c", "import azure.monitor.query, azure.mgmt.machinelearningservices, azure.identity"]),
        repeat=3,
    )
    ok = report("amlmon --help", help_time * 1000, floor * 1000, "ms", 2.5)
    # typer's completion path imports its pydantic adapter (~70 ms) when pydantic is installed (the demo
    # extra pulls it in); that is typer's cost, not amlmon's, hence the looser target.
    ok &= report("completion", completion * 1000, floor * 1000, "ms", 3.5)
    print(f"(for reference: importing the Azure SDK clients takes {sdk * 1000:.0f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
