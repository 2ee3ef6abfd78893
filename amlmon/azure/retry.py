"""Bounded waiting: every SDK client's retry policy honours Retry-After up to a cap, and a one-shot
command gives up (exit 5) rather than wait past its --timeout deadline.

azure-core's RetryPolicy sleeps for whatever Retry-After the service sends (600 s, ten times over);
a CI gate must not stall for half an hour. Imported only when a client is built (it imports azure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from azure.core.pipeline.policies import RetryPolicy

from amlmon.errors import OperationFailed, Throttled

# The longest single wait between two attempts, whatever Retry-After says (the follow loop's cap too).
MAX_RETRY_WAIT = 60.0


@dataclass
class Deadline:
    """When a command stops waiting on the service: `seconds` after it started (None: never)."""

    seconds: float | None
    text: str = ""
    started: float = field(default_factory=time.monotonic)
    ended: bool = False  # the command is over (its context closed)

    def end(self) -> None:
        """The command is over. A query a failed command left running on a thread (the next slice's
        prefetch, a workspace read ahead) still retries with backoff; from now on it sends nothing:
        in-process callers (tests, benchmarks) would otherwise see its request land in the next command."""
        self.ended = True

    def check_running(self) -> None:
        if self.ended:
            raise CommandEnded("the command ended before this request was sent")

    def remaining(self) -> float | None:
        return None if self.seconds is None else self.started + self.seconds - time.monotonic()

    def allow(self, wait: float, reason: str) -> None:
        """Raise Throttled when waiting `wait` seconds more would pass the deadline."""
        left = self.remaining()
        if left is not None and wait > left:
            raise Throttled(
                f"gave up after --timeout {self.text}: {reason}",
                hint="retry later, or allow more time with --timeout (env AMLMON_TIMEOUT), e.g. --timeout 30m",
            )


class CommandEnded(OperationFailed):
    """A request of a thread its command left, after the command ended; nobody reads it."""


class BoundedRetryPolicy(RetryPolicy):
    """azure-core's retries, with each wait capped at MAX_RETRY_WAIT and all of them within a Deadline."""

    def __init__(self, deadline: Deadline, *, final_statuses: tuple[int, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = deadline
        self._final = final_statuses

    def is_retry(self, settings: Any, response: Any) -> bool:
        if response.http_response.status_code in self._final:
            return False
        return bool(super().is_retry(settings, response))

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        asked = self.get_retry_after(response) if response is not None else None
        wait = min(asked if asked is not None else self.get_backoff_time(settings), MAX_RETRY_WAIT)
        status = getattr(getattr(response, "http_response", None), "status_code", None)
        reason = f"HTTP {status}" if status else "the service did not answer"
        if asked is not None:
            reason += f", asked to wait {asked:g}s (Retry-After)"
        self._deadline.allow(wait, reason)
        if wait > 0:
            transport.sleep(wait)
        self._deadline.check_running()  # nor a retry after its wait

    def send(self, request: Any) -> Any:
        self._deadline.check_running()  # a thread the ended command left starts no request
        return super().send(request)
