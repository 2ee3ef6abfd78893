"""The collector fast path's byte screen (collector_fast.plain_bytes) flags exactly the ranges holding a
carriage return or a trailing comma, however its cheaper first look is done."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.collector_fast import plain_bytes

_PIECES = st.sampled_from(
    [b",", b"]", b"}", b" ", b"\t", b"\r", b"\n", b"x", b'"a"', b"{", b"[", b",,", b", ]"]
)


def _plain(content: bytes) -> bool:
    """The definition: no carriage return, no comma followed by blanks and a closing bracket."""
    return b"\r" not in content and re.search(rb",[ \t]*[}\]]", content) is None


@settings(max_examples=5000, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=40), cut=st.tuples(st.integers(0, 60), st.integers(0, 60)))
def test_the_screen_is_its_definition_on_any_range(pieces: list[bytes], cut: tuple[int, int]) -> None:
    content = b"".join(pieces)
    start, end = min(cut[0], len(content)), min(max(cut), len(content))
    assert plain_bytes(content, start, end) == _plain(content[start:end])
    assert plain_bytes(content) == _plain(content)


def test_a_compact_record_is_plain_and_its_spaced_twin_with_a_trailing_comma_is_not() -> None:
    record = b'{"id":"r1","data":[{"a":1,"b":[2,3]}]}\n'
    assert plain_bytes(record * 3)
    assert plain_bytes(b'{"text":"a, b", "data":[1, 2]}\n')  # commas before blanks, none trailing
    assert not plain_bytes(record + b'{"data":[1, 2 ,\t ]}\n' + record)
    assert not plain_bytes(record + b'{"data":[1,2],}\n')
