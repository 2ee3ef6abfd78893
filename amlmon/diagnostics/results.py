"""What a run is asked (`Options`), what each target came to (`Result`), the summary and the exit code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from amlmon.diagnostics.inventory import Item
from amlmon.diagnostics.plan import Change, V2Want
from amlmon.errors import EXIT_FAILED, EXIT_OK, AmlmonError

Progress = Callable[[str, str], None]  # (target, message)


@dataclass
class Options:
    enable: bool
    model_data: bool | None  # v1: dataCollection.storageEnabled
    dry_run: bool = False
    wait: bool = True
    timeout: float = 900.0
    v2: V2Want = field(default_factory=V2Want)


@dataclass
class Result:
    target: str
    kind: str
    status: str  # changed | unchanged | would-change | submitted | failed
    changes: list[Change] = field(default_factory=list)
    operation_id: str | None = None
    reason: str | None = None
    seconds: float = 0.0
    error: AmlmonError | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "status": self.status,
            "changes": [change.to_dict() for change in self.changes],
            "operationId": self.operation_id,
            "reason": self.reason,
            "seconds": round(self.seconds, 2),
        }

    def fail(self, exc: AmlmonError) -> None:
        self.status = "failed"
        self.reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
        self.error = exc

    def final_line(self) -> str:
        """The progress line that ends this target's run."""
        if self.status == "failed":
            return f"failed: {self.reason}"
        if self.status == "submitted":
            return f"submitted (operation {self.operation_id})"
        return f"{self.status} ({self.seconds:.1f}s)"


@dataclass
class Step:
    """One target's run: the item, what was asked, where progress goes, when to stop, its result."""

    item: Item
    options: Options
    progress: Progress
    stopped: Callable[[], bool]
    result: Result
    started: float  # time.monotonic() when the target's run began

    @property
    def deadline(self) -> float:
        return self.started + self.options.timeout

    def before_write(self) -> None:
        """Stop here, nothing sent, once Ctrl-C was pressed: a worker still reading when it came must not
        submit a write afterwards (the interrupt report says what was and was not submitted)."""
        if self.stopped():
            from amlmon.azure.services_v1 import StopWaiting

            raise StopWaiting()


def summary(results: Sequence[Result]) -> dict[str, int]:
    counts = {"changed": 0, "unchanged": 0, "would-change": 0, "submitted": 0, "failed": 0}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def exit_code(results: Sequence[Result]) -> int:
    """0 when nothing failed; one target's own exit code when it was the only one; else 1."""
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return EXIT_OK
    if len(results) == 1 and failed[0].error is not None:
        return failed[0].error.exit_code
    return EXIT_FAILED
