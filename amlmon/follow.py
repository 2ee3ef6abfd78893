"""The tail engine of `amlmon traces`: the window read in pages and the follow loop.

Why the tail polls by ingestion time: Application Insights makes an event queryable tens of seconds
to minutes after its own timestamp, and not in timestamp order. A tail that remembers the newest
*event* time it printed (aws logs tail, most `tail -f` clones) skips every event that arrives after
a newer one with an older timestamp. Here the watermark is the newest *ingestion* time seen
(`ingestion_time()`, stamped by the service, so no client clock is involved). Each poll asks again
for everything ingested after `watermark - overlap` — covering records that become visible a little
after their ingestion stamp — and a set of item ids seen inside that overlap drops the repeats.
Ids older than the overlap cannot come back (the query excludes them), so the set stays bounded.

The same engine tails a v2 endpoint's console and event logs: amlmon.queries.traces projects those
tables onto the same TRACE_ROW columns (`_ItemId` the id, `ingestion_time()` the watermark).

Everything here takes a `Fetch` (query text, timespan → answer) and a `FollowClock`, so tests drive
it without a network or real time.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import IO, TYPE_CHECKING, Any

from amlmon.background import Background
from amlmon.errors import AmlmonError
from amlmon.queries.traces import (
    FOLLOW_PAGE_ROWS,
    WINDOW_PAGE_ROWS,
    TraceFilter,
    follow_query,
    latest_query,
    window_query,
)
from amlmon.schema import TRACE_ROW, Source
from amlmon.telemetry import TraceEvent, as_datetime, events_from

if TYPE_CHECKING:
    from amlmon.azure.logs import QueryResult

# ingestion_time() is when a record became queryable; a record can still show up shortly after a
# newer one (parallel ingestion nodes, commit order). One minute of re-reading covers that generously.
DEFAULT_OVERLAP = dt.timedelta(minutes=1)
MIN_REQUEST_SPACING = 0.2  # seconds between requests: 150 per 30 s, under the API's 200 per 30 s
MAX_BACKOFF = 60.0
# With --follow, a row ingested after the follow started is printed whatever its event time (--since
# bounds the backlog, not what arrives later). The query API's timespan bounds event time, so the
# follow's timespan reaches this far back; Azure Monitor does not ingest records older than two days.
LATE_ARRIVAL_LIMIT = dt.timedelta(days=2)

Fetch = Callable[[str, tuple[dt.datetime, dt.datetime]], "QueryResult"]


class TailState:
    """Watermark on ingestion time + the ids seen inside the overlap window.

    `admit` takes every row a poll returned and gives back the ones not printed before, in event-time
    order. Memory is bounded by the rows ingested within `overlap` of the watermark.
    """

    def __init__(self, overlap: dt.timedelta = DEFAULT_OVERLAP) -> None:
        self.overlap = overlap
        self.watermark: dt.datetime | None = None
        self._seen: dict[str, dt.datetime] = {}

    @property
    def lower_bound(self) -> dt.datetime | None:
        """Query for events ingested strictly after this (None: from the start of the window)."""
        return None if self.watermark is None else self.watermark - self.overlap

    @property
    def remembered(self) -> int:
        return len(self._seen)

    def admit(self, events: Sequence[TraceEvent], *, advance: bool = True) -> list[TraceEvent]:
        fresh = []
        for event in events:
            if event.item_id in self._seen:
                continue
            stamp = event.ingested or event.timestamp
            self._seen[event.item_id] = stamp
            fresh.append(event)
        if advance:
            self._advance(events)
        fresh.sort(key=TraceEvent.order)
        return fresh

    def _advance(self, events: Sequence[TraceEvent]) -> None:
        stamps = [e.ingested for e in events if e.ingested is not None]
        if not stamps:
            return
        newest = max(stamps)
        if self.watermark is not None and newest <= self.watermark:
            return
        self.watermark = newest
        bound = newest - self.overlap
        # Ids ingested at or before the bound cannot be returned again: the next query excludes them.
        self._seen = {item: stamp for item, stamp in self._seen.items() if stamp > bound}


def _last_timestamp(answer: QueryResult) -> dt.datetime | None:
    table = answer.primary
    if not table.rows or TRACE_ROW.time not in table.columns:
        return None
    return as_datetime(table.rows[-1][table.columns.index(TRACE_ROW.time)])


@dataclass
class WindowResult:
    events: Iterator[list[TraceEvent]]
    partial: list[str] = field(default_factory=list)  # partial-result errors met on the way


def read_window(
    fetch: Fetch, spec: TraceFilter, source: Source, *, limit: int | None, page: int = WINDOW_PAGE_ROWS
) -> WindowResult:
    """Events of [start, end) oldest first, in pages (printed as they come)."""
    assert spec.end is not None
    timespan = (spec.start, spec.end)
    result = WindowResult(iter(()))

    def latest() -> Iterator[list[TraceEvent]]:
        assert limit is not None
        answer = fetch(latest_query(spec, source, limit), timespan)
        if answer.partial_error:
            result.partial.append(answer.partial_error)
        events = events_from(answer, model_data=spec.model_data)
        events.sort(key=TraceEvent.order)
        yield events

    def pages() -> Iterator[list[TraceEvent]]:
        size, after = page, None
        boundary: set[str] = set()  # ids at `after`, which the next page asks for again
        pending = Background(partial(fetch, window_query(spec, source, after=None, page=size), timespan))
        while True:
            answer = pending.result()
            if answer.partial_error:
                result.partial.append(answer.partial_error)
            rows = answer.primary.rows
            last = _last_timestamp(answer)
            more = len(rows) >= size and not answer.partial_error and last is not None
            if more:
                if last == after:
                    size *= 2  # a whole page shares one timestamp: widen rather than loop
                # Ask for the next page now; the service works on it while this one is printed.
                pending = Background(
                    partial(fetch, window_query(spec, source, after=last, page=size), timespan)
                )
            events = events_from(answer, model_data=spec.model_data)
            yield [e for e in events if e.item_id not in boundary]
            if not more:
                return
            at_last = {e.item_id for e in events if e.timestamp == last}
            boundary = boundary | at_last if last == after else at_last
            after = last

    result.events = latest() if limit is not None else pages()
    return result


class Transient(Exception):
    """A poll failed in a way worth retrying; carries how long the service asked us to wait."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def classify(exc: BaseException) -> Transient | None:
    """Throttling, 5xx, timeouts, resets and one-off 401s are retried; anything else is final."""
    try:
        from azure.core import exceptions as core
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, core.HttpResponseError) and not isinstance(exc, core.ServiceRequestError):
        status = getattr(exc, "status_code", None)
        if status == 429 or status == 408 or status == 401 or (status is not None and status >= 500):
            return Transient(f"HTTP {status}", _retry_after(exc))
        return None
    if isinstance(exc, core.ServiceRequestError | core.ServiceResponseError):
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Transient(f"connection failed ({first[:80]})")
    return None


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class FollowClock:
    """Time and sleep, replaceable in tests of the loop."""

    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class FollowStats:
    polls: int = 0
    requests: int = 0
    failures: int = 0
    printed: int = 0


class Follower:
    """Poll, de-duplicate, hand each new batch to `emit`. Ends at `until` (if given) or on Ctrl-C."""

    def __init__(
        self,
        fetch: Fetch,
        spec: TraceFilter,
        source: Source,
        *,
        interval: float,
        emit: Callable[[list[TraceEvent]], None],
        status: Callable[[str], None],
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        backlog_limit: int | None = None,
        clock: FollowClock | None = None,
        page: int = FOLLOW_PAGE_ROWS,
        first_poll: Callable[[int], None] | None = None,
    ) -> None:
        self.fetch, self.spec, self.source = fetch, spec, source
        self.interval = interval
        self.emit, self.status = emit, status
        self.state = TailState(overlap)
        self.backlog_limit = backlog_limit
        self.clock = clock or FollowClock()
        self.page = page
        self.first_poll = first_poll  # told how many rows the first poll found (an empty start is explained)
        self.stats = FollowStats()
        self._last_request = -1e9
        self.started = self.clock.now()  # rows ingested from now on are printed whatever their time

    def run(self, until: dt.datetime | None = None, max_polls: int | None = None) -> FollowStats:
        first = True
        while True:
            started = self.clock.now()
            batch = self._poll_with_retries()
            if first and self.first_poll is not None:
                self.first_poll(len(batch))
            if first and self.backlog_limit is not None:
                batch = batch[-self.backlog_limit :] if self.backlog_limit else []
            first = False
            if batch:
                self.stats.printed += len(batch)
                self.emit(batch)
            self.stats.polls += 1
            if (until is not None and started >= until) or (
                max_polls is not None and self.stats.polls >= max_polls
            ):
                return self.stats
            pause = self.interval
            if until is not None:
                pause = min(pause, max(0.0, (until - self.clock.now()).total_seconds()))
            self.clock.sleep(pause)

    def _poll_with_retries(self) -> list[TraceEvent]:
        failures = 0
        unauthorized = 0
        while True:
            try:
                batch = self.poll()
            except AmlmonError:
                raise
            except Exception as exc:
                transient = classify(exc)
                if transient is None:
                    raise
                # A 401 is worth one retry with a fresh token (azure-core drops the cached one); a
                # second in a row is a real sign-in problem.
                unauthorized = unauthorized + 1 if transient.reason == "HTTP 401" else 0
                if unauthorized > 1:
                    raise
                self.stats.failures += 1
                failures += 1
                # 1 s for a blip, then doubling (2, 4, 8 … 60 s) while the service stays down.
                backoff = 2.0 ** max(0, failures - 2)
                wait = transient.retry_after if transient.retry_after is not None else backoff
                wait = min(max(wait, MIN_REQUEST_SPACING), MAX_BACKOFF)
                self.status(f"poll failed: {transient.reason}; retrying in {wait:g}s")
                self.clock.sleep(wait)
                continue
            if failures:  # whoever read "poll failed" learns that the gap is closed
                self.status(f"polling recovered after {failures} failed attempt{'s' if failures > 1 else ''}")
            return batch

    def _timespan(self) -> tuple[dt.datetime, dt.datetime]:
        # The query API's timespan bounds event time; late events keep their old timestamps, so the
        # window stays open at the start of --since and a little past now for clock skew.
        end = self.spec.end or (self.clock.now() + dt.timedelta(hours=1))
        return (min(self.spec.start, self.started - LATE_ARRIVAL_LIMIT), end)

    def _space_requests(self) -> None:
        gap = self.clock.monotonic() - self._last_request
        if gap < MIN_REQUEST_SPACING:
            self.clock.sleep(MIN_REQUEST_SPACING - gap)
        self._last_request = self.clock.monotonic()

    def poll(self) -> list[TraceEvent]:
        """One poll: pages until a page is not full. Nothing is admitted until every page succeeded."""
        bound, inclusive, page = self.state.lower_bound, False, self.page
        collected: list[TraceEvent] = []
        complete = True
        while True:
            self._space_requests()
            self.stats.requests += 1
            answer = self.fetch(
                follow_query(
                    self.spec,
                    self.source,
                    ingested_after=bound,
                    inclusive=inclusive,
                    page=page,
                    arrived_from=self.started,
                ),
                self._timespan(),
            )
            events = events_from(answer, model_data=self.spec.model_data)
            collected.extend(events)
            if answer.partial_error:
                self.status(f"partial result, asking again: {answer.partial_error}")
                complete = False
                break
            if len(answer.primary.rows) < page or not events:
                break
            newest = max((e.ingested for e in events if e.ingested is not None), default=None)
            if newest is None:
                break
            if inclusive and bound == newest:
                page *= 2  # a whole page shares one ingestion time: widen rather than loop
                continue
            bound, inclusive = newest, True
        # A partial answer may have left holes below its newest row: keep the watermark where it was.
        return self.state.admit(collected, advance=complete)


def sleep_watching_reader(stream: IO[str]) -> Any:
    """time.sleep, except that it ends with BrokenPipeError as soon as the reader of `stream` (a pipe
    or socket) goes away: `amlmon traces -f | head -2` (and `logs -f`) ends with head even when nothing new arrives,
    instead of at the next write. The write end of a pipe reports POLLERR once the read end is closed."""
    import os
    import select
    import stat
    import time

    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # not a real file (tests capture into StringIO)
        return time.sleep
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) or not hasattr(select, "poll"):
        return time.sleep
    poller = select.poll()
    poller.register(fd, select.POLLERR | select.POLLHUP)

    def sleep(seconds: float) -> None:
        if poller.poll(max(0, int(seconds * 1000))):
            raise BrokenPipeError("the reader of stdout went away")

    return sleep
