"""The collector pull's fast path (DuckDB, amlmon/collector_fast.py) against the reference path
(CollectorPull.folder_rows) on generated folders in Azurite: the same Parquet rows and the same counts,
whatever the records hold; and on records shaped as the collector writes them, the fast path really is
the one taken (it may decline anything else)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.azurite import Azurite, start_azurite, stop_azurite

pytestmark = pytest.mark.azurite

CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-0000000fa575"
SOURCE = (
    "/subscriptions/00000000-0000-0000-0000-0000000fa575/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws-fast/onlineEndpoints/ep/deployments/blue"
)
HOUR = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
_names = itertools.count()


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    handle: Azurite = start_azurite(tmp_path_factory.mktemp("azurite-collector-fast"))
    try:
        client = handle.service().get_container_client(CONTAINER)
        client.create_container()
        yield client
    finally:
        stop_azurite(handle)


# A row: any JSON value as json.dumps writes it, or texts DuckDB and the standard library read apart.
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
_raw_numbers = st.sampled_from(["1E5", "-0", "1.50", "0.00001", "1e400", "123456789012345678901", "-0.0"])
_elements = st.one_of(
    _values.map(json.dumps),
    st.dictionaries(st.sampled_from("abc"), st.integers(0, 9), min_size=1).map(
        lambda d: json.dumps(d, separators=(",", ":"))
    ),
    _raw_numbers.map(lambda raw: '{"x":' + raw + "}"),
    st.just('{"a":1,"a":2}'),
)
_times = st.integers(min_value=-30, max_value=150).map(
    lambda minutes: (HOUR + dt.timedelta(minutes=minutes, seconds=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
)


def _line(request: str, when: str, elements: list[str]) -> str:
    envelope = {"specversion": "1.0", "id": f"id-{request}", "source": SOURCE, "time": when}
    envelope["correlationid"] = request
    return json.dumps(envelope, separators=(",", ":"))[:-1] + ',"data":[' + ",".join(elements) + "]}"


@st.composite
def _odd_line(draw: Any) -> str:
    """A record of any shape: ids that repeat, times out of their folder, lines that are not records, …"""
    request = draw(st.sampled_from([f"r{i}" for i in range(8)]))
    when = draw(_times)
    line = _line(request, when, draw(st.lists(_elements, max_size=3)))
    return draw(
        st.sampled_from(
            [
                line,
                line,
                line,
                "not json",
                "[1, 2]",
                line.replace(f'"correlationid":"{request}"', '"correlationid":5'),
                line.replace(
                    f'"source":"{SOURCE}"', '"source":0'
                ),  # the inputs' `source` names the workspace
                line.replace(f'"source":"{SOURCE}"', '"source":["x/workspaces/","/y"]'),  # its text differs
                line.replace(f'"time":"{when}"', f'"time":"{when[:-1]}+00:00"'),
                line.replace(f'"time":"{when}"', '"time":7'),
                line.replace('"data":[', '"data":{"v":[').replace("]}", "]}}"),
                line[:-1] + ',"extra":[1,],}',
                line.replace(',"data"', ',\r"data"'),
            ]
        )
    )


def _write(container: Any, name: str, lines: list[str], tail: str) -> None:
    blob = container.get_blob_client(name)
    blob.create_append_blob()
    content = ("".join(line + "\n" for line in lines) + tail).encode()
    for offset in range(0, len(content), _BLOCK):
        blob.append_block(content[offset : offset + _BLOCK])


_BLOCK = 4 * 1024 * 1024  # an append block's limit


def _folders(draw: Any, container: Any, plain: bool) -> str:
    """An endpoint's two hours of inputs and outputs (two instances each), written; its name. `plain`:
    as the collector writes them (an id once per collection, a record in its time's folder; some inputs
    unanswered, some answered later in the hour or in the next hour, some outputs without input), else
    anything."""
    endpoint = f"ep{next(_names)}"
    hours = (HOUR, HOUR + dt.timedelta(hours=1))
    blobs: dict[tuple[int, str, str], list[str]] = {
        key: [] if plain else draw(st.lists(_odd_line(), max_size=6))
        for key in itertools.product((0, 1), ("model_inputs", "model_outputs"), ("i0", "i1"))
    }
    for index, hour in enumerate(hours if plain else ()):
        for number in range(draw(st.integers(0, 8))):
            request = f"{endpoint}-{index}-{number}"
            elements = draw(st.lists(_values.map(json.dumps), max_size=3))
            answers = [json.dumps(draw(_values)) for _ in elements]
            second = draw(st.integers(0, 3599))
            when = (hour + dt.timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
            fate = draw(
                st.sampled_from(["answered", "answered", "later", "unanswered", "next hour", "orphan"])
            )
            instance = draw(st.sampled_from(["i0", "i1"]))
            if fate != "orphan":
                blobs[(index, "model_inputs", instance)].append(_line(request, when, elements))
            if fate in ("answered", "orphan"):
                blobs[(index, "model_outputs", instance)].append(_line(request, when, answers))
            if fate == "later":  # answered minutes later, in the same folder
                answered = hour + dt.timedelta(seconds=draw(st.integers(second, 3599)))
                blobs[(index, "model_outputs", instance)].append(
                    _line(request, answered.strftime("%Y-%m-%dT%H:%M:%SZ"), answers)
                )
            if fate == "next hour" and index == 0:
                later = (hours[1] + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                blobs[(1, "model_outputs", instance)].append(_line(request, later, answers))
    for (index, collection, instance), lines in blobs.items():
        tail = draw(st.sampled_from(["", '{"torn":']))
        folder = f"{hours[index]:%Y/%m/%d/%H}"
        _write(
            container,
            f"modelDataCollector/{endpoint}/blue/{collection}/{folder}/{instance}.jsonl",
            lines,
            tail,
        )
    return endpoint


def _pull(
    container: Any, endpoint: str, window: tuple[dt.datetime, dt.datetime], fast: bool, out: Path
) -> tuple[Any, list[bool]]:
    """The endpoint's dataset rows as a Parquet table (read back) and the counts; which folders the fast
    path took."""
    import pyarrow.parquet as pq

    from amlmon import collector
    from amlmon.collector_reader import CollectorPull
    from amlmon.datasets.writers import ParquetRowWriter

    stats = collector.PullStats()
    reader = CollectorPull(container, *window, stats)
    folders = collector.plan(reader.names(endpoint, "blue"), *window, stats)
    writer = ParquetRowWriter(out)
    taken = []
    try:
        # as `data pull` reads them: the next folder is joined while one is written
        joined = reader.joined_folders(folders) if fast else ((folder, None) for folder in folders)
        for folder, table in joined:
            taken.append(table is not None)
            if table is not None:
                for piece in _pieces(table):
                    writer.write_table(piece)
            else:
                writer.write(reader.folder_rows(folder))
            reader.release(folder)
    finally:
        reader.close()
        writer.close()
    return (pq.read_table(out), stats), taken


def _pieces(table: Any) -> list[Any]:
    """A folder's Arrow rows as joined_folders gives them: one table, or (a large folder) its slices."""
    import pyarrow as pa

    return [table] if isinstance(table, pa.Table) else list(table)


def _same(container: Any, endpoint: str, window: tuple[dt.datetime, dt.datetime], tmp: Path) -> list[bool]:
    (fast_rows, fast_stats), taken = _pull(
        container, endpoint, window, True, tmp / f"{endpoint}-fast.parquet"
    )
    (reference_rows, reference_stats), _ = _pull(
        container, endpoint, window, False, tmp / f"{endpoint}-ref.parquet"
    )
    assert fast_rows.to_pylist() == reference_rows.to_pylist()
    assert fast_stats == reference_stats
    return taken


# windows that start before the first hour, in it, or in the second one (the first hour is then the
# folder before the window, whose inputs may have answers in the window)
_windows = st.tuples(st.integers(-40, 110), st.integers(1, 160)).map(
    lambda m: (HOUR + dt.timedelta(minutes=m[0]), HOUR + dt.timedelta(minutes=m[0] + m[1]))
)


# Azurite round trips make an example ~0.2 s: no explain phase (minutes on a failure, for a comment)
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]


_AZURITE = settings(
    max_examples=60,
    deadline=None,
    phases=_PHASES,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_AZURITE
@given(data=st.data(), window=_windows)
def test_any_folder_gives_the_reference_paths_rows_and_counts(
    container: Any, tmp_path: Path, data: Any, window: tuple[dt.datetime, dt.datetime]
) -> None:
    endpoint = _folders(data.draw, container, plain=False)
    _same(container, endpoint, window, tmp_path)


@settings(_AZURITE, max_examples=40)
@given(data=st.data(), window=_windows)
def test_collector_shaped_folders_take_the_fast_path(
    container: Any, tmp_path: Path, data: Any, window: tuple[dt.datetime, dt.datetime]
) -> None:
    endpoint = _folders(data.draw, container, plain=True)
    taken = _same(container, endpoint, window, tmp_path)
    assert all(taken), taken


_ADDITIVE = ("rows", "records", "without_output", "unmatched_outputs")


@settings(_AZURITE, max_examples=25)
@given(
    data=st.data(),
    points=st.lists(st.integers(-30, 150 * 60), min_size=3, max_size=3, unique=True).map(sorted),
)
def test_adjacent_windows_add_up_in_both_paths(
    container: Any, tmp_path: Path, data: Any, points: list[int]
) -> None:
    """Collector-shaped folders pulled over [a,b) and [b,c), b anywhere (on the hour, between a request's
    input and its output): the rows and figures of one pull of [a,c), by either path."""
    endpoint = _folders(data.draw, container, plain=True)
    a, b, c = (HOUR + dt.timedelta(seconds=point) for point in points)
    for fast in (True, False):
        pulled = {
            window: _pull(container, endpoint, window, fast, tmp_path / f"{endpoint}-{fast}-{n}.parquet")[0]
            for n, window in enumerate([(a, b), (b, c), (a, c)])
        }
        (first, first_stats), (second, second_stats), (whole, whole_stats) = pulled.values()
        ids = [table.column("request_id").to_pylist() for table in (first, second, whole)]
        assert not set(ids[0]) & set(ids[1]) and sorted(ids[0] + ids[1]) == sorted(ids[2])
        by_id = {row["request_id"]: row for row in first.to_pylist() + second.to_pylist()}
        assert all(by_id[row["request_id"]] == row for row in whole.to_pylist())
        for figure in _ADDITIVE:
            parts = getattr(first_stats, figure) + getattr(second_stats, figure)
            assert parts == getattr(whole_stats, figure), (
                fast,
                figure,
                first_stats,
                second_stats,
                whole_stats,
            )


@pytest.mark.parametrize("collection", ["model_inputs", "model_outputs"])
def test_a_source_that_is_not_text_is_read_as_the_reference_path_reads_it(
    container: Any, tmp_path: Path, collection: str
) -> None:
    """An array as `source`: its text differs between DuckDB and the standard library, and so would the
    workspace it names. The inputs' source names the workspace (the fast path declines); the outputs'
    is not read (the fast path takes the folder)."""
    endpoint = f"ep{next(_names)}"
    when = (HOUR + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("model_inputs", "model_outputs"):
        line = _line("r1", when, ['{"x":1}'])
        if name == collection:
            line = line.replace(f'"source":"{SOURCE}"', '"source":["x/workspaces/","/y"]')
        _write(
            container, f"modelDataCollector/{endpoint}/blue/{name}/{HOUR:%Y/%m/%d/%H}/i0.jsonl", [line], ""
        )
    window = (HOUR, HOUR + dt.timedelta(hours=1))
    assert _same(container, endpoint, window, tmp_path) == [collection == "model_outputs"]


def test_a_folder_over_the_slice_size_comes_in_slices_with_the_reference_paths_rows(
    container: Any, tmp_path: Path
) -> None:
    """A folder whose rows hold more than SLICE_ABOVE bytes of text comes out of DuckDB in slices of about
    SLICE_BYTES (memory holds a slice, not the folder): the reference path's rows and counts, with texts
    encoded again (nested objects) and an input the next hour answers. The control: the same folder with
    small texts comes as one table."""
    import pyarrow.parquet as pq

    from amlmon.collector_fast import SLICE_ABOVE, SLICE_BYTES

    requests = 8000
    pad = SLICE_ABOVE // (requests - 1000)
    # the last: a sliced folder holding a text the standard library refuses declines before any slice
    for size, sliced, odd in ((pad, True, False), (10, False, False), (pad, True, True)):
        endpoint = f"ep{next(_names)}"
        blobs: dict[tuple[int, str], list[str]] = {(0, "model_inputs"): [], (0, "model_outputs"): []}
        blobs[(1, "model_outputs")] = []
        for index in range(requests):
            when = (HOUR + dt.timedelta(seconds=index * 3599 // requests)).strftime("%Y-%m-%dT%H:%M:%SZ")
            element = json.dumps({"text": "x" * size, "n": {"i": index}}, separators=(",", ":"))
            if odd and index == requests - 1:
                element = '{"x":nan}'  # DuckDB reads it, the standard library does not
            blobs[(0, "model_inputs")].append(_line(f"r{index}", when, [element]))
            answer = (1 if index == 7 else 0, "model_outputs")
            blobs[answer].append(_line(f"r{index}", when, ['{"p":0.5}']))
        for (hour, collection), lines in blobs.items():
            folder = f"{HOUR + dt.timedelta(hours=hour):%Y/%m/%d/%H}"
            _write(container, f"modelDataCollector/{endpoint}/blue/{collection}/{folder}/i0.jsonl", lines, "")
        window = (HOUR, HOUR + dt.timedelta(hours=1))
        assert _same(container, endpoint, window, tmp_path) == [not odd]
        if odd:
            continue
        written = pq.ParquetFile(tmp_path / f"{endpoint}-fast.parquet")
        groups = written.num_row_groups  # a slice is a row group
        assert groups > 1 if sliced else groups == 1, groups
        if sliced:  # slices of about SLICE_BYTES of text: the whole folder's text over their number
            assert groups == pytest.approx(requests * pad / SLICE_BYTES, abs=2)


def test_records_of_ten_kilobytes_take_the_fast_path(container: Any, tmp_path: Path) -> None:
    """DuckDB reads a file's lines 2,048 at a time, several times over: rows of 10 KB in one 25 MB blob
    took it over its 128 MB and the fast path declined. Staged in files of FILE_BYTES, they fit: the
    reference path's rows and counts, from the fast path."""
    from amlmon.collector_stage import FILE_BYTES

    endpoint = f"ep{next(_names)}"
    for size, requests in ((10_000, 2_500),):
        inputs, outputs = [], []
        for index in range(requests):
            when = (HOUR + dt.timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%SZ")
            element = json.dumps({"text": "x" * size, "n": {"i": index}}, separators=(",", ":"))
            inputs.append(_line(f"r{size}-{index}", when, [element]))
            outputs.append(_line(f"r{size}-{index}", when, ['{"p":0.5}']))
        assert sum(map(len, inputs)) > 2 * FILE_BYTES  # more than one staged file
        for collection, lines in (("model_inputs", inputs), ("model_outputs", outputs)):
            name = f"modelDataCollector/{endpoint}/blue/{collection}/{HOUR:%Y/%m/%d/%H}/i{size}.jsonl"
            _write(container, name, lines, "")
    assert _same(container, endpoint, (HOUR, HOUR + dt.timedelta(hours=1)), tmp_path) == [True]


def _big_folder(container: Any, endpoint: str, requests: int) -> None:
    """One hour of `requests` collector-shaped requests (inputs and outputs, one blob each)."""
    for collection in ("model_inputs", "model_outputs"):
        lines = (
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": f"{collection}-{index}",
                    "source": SOURCE,
                    "time": (HOUR + dt.timedelta(seconds=index % 3600)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "data": [{"x": index, "y": index / 7}],
                    "correlationid": f"req-{index}",
                },
                separators=(",", ":"),
            )
            for index in range(requests)
        )
        blob = container.get_blob_client(
            f"modelDataCollector/{endpoint}/blue/{collection}/{HOUR:%Y/%m/%d/%H}/i0.jsonl"
        )
        blob.create_append_blob()
        content = ("\n".join(lines) + "\n").encode()
        for offset in range(0, len(content), 4 * 1024 * 1024):
            blob.append_block(content[offset : offset + 4 * 1024 * 1024])


def _join_all(container: Any, endpoint: str) -> tuple[list[Any], Any]:
    import pyarrow as pa

    from amlmon import collector
    from amlmon.collector_reader import CollectorPull

    window = (HOUR, HOUR + dt.timedelta(hours=1))
    stats = collector.PullStats()
    reader = CollectorPull(container, *window, stats)
    try:
        folders = collector.plan(reader.names(endpoint, "blue"), *window, stats)
        return [pa.concat_tables(_pieces(table)) for _folder, table in reader.joined_folders(folders)], reader
    finally:
        reader.close()


def _when_joining(then: Any) -> dict[str, float]:
    """Call `then` once DuckDB has been joining in the join thread for a moment; the time it did."""
    import threading
    import time

    seen: dict[str, float] = {}

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(thread.name.startswith("amlmon-join") for thread in threading.enumerate()):
                time.sleep(0.1)
                seen["at"] = time.monotonic()
                then()
                return
            time.sleep(0.002)

    threading.Thread(target=watch, daemon=True).start()
    return seen


def test_ctrl_c_while_a_folder_is_joined_in_its_thread_stops_the_pull_and_leaves_nothing(
    container: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C reaches the main thread while DuckDB joins in the join thread: the pull stops at once
    (KeyboardInterrupt; the join is interrupted, not waited for), its thread ends, the staged files are
    deleted."""
    import os
    import signal
    import threading
    import time

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the staging folder goes (tempfile.mkdtemp)
    monkeypatch.setattr("tempfile.tempdir", None)
    endpoint = f"big{next(_names)}"
    _big_folder(container, endpoint, 300_000)
    joining = _when_joining(lambda: None)  # the control: uninterrupted, the folder is joined
    tables, _reader = _join_all(container, endpoint)
    rest_of_join = time.monotonic() - joining["at"]
    assert [table.num_rows for table in tables] == [300_000]
    assert not list(tmp_path.glob("amlmon-collector-*")), "the staging folder is gone after a pull"

    # as the terminal does: SIGINT to the process (whichever thread takes it)
    interrupted = _when_joining(lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        _join_all(container, endpoint)
    stopped_after = time.monotonic() - interrupted["at"]
    assert stopped_after < rest_of_join / 3, (stopped_after, rest_of_join)
    assert not [t for t in threading.enumerate() if t.name.startswith("amlmon-join")], "no join thread left"
    assert not list(tmp_path.glob("amlmon-collector-*")), "the staged files are deleted"
