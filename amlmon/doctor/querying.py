"""Running doctor's summarizing queries: started early, answered later, a bounded number at once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from amlmon.errors import AmlmonError

MAX_CONCURRENT_QUERIES = 5  # the Log Analytics query API runs at most 5 queries of a user at once

Answer = tuple[list[dict[str, Any]] | None, str | None]  # (rows, None) or (None, why it could not run)


class QueryPool:
    """Queries started now, answered later; at most MAX_CONCURRENT_QUERIES run at once."""

    def __init__(self, query: Callable[[str, dt.timedelta], list[dict[str, Any]]], window: dt.timedelta):
        from amlmon.background import Background

        self._query, self._window = query, window
        self._gate = threading.BoundedSemaphore(MAX_CONCURRENT_QUERIES)
        self._background = Background

    def start(self, text: str) -> Any:
        return self.start_on(self._query, text)

    def start_on(self, query: Callable[[str, dt.timedelta], list[dict[str, Any]]], text: str) -> Any:
        """`text` through another route (Log Analytics), under the same limit: it is per user."""

        def work() -> list[dict[str, Any]]:
            with self._gate:
                return query(text, self._window)

        return self._background(work)


def answer(pending: Any) -> Answer:
    """(rows, None) or (None, why the query could not run). Authentication and throttling end the run
    with their usual exit codes (every other check would fail the same way); anything else is a skip."""
    from amlmon.errors import AuthError, Throttled

    try:
        return pending.result(), None
    except (AuthError, Throttled):
        raise
    except AmlmonError as exc:
        return None, exc.message
    except Exception as exc:  # a check that cannot run is a skip with its reason, never a crash
        from amlmon.redact import redact

        translated = _translated(exc)
        if isinstance(translated, AuthError | Throttled):
            raise translated from None
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, redact(text)


def _translated(exc: Exception) -> AmlmonError | None:
    import sys

    if "azure.core" not in sys.modules:
        return None
    from amlmon.azure.errors import translate

    return translate(exc)
