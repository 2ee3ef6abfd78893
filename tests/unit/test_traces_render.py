"""Rendering of traces (every --format) and the query command's pure parts: time ranges and the caret
excerpt under a rejected query's position."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.azure.log_answers import with_excerpt
from amlmon.errors import RejectedQuery, UsageError
from amlmon.render.traces import TracePrinter
from amlmon.telemetry import ModelDataRecord, TraceEvent
from amlmon.timeparse import iso_utc, parse_timespan

T0 = dt.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=dt.UTC)


def _event(
    message: str, target: str = "churn", severity: int = 1, model: ModelDataRecord | None = None
) -> TraceEvent:
    return TraceEvent(
        timestamp=T0,
        ingested=T0 + dt.timedelta(seconds=30),
        item_id="id-1",
        message=message,
        severity_level=severity,
        target=target,
        instance="host",
        operation_id=None,
        properties={"k": "v"},
        model_data=model,
    )


def _render(style: str, events: list[TraceEvent], *, color: bool = False, jmespath: str | None = None) -> str:
    stream = io.StringIO()
    printer = TracePrinter(style, stream, color=color, jmespath=jmespath)
    printer.width = 80
    printer.print_batch(events)
    printer.finish()
    return stream.getvalue()


def test_iso_is_utc_with_milliseconds_and_z() -> None:
    assert iso_utc(T0, "milliseconds") == "2026-11-25T10:00:00.123Z"
    assert (
        iso_utc(T0.astimezone(dt.timezone(dt.timedelta(hours=2))), "milliseconds")
        == "2026-11-25T10:00:00.123Z"
    )


def test_pretty_aligns_targets_indents_continuations_and_colours_only_when_asked() -> None:
    events = [_event("one"), _event("two\nthree", target="credit/blue", severity=3)]
    text = _render("pretty", events)
    first, second, third = text.splitlines()
    assert first == "2026-11-25T10:00:00.123Z churn       INFO one"
    assert second == "2026-11-25T10:00:00.123Z credit/blue ERRO two"
    assert third == " " * 42 + "three"
    assert "\x1b[" not in text
    colored = _render("pretty", events, color=True)
    assert "\x1b[31mERRO\x1b[0m" in colored


def test_model_data_pretty_fits_the_width_and_marks_truncation() -> None:
    record = ModelDataRecord(
        request_id="0123456789abcdef", input={"data": [list(range(40))]}, prediction=[0.5]
    )
    line = _render("pretty", [_event("model_data_collection", model=record)]).rstrip("\n")
    assert line.startswith('2026-11-25T10:00:00.123Z churn req=01234567 in={"data":[[0,1,')
    assert "…" in line and "→ out=" in line and len(line) <= 80
    cut = ModelDataRecord(request_id="r", truncated=True, raw="{'Input': 'xx")
    assert "cut by App Insights at 8192 characters" in _render("pretty", [_event("m", model=cut)])
    assert _render("raw", [_event("m", model=cut)]) == "{'Input': 'xx\n"


def test_jsonl_tsv_raw_short_and_json() -> None:
    events = [_event("a\tb\nc")]
    (record,) = [json.loads(line) for line in _render("jsonl", events).splitlines()]
    assert record == {
        "timestamp": "2026-11-25T10:00:00.123Z",
        "ingested": "2026-11-25T10:00:30.123Z",
        "target": "churn",
        "severity": "info",
        "message": "a\tb\nc",
        "instance": "host",
        "operationId": None,
        "itemId": "id-1",
        "properties": {"k": "v"},
    }
    assert (
        _render("tsv", events) == "2026-11-25T10:00:00.123Z\tchurn\tinfo\ta\\tb\\nc\n"
    )  # escaped as every -o tsv
    assert _render("raw", events) == "a\tb\nc\n"
    assert _render("short", events) == "10:00:00 churn a\tb\nc\n"
    assert json.loads(_render("json", events))[0]["message"] == "a\tb\nc"
    assert _render("jsonl", events, jmespath="message") == '"a\\tb\\nc"\n'
    assert _render("none", events) == ""


def test_model_data_raw_is_one_request_body_per_line() -> None:
    record = ModelDataRecord(request_id="r", input={"data": [[1, 2]]}, prediction=[1])
    assert _render("raw", [_event("m", model=record)]) == '{"data":[[1,2]]}\n'


# ---------------------------------------------------------------------------------------------------
# query: time ranges and the error excerpt
# ---------------------------------------------------------------------------------------------------
def test_timespan_forms() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    start, end = parse_timespan("PT1H", now=now)
    assert (start, end) == (now - dt.timedelta(hours=1), now)
    start, end = parse_timespan("2026-11-25T08:00:00Z/2026-11-25T09:30:00Z", now=now)
    assert (end - start) == dt.timedelta(minutes=90)
    start, end = parse_timespan("2026-11-25T08:00:00Z/PT2H", now=now)
    assert end == dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    start, end = parse_timespan("P1D/2026-11-25T08:00:00Z", now=now)
    assert start == dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
    with pytest.raises(UsageError):
        parse_timespan("2026-11-25T09:00:00Z/2026-11-25T08:00:00Z", now=now)
    with pytest.raises(UsageError):
        parse_timespan("soon", now=now)


def test_excerpt_puts_the_caret_under_the_position() -> None:
    error = RejectedQuery("the query was rejected: SYN0002: x (line 2, position 2)", "fix", line=2, pos=2)
    excerpt = with_excerpt(error, "traces\n| wherex 1\n")
    lines = str(excerpt).splitlines()
    assert lines[1:] == ["  | wherex 1", "    ^"]


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), line=st.integers(-2, 12), pos=st.integers(-5, 400))
def test_excerpt_never_fails_and_the_caret_points_into_the_shown_line(text: str, line: int, pos: int) -> None:
    error = RejectedQuery("rejected", None, line=line, pos=pos)
    lines = str(with_excerpt(error, text)).splitlines()
    assert lines[0] == "rejected"
    if len(lines) > 1:
        shown, caret = lines[-2], lines[-1]
        assert caret.strip() == "^" and caret.index("^") <= len(shown)


def test_a_cut_record_names_what_was_cut_and_shows_what_survived() -> None:
    cut_input = ModelDataRecord(
        request_id="r-14", truncated=True, generation="1.4", cut=["Input"], prediction=[0.25]
    )
    line = _render("pretty", [_event("model_data_collection", model=cut_input)])
    assert "[Input cut by App Insights at 8192 characters] → out=[0.25]" in line
    cut_15 = ModelDataRecord(request_id="r-15", truncated=True, service="svc", cut=["Input", "Prediction"])
    line = _render("pretty", [_event("model_data_collection", model=cut_15)])
    assert "[Input and Prediction cut by App Insights at 8192 characters]" in line
    data = json.loads(_render("jsonl", [_event("model_data_collection", model=cut_15)]))
    assert data["modelData"]["cut"] == ["Input", "Prediction"]


# --- issue 14.12: the query answer read as it arrives ------------------------------------------------
_CELL = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(
    tables=st.lists(st.lists(st.lists(_CELL, min_size=2, max_size=2), max_size=5), min_size=1, max_size=3),
    error=st.none() | st.just({"code": "PartialError", "details": [{"innererror": {"message": "cut é"}}]}),
    chunk=st.integers(min_value=1, max_value=64),
    indent=st.sampled_from([None, 1]),
)
def test_the_streamed_answer_reads_every_row_whatever_the_chunks(
    tables: list[list[list[object]]], error: object, chunk: int, indent: int | None
) -> None:
    from amlmon.azure.logs import _AnswerReader

    columns = [{"name": "a", "type": "dynamic"}, {"name": "b", "type": "string"}]
    body: dict[str, object] = {
        "tables": [{"name": f"T{i}", "columns": columns, "rows": rows} for i, rows in enumerate(tables)]
    }
    if error is not None:
        body["error"] = error
    raw = json.dumps(body, ensure_ascii=False, indent=indent).encode()
    events = list(_AnswerReader(raw[i : i + chunk] for i in range(0, len(raw), chunk)).events())
    expected: list[tuple[str, object]] = []
    for i, rows in enumerate(tables):
        expected.append(("table", f"T{i}"))
        expected.extend(("row", row) for row in rows)
    if error is not None:
        expected.append(("error", error))
    assert [(kind, value.name if kind == "table" else value) for kind, value in events] == expected
