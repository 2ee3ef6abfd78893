"""Peak memory of `amlmon query … -o jsonl` / `-o tsv` against the answer's size (issue 14.12).

`query` streams jsonl and tsv: each row is written as it is read from the answer, so the process's
peak RSS must not grow with the number of rows. Measured in a child process (`python -m amlmon`, as a
user runs it; its peak RSS from wait4) for 100k and 500k rows of a trace-like answer
(timestamp, message, a dynamic column, …) that the emulator generates with `range`.

Lines (targets): peak at 500k rows <= 1.2x the peak at 100k rows, and under 300 MB, for jsonl and tsv.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.bench.common import report, report_budget, running_emulator
from tests.conftest import REPO_ROOT

SIZES = (100_000, 500_000)
FLAT = 1.2
CEILING_MB = 300.0


def trace_like(rows: int) -> str:
    """~130 bytes a row on the wire: under the query API's 64 MB answer limit at 500k rows."""
    return (
        f"range x from 1 to {rows} step 1 "
        "| extend timestamp = datetime(2026-11-25) + x * 1s, message = strcat('scored request ', x), "
        "severityLevel = 1, cloud_RoleName = 'bench-svc', customDimensions = bag_pack('Request Id', tostring(x)) "
        "| project-away x"
    )


def peak_mb(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(peak RSS in MB, lines written) of one `python -m amlmon …` run."""
    process = subprocess.Popen(
        [sys.executable, "-m", "amlmon", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    lines = sum(1 for _ in process.stdout)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"amlmon {' '.join(args[:2])} exited {process.returncode}: {stderr[-400:]}")
    return usage.ru_maxrss / 1024, lines


def main() -> int:
    with running_emulator("query-memory") as (emulator, _):
        ws = emulator.create_workspace("bench-memory")
        env = emulator.env()
        ok = True
        for output in ("jsonl", "tsv"):
            peaks = {}
            for rows in SIZES:
                peak, lines = peak_mb(["query", trace_like(rows), *ws["scope"], "-o", output], env)
                if lines != rows:
                    raise RuntimeError(f"-o {output}: {lines} lines for {rows} rows")
                peaks[rows] = peak
                print(f"(-o {output}: {rows:,} rows, peak RSS {peak:.0f} MB)", flush=True)
            small, large = (peaks[rows] for rows in SIZES)
            ok &= report(
                f"query -o {output} peak RSS at {SIZES[1]:,} vs {SIZES[0]:,} rows", large, small, "MB", FLAT
            )
            ok &= report_budget(
                f"query -o {output} peak RSS at {SIZES[1]:,} rows", large, 0.0, "MB", CEILING_MB
            )
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
