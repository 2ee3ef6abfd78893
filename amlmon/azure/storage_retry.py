"""Storage's retries within the command's --timeout deadline (amlmon.azure.retry), as every other client's.

The blob clients keep azure-storage-blob's own policy (linear, few and short: a dead endpoint fails in
seconds), whose waits and attempts knew no deadline: `data pull --timeout 1s` against a refusing port
took 6.5 s (three 2 s waits), against one that accepts and never answers four minutes (four 60 s reads).
Now a wait that would pass the deadline stops the command (exit 5), and each attempt may wait for its
connection and its answer only for the time left. Imported only when a blob client is built.
"""

from __future__ import annotations

from typing import Any

from azure.storage.blob import LinearRetry

from amlmon.azure.retry import Deadline
from amlmon.redact import redact

# An attempt's connect and read timeouts are cut to the time left, but not below this: a request sent at
# or past the deadline (a long pull's next blob, the service healthy) still gets a moment to answer.
MIN_ATTEMPT_SECONDS = 1.0
_OPTIONS = "amlmon_options"  # the request's options, kept in the retry settings for the next attempts


class BoundedLinearRetry(LinearRetry):
    """LinearRetry whose waits, and each attempt's connect and read timeouts, end by the Deadline."""

    def __init__(self, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = deadline

    def configure_retries(self, request: Any) -> dict[str, Any]:
        """The SDK's settings, and the first attempt's timeouts cut to the time left."""
        settings: dict[str, Any] = super().configure_retries(request)
        settings[_OPTIONS] = request.context.options
        self._cut_timeouts(settings, request.context.transport)
        return settings

    def sleep(self, settings: dict[str, Any], transport: Any) -> None:
        """The wait before the next attempt: Throttled (exit 5) when it would pass the deadline."""
        wait = max(self.get_backoff_time(settings), 0.0)
        self._deadline.allow(wait, _reason(settings))
        if wait:
            transport.sleep(wait)
        self._cut_timeouts(settings, transport)

    def _cut_timeouts(self, settings: dict[str, Any], transport: Any) -> None:
        """The next attempt's connect and read timeouts: at most the time left (the transport's own
        otherwise: the storage SDK's 20 s and 60 s). No deadline: as they were."""
        left = self._deadline.remaining()
        options = settings.get(_OPTIONS)
        if left is None or options is None:
            return
        cap = max(left, MIN_ATTEMPT_SECONDS)
        config = getattr(transport, "connection_config", None)
        for option, default in (("connection_timeout", "timeout"), ("read_timeout", "read_timeout")):
            current = options.get(option, getattr(config, default, None))
            if current is None:
                options[option] = cap
            elif isinstance(current, int | float):  # (a (connect, read) pair given by a caller: as it is)
                options[option] = min(float(current), cap)


def _reason(settings: dict[str, Any]) -> str:
    """What the last attempt got, for the message of a wait refused: an HTTP status, or its error."""
    history = settings.get("history") or []
    last = history[-1] if history else None
    response = getattr(last, "http_response", None)
    if response is not None:
        return f"the storage account answered HTTP {response.status_code}"
    error = getattr(last, "error", None)
    text = str(error).splitlines()[0] if error is not None and str(error) else ""
    return (
        f"the storage account did not answer ({redact(text)})"
        if text
        else "the storage account did not answer"
    )
