"""`make bench`: run every tests/bench/bench_*.py module, each in its own process.

Each module prints `<name>: <value> <unit>  baseline <value> <unit>  ratio <x.xx>  target <= <t>` lines,
measuring its baseline in the same run, and exits 1 when it misses a target. This runner fails if any did.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    wanted = set(argv)
    modules = sorted(p.stem for p in here.glob("bench_*.py") if not wanted or p.stem in wanted)
    failed = []
    for module in modules:
        print(f"== {module}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", f"tests.bench.{module}"], check=False)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
        if result.returncode != 0:
            failed.append(module)
    if failed:
        print(f"missed targets or failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(modules)} benchmarks met their targets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
