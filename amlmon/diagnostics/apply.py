"""The bulk run: every target's read → plan → write → wait in a bounded thread pool, past failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from amlmon.diagnostics.apply_endpoint_logs import apply_endpoint_logs
from amlmon.diagnostics.apply_v1 import apply_v1
from amlmon.diagnostics.apply_v2 import apply_v2
from amlmon.diagnostics.inventory import Item
from amlmon.diagnostics.results import Options, Progress, Result, Step
from amlmon.diagnostics.workspace import Workspace
from amlmon.errors import AmlmonError, Interrupted

MAX_WORKERS = 4


def apply(
    ws: Workspace, items: Sequence[Item], options: Options, progress: Progress, *, workers: int = MAX_WORKERS
) -> list[Result]:
    """Run every target concurrently (bounded); a failure is recorded and the others go on.

    Ctrl-C stops waiting (the operations continue server-side) and raises Interrupted.
    """
    stop = threading.Event()
    results: dict[int, Result] = {}  # by position: an endpoint and a v1 service may share a name
    pending: dict[Future[Result], int] = {}
    executor = ThreadPoolExecutor(max_workers=max(1, min(workers, len(items) or 1)))
    try:
        for index, item in enumerate(items):
            pending[executor.submit(_one, ws, item, options, progress, stop.is_set)] = index
        while pending:
            done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
    except KeyboardInterrupt:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        running = [r for r in _drain(pending) if r.operation_id]
        ops = ", ".join(f"{r.target} (operation {r.operation_id})" for r in running)
        raise Interrupted(
            "interrupted while waiting; amlmon sent nothing more"
            + (f" — these updates continue server-side: {ops}" if ops else ""),
            hint="check them later with `amlmon diagnostics status TARGET…`",
        ) from None
    finally:
        executor.shutdown(wait=True)
    return [results[index] for index in range(len(items)) if index in results]


def _drain(pending: dict[Future[Result], int]) -> list[Result]:
    drained = []
    for future in pending:
        if future.done() and not future.cancelled() and future.exception() is None:
            drained.append(future.result())
    return drained


def _one(
    ws: Workspace, item: Item, options: Options, progress: Progress, stopped: Callable[[], bool]
) -> Result:
    from amlmon.azure.services_v1 import StopWaiting

    started = time.monotonic()
    result = Result(item.target, item.kind, "failed")
    step = Step(item, options, progress, stopped, result, started)
    try:
        if item.api == "v1":
            apply_v1(ws, step)
        elif item.api == "endpoint-logs":
            apply_endpoint_logs(ws, step)
        else:
            apply_v2(ws, step)
    except StopWaiting:
        result.status = "submitted" if result.operation_id else "failed"
        result.reason = (
            "interrupted; the operation continues server-side" if result.operation_id else "interrupted"
        )
    except AmlmonError as exc:
        result.fail(exc)
    except Exception as exc:
        from amlmon.azure.errors import translate

        translated = translate(exc)
        if translated is None:
            raise
        result.fail(translated)
    result.seconds = time.monotonic() - started
    progress(item.target, result.final_line())
    return result
