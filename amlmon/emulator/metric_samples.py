"""Platform metric samples: what the emulator saw (requests through the front door, collector posts) and
the inference children's CPU and memory read from /proc. platform_metrics.py answers queries over them."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amlmon.emulator.resources import normalize_id

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds
    resource: str  # normalized resource id
    metric: str
    dims: tuple[tuple[str, str], ...]  # (lower-case dimension name, value)
    value: float


class MetricLog:
    """Every sample the emulator recorded (in memory: metrics are about what this run saw)."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.lock = threading.Lock()
        self.cpu_seen: dict[str, tuple[float, float]] = {}  # instance -> (wall, cpu seconds)

    def add(self, resource: str, metric: str, value: float, at: float | None = None, **dims: str) -> None:
        sample = Sample(
            time.time() if at is None else at,
            normalize_id(resource),
            metric,
            tuple(sorted((k.lower(), str(v)) for k, v in dims.items())),
            float(value),
        )
        with self.lock:
            self.samples.append(sample)

    def select(self, resource: str, metric: str, start: float, end: float) -> list[Sample]:
        key = normalize_id(resource)
        with self.lock:
            return [
                s for s in self.samples if s.resource == key and s.metric == metric and start <= s.at < end
            ]


# --- recording (called by online_scoring and the collector sidecar) --------------------------------------------------------


def record_request(
    state: EmulatorState, endpoint_id: str, deployment: str, status: int, model_status: int, total_ms: int
) -> None:
    log = state.metrics
    now = time.time()
    log.add(
        endpoint_id,
        "RequestsPerMinute",
        1,
        now,
        deployment=deployment,
        statusCode=str(status),
        statusCodeClass=f"{status // 100}xx",
        modelStatusCode=str(model_status),
    )
    log.add(endpoint_id, "RequestLatency", total_ms, now, deployment=deployment)


def record_collection(
    state: EmulatorState, deployment_id: str, instance: str, collection: str, error: str | None
) -> None:
    """One post to the collector sidecar: an event, or an error with its reason."""
    log = state.metrics
    now = time.time()
    endpoint_id = deployment_id.split("/deployments/")[0]
    deployment = deployment_id.rstrip("/").rsplit("/", 1)[-1]
    metric = "DataCollectionErrorsPerMinute" if error else "DataCollectionEventsPerMinute"
    reason = error or ""
    log.add(endpoint_id, metric, 1, now, deployment=deployment, type=collection, reason=reason)
    log.add(deployment_id, metric, 1, now, instanceId=instance, type=collection, reason=reason)


# --- CPU and memory of the inference children ------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _started_at(pid: int) -> float:
    """Wall-clock start of a process: boot time (/proc/stat btime) + its starttime field."""
    with open(f"/proc/{pid}/stat") as handle:
        ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as handle:
        boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mem_total() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def sample_children(state: EmulatorState) -> None:
    """One CPU and memory sample per live inference child (its process and gunicorn workers)."""
    from amlmon.emulator.inference_process import descendants

    log = state.metrics
    total_memory = _mem_total()
    cores = os.cpu_count() or 1
    for online in list(state.online.children.values()):
        process = online.child.process
        if process.poll() is not None:
            continue
        pids = [process.pid, *descendants(process.pid)]
        cpu, rss = 0.0, 0
        for pid in pids:
            try:
                cpu += _cpu_seconds(pid)
                rss += _rss_bytes(pid)
            except (OSError, IndexError, ValueError):
                continue  # a worker that just exited
        now = time.time()
        previous = log.cpu_seen.get(online.instance)
        if previous is None:  # the first sample covers the time since the server started
            try:
                previous = (_started_at(process.pid), 0.0)
            except (OSError, IndexError, ValueError, StopIteration):
                previous = None
        log.cpu_seen[online.instance] = (now, cpu)
        if total_memory:
            log.add(
                online.deployment_id,
                "CpuMemoryUtilizationPercentage",
                100.0 * rss / total_memory,
                now,
                instanceId=online.instance,
            )
        if previous is not None and now > previous[0]:
            busy = max(cpu - previous[1], 0.0) / (now - previous[0]) / cores
            log.add(
                online.deployment_id,
                "CpuUtilizationPercentage",
                min(100.0 * busy, 100.0),
                now,
                instanceId=online.instance,
            )


def start_sampler(state: EmulatorState) -> None:
    """Sample the inference children's CPU and memory every `metricsSampleSeconds` until shutdown."""
    stop = threading.Event()
    state.shutdown_hooks.append(stop.set)
    threading.Thread(target=_sample_until, args=(state, stop), daemon=True, name="metrics-sampler").start()


def _sample_until(state: EmulatorState, stop: threading.Event) -> None:
    while not stop.wait(max(state.number("metricsSampleSeconds", 2.0), 0.2)):
        try:
            sample_children(state)
        except Exception:  # shutting down, or /proc unavailable: metrics stay without CPU samples
            continue
