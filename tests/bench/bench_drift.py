"""`amlmon drift` over 1,000,000 rows × 20 features of local Parquet (issue 18).

Targets: the whole command (a child process: start-up, reading, every metric, the JSON output) within
2× of a direct scipy computation of the same metrics over the same arrays already in memory, at most
10 s, and peak RSS under 500 MB. The baseline, measured in the same run: per feature
scipy.stats.wasserstein_distance / std, np.histogram on Sturges bins + scipy's jensenshannon and
PSI, scipy.stats.ks_2samp, and the quality counts. The two must also agree to 1e-9.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.bench.common import report

ROWS = 1_000_000
FEATURES = 20
SHIFTED = "f07"
BATCH = 100_000


def _write(path: Path, seed: int, shift: float) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(FEATURES)]
    schema = pa.schema([(name, pa.float64()) for name in names])
    with pq.ParquetWriter(str(path), schema) as writer:
        for _ in range(ROWS // BATCH):
            columns = {name: np.round(rng.normal(i, 1 + i / 10, BATCH), 3) for i, name in enumerate(names)}
            columns[SHIFTED] = columns[SHIFTED] + shift
            writer.write_table(pa.table(columns, schema=schema))


def _run_measured(args: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of a child process, RSS sampled every 20 ms."""
    import psutil

    started = time.perf_counter()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    out, err = process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode not in (0, 1):
        raise RuntimeError(f"drift failed ({process.returncode}): {err.strip()[-500:]}")
    return elapsed, peak / 1e6, out


def _scipy_direct(
    baseline: dict[str, np.ndarray], current: dict[str, np.ndarray]
) -> dict[tuple[str, str], float]:
    """What a data scientist would write with scipy for the same metrics, over in-memory arrays."""
    from scipy import stats
    from scipy.spatial import distance
    from scipy.special import rel_entr

    out: dict[tuple[str, str], float] = {}
    for name, b in baseline.items():
        c = current[name]
        out[(name, "normalized_wasserstein_distance")] = stats.wasserstein_distance(b, c) / max(
            float(np.std(b, ddof=1)), 0.001
        )
        bins = math.ceil(math.log2(min(b.size, c.size)) + 1)
        edges = np.linspace(min(b.min(), c.min()), max(b.max(), c.max()), bins + 1)
        hb, hc = np.histogram(b, edges)[0].astype(float), np.histogram(c, edges)[0].astype(float)
        out[(name, "jensen_shannon_distance")] = float(
            distance.jensenshannon(hb / hb.sum(), hc / hc.sum(), base=2)
        )
        p, q = (hb + 1) / hb.sum(), (hc + 1) / hc.sum()
        out[(name, "population_stability_index")] = float(np.sum(rel_entr(q, p) + rel_entr(p, q)))
        out[(name, "two_sample_kolmogorov_smirnov_test")] = float(stats.ks_2samp(b, c).pvalue)
        out[(name, "out_of_bounds_rate")] = float(np.count_nonzero((c < b.min()) | (c > b.max())) / c.size)
    return out


def _load(path: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(str(path))
    return {name: table.column(name).to_numpy() for name in table.column_names}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="amlmon-bench-drift-") as tmp:
        base_path, cur_path = Path(tmp) / "baseline.parquet", Path(tmp) / "current.parquet"
        started = time.perf_counter()
        _write(base_path, 1, 0.0)
        _write(cur_path, 2, 0.5)
        print(
            f"   wrote 2 × {ROWS:,} rows × {FEATURES} features in {time.perf_counter() - started:.1f} s",
            flush=True,
        )

        args = [
            sys.executable,
            "-m",
            "amlmon",
            "drift",
            "--baseline",
            str(base_path),
            "--current",
            str(cur_path),
        ]
        took, peak_mb, out = _run_measured([*args, "-o", "json"])
        rows = json.loads(out)

        baseline, current = _load(base_path), _load(cur_path)
        started = time.perf_counter()
        reference = _scipy_direct(baseline, current)
        direct = time.perf_counter() - started

    got = {(r["feature"], r["metric"]): r["value"] for r in rows}
    worst = max(abs(got[key] - value) for key, value in reference.items())
    drifted = sorted({r["feature"] for r in rows if r["breached"] and r["signal"] == "data_drift"})
    print(f"   drifted: {drifted}; largest difference from scipy: {worst:.3g}", flush=True)
    ok = report(f"drift {ROWS:,} rows × {FEATURES} features vs scipy in memory", took, direct, "s", 2.0)
    ok &= report(f"drift {ROWS:,} rows × {FEATURES} features, wall time", took, 10.0, "s", 1.0)
    ok &= report(f"drift {ROWS:,} rows × {FEATURES} features, peak RSS", peak_mb, 500.0, "MB", 1.0)
    return 0 if ok and worst <= 1e-9 and drifted == [SHIFTED] else 1


if __name__ == "__main__":
    raise SystemExit(main())
