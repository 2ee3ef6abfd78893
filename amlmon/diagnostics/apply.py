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
NOT_SUBMITTED = "interrupted before its change was submitted"


def apply(
    ws: Workspace, items: Sequence[Item], options: Options, progress: Progress, *, workers: int = MAX_WORKERS
) -> list[Result]:
    """Run every target concurrently (bounded); a failure is recorded and the others go on.

    Ctrl-C stops waiting (the operations continue server-side) and raises InterruptedRun, which says per
    target whether a change was submitted.
    """
    stop = threading.Event()
    results: dict[int, Result] = {}  # by position: an endpoint and a v1 service may share a name
    pending: dict[Future[Result], int] = {}
    executor = ThreadPoolExecutor(max_workers=max(1, min(workers, len(items) or 1)))
    abandoned = False  # a second Ctrl-C: the workers are not waited for again
    try:
        for index, item in enumerate(items):
            pending[executor.submit(_one, ws, item, options, progress, stop.is_set)] = index
        while pending:
            done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
    except KeyboardInterrupt:
        stop.set()
        try:
            executor.shutdown(wait=True, cancel_futures=True)  # workers stop before any further write
        except KeyboardInterrupt:
            abandoned = True
            raise InterruptedAgain([items[i] for f, i in pending.items() if not f.done()]) from None
        for future, index in pending.items():
            results[index] = _settled(future, items[index])
        raise InterruptedRun([results[index] for index in range(len(items))], options.dry_run) from None
    finally:
        executor.shutdown(wait=not abandoned)
    return [results[index] for index in range(len(items)) if index in results]


class InterruptedRun(Interrupted):
    """Ctrl-C during the bulk run; `targets` says, per target, what had been submitted to Azure."""

    def __init__(self, results: Sequence[Result], dry_run: bool) -> None:
        self.targets = [f"{r.target}: {_submitted(r, dry_run)}" for r in results]
        submitted = [r for r in results if r.operation_id or r.status == "changed"]
        running = [r for r in results if r.status == "submitted"]
        if dry_run:
            message = "interrupted during a dry run; nothing was submitted to Azure"
        else:
            message = (
                f"interrupted; {len(submitted)} of {len(results)} targets had a change submitted to Azure"
                + (f", {len(running)} of them still running server-side" if running else "")
                + "; amlmon submits nothing more"
            )
        names = " ".join(r.target for r in results)
        super().__init__(message, hint=f"see where each target stands: `amlmon diagnostics status {names}`")


# What a target's write changes: the setting a write cut short may have left half-applied.
WRITTEN = {
    "v1": "the web service's appInsightsEnabled and dataCollection",
    "v2": "the deployment's appInsightsEnabled and dataCollector",
    "endpoint-logs": "the endpoint's diagnostic setting",
}


class InterruptedAgain(Interrupted):
    """A second Ctrl-C while the workers finish their current call: amlmon stops waiting for them, so it
    cannot report per target; one line names the writes that were in flight and how to check them."""

    def __init__(self, running: Sequence[Item]) -> None:
        if not running:
            super().__init__("interrupted again while stopping; no change was in flight")
            return
        changes = ", ".join(f"{item.target}'s change ({WRITTEN.get(item.api, item.api)})" for item in running)
        names = " ".join(item.target for item in running)
        them = "it" if len(running) == 1 else "them"
        super().__init__(
            f"interrupted again while stopping: {changes} may be half-applied; "
            f"check {them} with `amlmon diagnostics status {names}`"
        )


def _submitted(result: Result, dry_run: bool) -> str:
    """One target's line of the interrupt report: was a change submitted to Azure, and where is it."""
    operation = f" (operation {result.operation_id})" if result.operation_id else ""
    if result.status == "submitted":
        return f"submitted{operation}; it continues server-side"
    if result.status == "changed":
        return f"submitted and done{operation}"
    if result.status in ("unchanged", "would-change") or dry_run:
        return "nothing submitted (" + ("dry run" if dry_run else "already as asked") + ")"
    if result.status == "unknown":
        return "unknown whether a change was submitted"
    if result.operation_id:
        return f"submitted{operation}, then failed: {result.reason}"
    if result.reason == NOT_SUBMITTED:
        return "not submitted (interrupted before its write)"
    return f"not submitted: {result.reason}"


def _settled(future: Future[Result], item: Item) -> Result:
    """A target's result once the workers have stopped: never started → not submitted."""
    if future.cancelled():
        return Result(item.target, item.kind, "failed", reason=NOT_SUBMITTED)
    error = future.exception()
    if error is not None:  # an unexpected error: amlmon cannot say whether its write reached Azure
        return Result(item.target, item.kind, "unknown", reason=str(error))
    return future.result()


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
            "interrupted; the operation continues server-side" if result.operation_id else NOT_SUBMITTED
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
