"""The tail engine against a simulated query service where events become visible late and out of order.

The simulator answers the follow queries the way the real service does — only rows already visible,
filtered on `ingestion_time()` and the timespan, ordered by ingestion time, cut at `take N` — so the
engine's watermark, overlap, de-duplication and paging are exercised without a network. A naive tail
(watermark on the newest *event* time, like aws logs tail) runs against the same data to show the
scenario really loses events for the usual approach (so these tests can fail).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceResponseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlmon import telemetry, traces
from amlmon.azure.logs import QueryResult, Table
from amlmon.errors import UsageError
from amlmon.follow import FOLLOW_PAGE_ROWS, MIN_REQUEST_SPACING, FollowClock, Follower, TailState, read_window
from amlmon.queries import traces as trace_queries
from amlmon.schema import TRACE_ROW
from amlmon.targets import Target

T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
SPEC = traces.TraceFilter(start=T0 - dt.timedelta(hours=1))


@dataclass
class SimEvent:
    item_id: str
    timestamp: dt.datetime
    ingested: dt.datetime  # what ingestion_time() says
    visible: dt.datetime  # when a query first sees it (>= ingested)


@dataclass
class SimClock:
    now_value: dt.datetime = T0

    def now(self) -> dt.datetime:
        return self.now_value

    def sleep(self, seconds: float) -> None:
        self.now_value += dt.timedelta(seconds=seconds)

    def monotonic(self) -> float:
        return (self.now_value - T0).total_seconds()

    def follow_clock(self) -> FollowClock:
        return FollowClock(now=self.now, sleep=self.sleep, monotonic=self.monotonic)


_BOUND = re.compile(r"^\| where ingestion_time\(\) (>=|>) datetime\(([^)]+)Z\)", re.MULTILINE)
# The event-time filter, and the follow's "or ingested since the follow started" (late arrivals).
_EVENT_TIME = re.compile(
    r"^\| where timestamp >= datetime\(([^)]+)Z\)(?: or ingestion_time\(\) >= datetime\(([^)]+)Z\))?",
    re.MULTILINE,
)
_TAKE = re.compile(r"\| take (\d+)")


def _kql_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@dataclass
class SimService:
    events: list[SimEvent]
    clock: SimClock
    fail_requests: set[int] = field(default_factory=set)  # request numbers answered with a 503 / reset
    shuffle_ties: random.Random = field(default_factory=lambda: random.Random(3))
    requests: int = 0
    queries: list[str] = field(default_factory=list)

    def fetch(self, query: str, timespan: tuple[dt.datetime, dt.datetime]) -> QueryResult:
        self.requests += 1
        self.queries.append(query)
        if self.requests in self.fail_requests:
            if self.requests % 2:
                raise ServiceResponseError("Connection reset by peer")
            error = HttpResponseError(message="Service Unavailable")
            error.status_code = 503
            raise error
        now = self.clock.now()
        bound = _BOUND.search(query)
        take_match = _TAKE.search(query)
        assert take_match is not None
        take = int(take_match.group(1))
        rows = [e for e in self.events if e.visible <= now and timespan[0] <= e.timestamp < timespan[1]]
        event_time = _EVENT_TIME.search(query)
        assert event_time is not None
        since = _kql_time(event_time.group(1))
        arrived = _kql_time(event_time.group(2)) if event_time.group(2) else None
        rows = [e for e in rows if e.timestamp >= since or (arrived is not None and e.ingested >= arrived)]
        if bound:
            limit = _kql_time(bound.group(2))
            rows = [
                e for e in rows if (e.ingested >= limit if bound.group(1) == ">=" else e.ingested > limit)
            ]
        self.shuffle_ties.shuffle(rows)  # ties in ingestion time come back in no particular order
        rows.sort(key=lambda e: e.ingested)
        return _result(rows[:take])


def _result(events: list[SimEvent]) -> QueryResult:
    rows = [
        [e.timestamp, e.ingested, e.item_id, f"message {e.item_id}", 1, "svc", "host", "op", "{}"]
        for e in events
    ]
    return QueryResult([Table("PrimaryResult", list(TRACE_ROW.columns()), [""] * 9, rows)])


def follow(
    service: SimService,
    until: dt.datetime,
    *,
    interval: float = 5.0,
    overlap: dt.timedelta = dt.timedelta(seconds=30),
    page: int = FOLLOW_PAGE_ROWS,
) -> tuple[list[str], Follower]:
    printed: list[str] = []
    follower = Follower(
        service.fetch,
        SPEC,
        "app-insights",
        interval=interval,
        emit=lambda batch: printed.extend(e.item_id for e in batch),
        status=lambda text: None,
        overlap=overlap,
        clock=service.clock.follow_clock(),
        page=page,
    )
    follower.run(until=until)
    return printed, follower


def naive_follow(events: list[SimEvent], until: dt.datetime, interval: float = 5.0) -> list[str]:
    """The usual tail: ask for events newer than the newest event time printed so far."""
    now, newest, printed = T0, None, []
    while now <= until:
        visible = [e for e in events if e.visible <= now and (newest is None or e.timestamp > newest)]
        visible.sort(key=lambda e: e.timestamp)
        printed += [e.item_id for e in visible]
        if visible:
            newest = visible[-1].timestamp
        now += dt.timedelta(seconds=interval)
    return printed


def late_events(count: int, seed: int, max_late: float = 120.0, visibility: float = 20.0) -> list[SimEvent]:
    """Events over ten minutes, each ingested up to `max_late` seconds after its timestamp."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        timestamp = T0 + dt.timedelta(seconds=rng.uniform(0, 600))
        ingested = timestamp + dt.timedelta(seconds=int(rng.uniform(0, max_late)))  # whole seconds: many ties
        visible = ingested + dt.timedelta(seconds=rng.uniform(0, visibility))
        events.append(SimEvent(f"id-{n:05d}", timestamp, ingested, visible))
    return events


END = T0 + dt.timedelta(minutes=15)


# ---------------------------------------------------------------------------------------------------
# The main property: nothing missing, nothing twice
# ---------------------------------------------------------------------------------------------------
def test_ten_thousand_late_out_of_order_events_each_printed_once_where_a_naive_tail_loses_some() -> None:
    events = late_events(10_000, seed=11)
    printed, follower = follow(SimService(events, SimClock()), END)
    assert len(printed) == len(set(printed)), "an event was printed twice"
    assert set(printed) == {e.item_id for e in events}, "an event was never printed"
    missed = {e.item_id for e in events} - set(naive_follow(events, END))
    assert len(missed) > 100, "the scenario must defeat a tail that polls by event time"
    # Memory stays bounded by the overlap, not by the number of events followed.
    assert follower.state.remembered < 1500


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=st.lists(
        st.tuples(
            st.integers(0, 300),  # event time offset (s)
            st.integers(0, 180),  # ingestion lag (s)
            st.floats(0, 30),  # extra time before a query sees it (<= overlap)
        ),
        max_size=60,
    ),
    page=st.integers(1, 8),
    interval=st.sampled_from([0.5, 2.0, 5.0, 17.0]),
    failures=st.sets(st.integers(1, 40), max_size=8),
)
def test_any_arrival_pattern_paging_and_failures_print_each_event_exactly_once(
    spec: list[tuple[int, int, float]], page: int, interval: float, failures: set[int]
) -> None:
    events = [
        SimEvent(
            f"e{n}",
            T0 + dt.timedelta(seconds=t),
            T0 + dt.timedelta(seconds=t + lag),
            T0 + dt.timedelta(seconds=t + lag + vis),
        )
        for n, (t, lag, vis) in enumerate(spec)
    ]
    service = SimService(events, SimClock(), fail_requests=failures)
    printed, _ = follow(service, T0 + dt.timedelta(seconds=600), interval=interval, page=page)
    assert sorted(printed) == sorted(e.item_id for e in events)


def test_each_poll_prints_in_event_time_order() -> None:
    events = late_events(500, seed=5)
    batches: list[list[telemetry.TraceEvent]] = []
    service = SimService(events, SimClock())
    follower = Follower(
        service.fetch,
        SPEC,
        "app-insights",
        interval=5,
        emit=batches.append,
        status=lambda text: None,
        clock=service.clock.follow_clock(),
    )
    follower.run(until=END)
    assert sum(len(b) for b in batches) == 500
    for batch in batches:
        assert [e.timestamp for e in batch] == sorted(e.timestamp for e in batch)


def test_rows_visible_later_than_the_overlap_allows_are_the_documented_limit() -> None:
    """Visibility lag beyond the overlap can lose an event: the overlap is what buys safety."""
    early = SimEvent("early", T0, T0 + dt.timedelta(seconds=1), T0 + dt.timedelta(seconds=200))
    later = SimEvent("later", T0, T0 + dt.timedelta(seconds=100), T0 + dt.timedelta(seconds=100))
    events = [early, later]
    lost, _ = follow(SimService(events, SimClock()), END, overlap=dt.timedelta(seconds=30))
    assert "early" not in lost
    kept, _ = follow(SimService(events, SimClock()), END, overlap=dt.timedelta(seconds=300))
    assert sorted(kept) == ["early", "later"]


# ---------------------------------------------------------------------------------------------------
# Queries the engine sends
# ---------------------------------------------------------------------------------------------------
def test_later_polls_ask_by_ingestion_time_minus_the_overlap() -> None:
    events = late_events(50, seed=2)
    service = SimService(events, SimClock(dt.datetime(2026, 11, 25, 10, 20, tzinfo=dt.UTC)))
    printed, follower = follow(service, service.clock.now_value + dt.timedelta(seconds=10))
    assert "where ingestion_time()" not in service.queries[0]
    newest = max(e.ingested for e in events)
    expected = newest - dt.timedelta(seconds=30)
    assert f"ingestion_time() > datetime({expected.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z)" in service.queries[-1]
    assert "order by ingested asc" in service.queries[-1]
    assert len(printed) == 50 and follower.state.watermark == newest


def test_requests_are_spaced_to_stay_under_the_api_limit() -> None:
    events = late_events(200, seed=4, max_late=0, visibility=0)
    clock = SimClock(END)
    service = SimService(events, clock)
    stamps: list[float] = []
    original = service.fetch

    def timed(query: str, timespan: Any) -> QueryResult:
        stamps.append(clock.monotonic())
        return original(query, timespan)

    follower = Follower(
        timed,
        SPEC,
        "app-insights",
        interval=0.2,
        emit=lambda b: None,
        status=lambda t: None,
        clock=clock.follow_clock(),
        page=2,  # 100 back-to-back catch-up pages
    )
    follower.run(max_polls=3)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) > 100 and min(gaps) >= MIN_REQUEST_SPACING - 1e-9
    assert max(sum(1 for s in stamps if start <= s < start + 30) for start in stamps) <= 200


def test_a_throttled_poll_waits_as_long_as_retry_after_says() -> None:
    clock = SimClock()
    service = SimService(late_events(5, seed=1, max_late=0, visibility=0), SimClock(END))
    statuses: list[str] = []
    calls = {"n": 0}

    def throttled(query: str, timespan: Any) -> QueryResult:
        calls["n"] += 1
        if calls["n"] == 1:
            error = HttpResponseError(message="Too Many Requests")
            error.status_code = 429
            error.response = type("R", (), {"headers": {"Retry-After": "7"}})()
            raise error
        return service.fetch(query, timespan)

    follower = Follower(
        throttled,
        SPEC,
        "app-insights",
        interval=1,
        emit=lambda b: None,
        status=statuses.append,
        clock=clock.follow_clock(),
    )
    follower.run(max_polls=1)
    assert statuses == ["poll failed: HTTP 429; retrying in 7s", "polling recovered after 1 failed attempt"]
    assert clock.monotonic() >= 7
    assert follower.stats.printed == 5


def test_a_rejected_query_is_not_retried() -> None:
    def broken(query: str, timespan: Any) -> QueryResult:
        error = HttpResponseError(message="Forbidden")
        error.status_code = 403
        raise error

    follower = Follower(
        broken,
        SPEC,
        "app-insights",
        interval=1,
        emit=lambda b: None,
        status=lambda t: None,
        clock=SimClock().follow_clock(),
    )
    with pytest.raises(HttpResponseError):
        follower.run(max_polls=5)


def test_a_second_401_in_a_row_is_a_sign_in_problem_not_a_blip() -> None:
    calls = {"n": 0}

    def unauthorized(query: str, timespan: Any) -> QueryResult:
        calls["n"] += 1
        error = HttpResponseError(message="Unauthorized")
        error.status_code = 401
        raise error

    follower = Follower(
        unauthorized,
        SPEC,
        "app-insights",
        interval=1,
        emit=lambda b: None,
        status=lambda t: None,
        clock=SimClock().follow_clock(),
    )
    with pytest.raises(HttpResponseError):
        follower.run(max_polls=1)
    assert calls["n"] == 2


def test_partial_answers_keep_the_watermark_so_nothing_below_is_skipped() -> None:
    state = TailState(dt.timedelta(seconds=10))
    first = _events([("a", 0, 5), ("b", 1, 50)])
    assert [e.item_id for e in state.admit(first, advance=False)] == ["a", "b"]
    assert state.watermark is None
    assert [e.item_id for e in state.admit(_events([("a", 0, 5), ("b", 1, 50), ("c", 2, 20)]))] == ["c"]
    assert state.watermark == T0 + dt.timedelta(seconds=50)
    assert state.remembered == 1  # only b is within 10 s of the watermark


def _events(spec: list[tuple[str, int, int]]) -> list[telemetry.TraceEvent]:
    return [
        telemetry.TraceEvent(
            timestamp=T0 + dt.timedelta(seconds=t),
            ingested=T0 + dt.timedelta(seconds=i),
            item_id=name,
            message=name,
            severity_level=1,
            target="svc",
            instance=None,
            operation_id=None,
        )
        for name, t, i in spec
    ]


# ---------------------------------------------------------------------------------------------------
# KQL building and row shaping
# ---------------------------------------------------------------------------------------------------
def test_window_query_has_every_filter_and_the_workspace_schema_projects_the_same_columns() -> None:
    spec = traces.TraceFilter(
        start=T0,
        end=T0 + dt.timedelta(hours=1),
        targets=(Target("churn"), Target("ep", "blue")),
        message='say "hi"',
        grep="time(out)?",
        min_severity=2,
    )
    classic = trace_queries.window_query(spec, "app-insights")
    workspace = trace_queries.window_query(spec, "log-analytics")
    assert classic.startswith("traces\n") and workspace.startswith("AppTraces\n")
    assert (
        'message contains_cs "say \\"hi\\""' in classic and 'Message contains_cs "say \\"hi\\""' in workspace
    )
    assert 'matches regex "time(out)?"' in classic
    assert "toint(severityLevel) >= 2" in classic and "toint(SeverityLevel) >= 2" in workspace
    assert 'message != "model_data_collection"' in classic
    # a v2 deployment: the role / Service Name against its deployment and endpoint names (no invented field)
    assert 'AppRoleName in ("blue", "ep")' in workspace and "Deployment Name" not in workspace
    # 1.4.x print lines: through the hosts that served the target's requests or model data
    assert "AppRoleInstance in (union (AppRequests" in workspace
    assert "project timestamp = TimeGenerated, ingested = ingestion_time(), itemId = _ItemId" in workspace


def test_model_data_rows_of_both_generations_decode_and_name_their_target() -> None:
    packed = (
        "{'Container Id': 'c1', 'Request Id': 'r-15', 'Client Request Id': '', 'Workspace Name': 'ws', "
        "'Service Name': 'churn', 'Models': ('churn:1',), 'Input': '\"{\\\\\"data\\\\\": [[1, 2]]}\"', "
        "'Prediction': '[0.25]'}"
    )
    rows = [
        [
            T0,
            T0,
            "i15",
            "model_data_collection",
            "1",
            "churn",
            "h",
            "0",
            '{"custom_dimensions": ' + _js(packed) + "}",
        ],
        [
            T0,
            T0,
            "i14",
            "model_data_collection",
            1,
            "azmlinfsrv",
            "h",
            "0",
            '{"Service Name": "old-svc", "Request Id": "r-14", "Input": "{\\"data\\": [[3]]}", "Prediction": "[1]"}',
        ],
        [
            T0,
            T0,
            "i2",
            "model_data_collection",
            1,
            "blue",
            "h",
            "0",
            "{\"custom_dimensions\": \"{'Request Id': 'r-2', 'Input': '\\\\\"{}\\\\\"'\"}",
        ],
    ]
    result = QueryResult([Table("PrimaryResult", list(TRACE_ROW.columns()), [""] * 9, rows)])
    new, old, v2 = telemetry.events_from(result, model_data=True)
    assert new.model_data is not None and new.model_data.input == {"data": [[1, 2]]}
    assert (
        new.model_data.prediction == [0.25] and new.target == "churn" and new.model_data.generation == "1.5"
    )
    assert old.model_data is not None and old.model_data.input == {"data": [[3]]} and old.target == "old-svc"
    assert v2.target == "blue"  # a v2 server's role (SERVICE_NAME) when no target labelled the row
    assert new.to_dict()["modelData"]["requestId"] == "r-15"


def _js(text: str) -> str:
    import json

    return json.dumps(text)


def test_a_record_cut_at_8192_characters_is_marked_truncated() -> None:
    packed = "{'Request Id': 'r-big', 'Input': '" + "x" * 9000
    packed = packed[:8192]
    rows = [
        [
            T0,
            T0,
            "i",
            "model_data_collection",
            1,
            "svc",
            "h",
            "0",
            '{"custom_dimensions": ' + _js(packed) + "}",
        ]
    ]
    result = QueryResult([Table("PrimaryResult", list(TRACE_ROW.columns()), [""] * 9, rows)])
    (event,) = telemetry.events_from(result, model_data=True)
    data = event.to_dict()["modelData"]
    assert data["truncated"] is True and data["requestId"] == "r-big" and data["input"] is None


@pytest.mark.parametrize(
    ("text", "level"), [("info", 1), ("WARNING", 2), ("warn", 2), ("error", 3), ("0", 0)]
)
def test_severity_names(text: str, level: int) -> None:
    assert traces.parse_severity(text) == level


@pytest.mark.parametrize("text", ["loud", "7", ""])
def test_unknown_severity_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        traces.parse_severity(text)


def test_bad_regex_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a regular expression"):
        traces.check_regex("(unclosed")


# ---------------------------------------------------------------------------------------------------
# Reading a window in pages
# ---------------------------------------------------------------------------------------------------
_AFTER = re.compile(r"timestamp >= datetime\(([^)]+)Z\)")


def _window_service(events: list[SimEvent], seed: int) -> Any:
    rng = random.Random(seed)

    def fetch(query: str, timespan: tuple[dt.datetime, dt.datetime]) -> QueryResult:
        lower = max(_kql_time(m) for m in _AFTER.findall(query))
        take_match = _TAKE.search(query)
        assert take_match is not None
        rows = [e for e in events if e.timestamp >= lower and timespan[0] <= e.timestamp < timespan[1]]
        rng.shuffle(rows)  # ties in timestamp come back in no particular order
        rows.sort(key=lambda e: e.timestamp)
        return _result(rows[: int(take_match.group(1))])

    return fetch


@settings(max_examples=100, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 20), max_size=80),  # few distinct timestamps: many ties
    page=st.integers(1, 7),
    seed=st.integers(0, 1000),
)
def test_window_pages_give_each_event_once_in_time_order(offsets: list[int], page: int, seed: int) -> None:
    events = [
        SimEvent(f"w{n}", T0 + dt.timedelta(seconds=o), T0 + dt.timedelta(seconds=o), T0)
        for n, o in enumerate(offsets)
    ]
    spec = traces.TraceFilter(start=T0, end=T0 + dt.timedelta(minutes=1))
    window = read_window(_window_service(events, seed), spec, "app-insights", limit=None, page=page)
    printed = [e for batch in window.events for e in batch]
    assert sorted(e.item_id for e in printed) == sorted(e.item_id for e in events)
    assert [e.timestamp for e in printed] == sorted(e.timestamp for e in printed)


def test_limit_gives_the_newest_events_oldest_first() -> None:
    events = late_events(100, seed=8)
    spec = traces.TraceFilter(start=T0 - dt.timedelta(hours=1), end=T0 + dt.timedelta(hours=1))
    seen: list[str] = []

    def fetch(query: str, timespan: Any) -> QueryResult:
        seen.append(query)
        newest = sorted(events, key=lambda e: e.timestamp, reverse=True)[:5]
        return _result(newest)

    window = read_window(fetch, spec, "app-insights", limit=5)
    (batch,) = list(window.events)
    assert "| top 5 by timestamp desc" in seen[0]
    assert [e.timestamp for e in batch] == sorted(e.timestamp for e in events)[-5:]


def test_rows_ingested_during_the_follow_are_printed_whatever_their_event_time() -> None:
    """Issue 12.8: --since bounds the backlog (event time), not what arrives later: a row stamped before
    the start of --since but ingested while the follow runs is printed; one ingested before is not."""
    before_since = SPEC.start - dt.timedelta(minutes=25)
    backlog = [
        SimEvent(f"old-{n}", before_since, T0 - dt.timedelta(minutes=5), T0 - dt.timedelta(minutes=5))
        for n in range(20)
    ]
    late = [
        SimEvent(
            f"late-{n:03d}",
            before_since + dt.timedelta(seconds=n),
            T0 + dt.timedelta(seconds=30 + n),
            T0 + dt.timedelta(seconds=35 + n),
        )
        for n in range(100)
    ]
    fresh = [
        SimEvent(
            "fresh", T0 + dt.timedelta(seconds=5), T0 + dt.timedelta(seconds=6), T0 + dt.timedelta(seconds=7)
        )
    ]
    printed, _ = follow(SimService(backlog + late + fresh, SimClock()), T0 + dt.timedelta(minutes=5))
    assert sorted(printed) == sorted(e.item_id for e in late + fresh)
