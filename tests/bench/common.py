"""Shared by the benchmarks: timing and the one output line format."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def median_seconds(action: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def report(name: str, value: float, baseline: float, unit: str, target_ratio: float) -> bool:
    """Print one line; True when value/baseline is within the target ratio."""
    ratio = value / baseline if baseline else float("inf")
    ok = ratio <= target_ratio
    print(
        f"{name}: {value:.4g} {unit}  baseline {baseline:.4g} {unit}  ratio {ratio:.2f}  "
        f"target <= {target_ratio}  {'ok' if ok else 'MISSED'}",
        flush=True,
    )
    return ok


def report_budget(name: str, value: float, baseline: float, unit: str, budget: float) -> bool:
    """Print one line; True when value stays within baseline + budget (an additive start-up budget)."""
    ratio = value / baseline if baseline else float("inf")
    ok = value <= baseline + budget
    print(
        f"{name}: {value:.4g} {unit}  baseline {baseline:.4g} {unit}  ratio {ratio:.2f}  "
        f"target <= baseline + {budget:g} {unit}  {'ok' if ok else 'MISSED'}",
        flush=True,
    )
    return ok


@contextlib.contextmanager
def running_emulator(label: str) -> Iterator[tuple[Any, Path]]:
    """An emulator of the benchmark's own in a temporary directory: (handle, that directory)."""
    from tests.conftest import start_emulator, stop_emulator

    with tempfile.TemporaryDirectory(prefix=f"amlmon-bench-{label}-") as tmp:
        emulator = start_emulator(Path(tmp) / "emulator")
        try:
            yield emulator, Path(tmp)
        finally:
            stop_emulator(emulator)


def seeded_workspace(
    em: Any, label: str, services: list[str], **seed: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A workspace with ACI services (Emulator.create_workspace: the admin answer plus `subscription`,
    `resourceGroup`, `name`, `scope`) and the seed's answer, with `wallSeconds` the seeding took."""
    ws = em.create_workspace(label, services=[{"name": name, "computeType": "ACI"} for name in services])
    started = time.perf_counter()
    seeded = em.seed(ws, services, timeout=1800, **seed)
    return ws, {**seeded, "wallSeconds": time.perf_counter() - started}
