"""amlmon/jsonfast.py gives exactly the standard library's results, with orjson or without it; and the
collector's prefetch hands each announced blob over once, in order, within its byte budget."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon import jsonfast
from amlmon.azure.prefetch import YIELDING_NICENESS, Prefetch

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too: orjson refuses them, the standard library's way is taken
    | st.floats()  # NaN, ±Infinity, 1e-05, 1e+16: the forms orjson writes otherwise
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


def _stdlib_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture(params=["orjson", "stdlib"])
def backend(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways: with orjson (when this environment has it) and with the standard library alone."""
    if request.param == "stdlib":
        monkeypatch.setattr(jsonfast, "orjson", None)
    elif jsonfast.orjson is None:
        pytest.skip("orjson is not installed here")
    return str(request.param)


@settings(max_examples=3000, deadline=None)
@given(value=VALUES)
def test_compact_text_is_the_standard_librarys(value: Any) -> None:
    for orjson in {jsonfast.orjson, None}:
        saved, jsonfast.orjson = jsonfast.orjson, orjson
        try:
            assert jsonfast.compact_text(value) == _stdlib_text(value)
        finally:
            jsonfast.orjson = saved


@settings(max_examples=3000, deadline=None)
@given(value=VALUES, pad=st.sampled_from(["", " ", "\t", "\r"]))
def test_loads_line_is_json_loads(value: Any, pad: str) -> None:
    line = (pad + json.dumps(value, ensure_ascii=False) + pad).encode("utf-8", errors="surrogatepass")
    expected = json.loads(line.decode("utf-8", errors="replace"))
    for orjson in {jsonfast.orjson, None}:
        saved, jsonfast.orjson = jsonfast.orjson, orjson
        try:
            got = jsonfast.loads_line(line)
        finally:
            jsonfast.orjson = saved
        # NaN is not equal to itself: compare the texts
        assert _stdlib_text(got) == _stdlib_text(expected)


@pytest.mark.parametrize(
    "line",
    [b"{", b"[1,]", b"\xef\xbb\xbf{}", b"Inf", b'{"a":01}', b"{} {}", b"\x0b{}"],
)
def test_loads_line_refuses_what_json_loads_refuses(line: bytes, backend: str) -> None:
    with pytest.raises(ValueError):
        json.loads(line.decode("utf-8", errors="replace"))
    with pytest.raises(ValueError):
        jsonfast.loads_line(line)


def test_loads_line_reads_bytes_that_are_not_utf8_as_json_loads_did(backend: str) -> None:
    assert jsonfast.loads_line(b'{"a":"\xff"}') == {"a": "\ufffd"}
    # orjson reads integers past 64 bits as floats: such lines are read by the standard library
    assert jsonfast.loads_line(b"[-9223372036854775809,18446744073709551616]") == [-(2**63) - 1, 2**64]
    assert jsonfast.loads_line(b'{"a":NaN,"b":1e400,"c":123456789012345678901234567890}') == {
        "a": pytest.approx(float("nan"), nan_ok=True),
        "b": float("inf"),
        "c": 123456789012345678901234567890,
    }


def test_prefetch_hands_over_each_blob_in_order_within_its_budget() -> None:
    sizes = {"a": 40, "b": 40, "c": 40, "big": 500, "d": 10}
    lock = threading.Lock()
    held: list[int] = []
    started: list[str] = []

    def download(name: str) -> bytes:
        with lock:
            started.append(name)
        return name.encode() * sizes[name]

    prefetch = Prefetch(download, budget=100, workers=2)
    try:
        prefetch.plan(sizes.items())
        held.append(prefetch._held)
        assert prefetch.take("a") == b"a" * 40
        assert prefetch.take("b") == b"b" * 40
        assert prefetch.take("big") is None  # over the budget: the reader streams it itself
        assert prefetch.take("c") == b"c" * 40
        assert prefetch.take("d") == b"d" * 10
        assert prefetch.take("a") is None  # taken once
    finally:
        prefetch.close()
    assert held == [80]  # a and b fit in 100 bytes, c waited for a to be taken
    assert "big" not in started and sorted(started) == ["a", "b", "c", "d"]


def test_prefetch_drops_what_the_reader_skipped_and_passes_on_errors() -> None:
    def download(name: str) -> bytes:
        if name == "gone":
            raise LookupError(name)
        return name.encode()

    prefetch = Prefetch(download, budget=10, workers=1)
    try:
        prefetch.plan([("x", 1), ("y", 1), ("gone", 1), ("z", 1)])
        assert prefetch.take("y") == b"y"  # x was skipped: dropped, its bytes freed
        assert prefetch._held <= 2
        with pytest.raises(LookupError):
            prefetch.take("gone")
        assert prefetch.take("z") == b"z"
    finally:
        prefetch.close()


def test_a_lone_surrogate_escape_becomes_the_replacement_character_a_pair_its_character() -> None:
    from amlmon.jsonfast import loads_line

    assert loads_line(b'{"\\udc00": ["a\\ud800b"]}') == {"\ufffd": ["a\ufffdb"]}
    assert loads_line(b'"\\ud83d\\ude00"') == "\U0001f600"  # a pair is one character: kept
    assert loads_line(b'"\\\\ud800"') == "\\ud800"  # an escaped backslash, then text: kept as it is


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own priority is Linux's")
@pytest.mark.parametrize("yielding", [True, False])  # False: the control
def test_yielding_downloads_run_at_a_lower_priority_than_the_reader(yielding: bool) -> None:
    """The collector pull's staged downloads give way to the DuckDB join they feed (its critical path)."""
    import os

    def download(name: str) -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    reader = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    prefetch = Prefetch(download, budget=10, workers=2, yielding=yielding)
    try:
        prefetch.plan([("x", 1), ("y", 1)])
        seen = {prefetch.take("x"), prefetch.take("y")}
    finally:
        prefetch.close()
    assert seen == ({min(reader + YIELDING_NICENESS, 19)} if yielding else {reader})
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == reader
