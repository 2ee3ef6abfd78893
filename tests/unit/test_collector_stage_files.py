"""A staged blob's whole lines go into files of at most FILE_BYTES (a longer line: a file of its own), in
order, however the download's chunks cut them; the screen and the tail are as for one file."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.collector_fast import plain_bytes
from amlmon.collector_stage import _WholeLines

_LINES = st.lists(st.binary(max_size=30).map(lambda raw: raw.replace(b"\n", b"x") + b"\n"), max_size=20)


@settings(max_examples=400, deadline=None)
@given(
    lines=_LINES,
    tail=st.binary(max_size=10).map(lambda raw: raw.replace(b"\n", b"")),
    cuts=st.lists(st.integers(0, 700), max_size=8),
    file_bytes=st.integers(1, 64),
)
def test_files_hold_the_whole_lines_in_order_each_within_its_size(
    tmp_path_factory: object, lines: list[bytes], tail: bytes, cuts: list[int], file_bytes: int
) -> None:
    folder = Path(tmp_path_factory.mktemp("staged"))  # type: ignore[attr-defined]
    content = b"".join(lines) + tail
    bounds = sorted({0, len(content), *(min(cut, len(content)) for cut in cuts)})
    with _WholeLines(folder, file_bytes) as written:
        for start, end in itertools.pairwise(bounds):
            written.write(content[start:end])
    staged = written.staged()
    files = [path.read_bytes() for path in staged.paths]
    whole = b"".join(lines)
    assert b"".join(files) == whole and staged.tail == tail
    assert staged.plain == plain_bytes(whole)
    for data in files:
        assert data == b"" or data.endswith(b"\n")
        assert len(data) <= file_bytes or data.count(b"\n") == 1  # a longer line is alone
    assert sorted(folder.iterdir()) == sorted(staged.paths)


def test_a_blob_of_short_lines_fills_its_files_before_starting_the_next(tmp_path: Path) -> None:
    with _WholeLines(tmp_path, 10) as written:
        written.write(b"abc\n" * 7 + b"ta")
    staged = written.staged()
    assert [path.read_bytes() for path in staged.paths] == [
        b"abc\nabc\n",
        b"abc\nabc\n",
        b"abc\nabc\n",
        b"abc\n",
    ]
    assert staged.tail == b"ta"
