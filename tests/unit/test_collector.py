"""Reading the v2 data collector's blobs: names, whole lines from a growing append blob, the plan of
folders to read, and batched records exploded into `{correlationid}_{i}` rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon import collector
from amlmon.collector import (
    PullStats,
    complete_lines,
    line_pieces,
    overlaps,
    parse_blob_name,
    plan,
    record_rows,
)

UTC = dt.UTC


def test_blob_names_hourly_and_daily_and_others() -> None:
    hourly = parse_blob_name("modelDataCollector/ep/blue/model_inputs/2026/11/30/09/blue-1.jsonl")
    assert hourly is not None
    assert (hourly.endpoint, hourly.deployment, hourly.collection, hourly.instance) == (
        "ep",
        "blue",
        "model_inputs",
        "blue-1",
    )
    assert hourly.folder == dt.datetime(2026, 11, 30, 9, tzinfo=UTC) and hourly.span == dt.timedelta(hours=1)
    daily = parse_blob_name("modelDataCollector/ep/blue/model_outputs/2026/11/30/x.jsonl")
    assert daily is not None and daily.span == dt.timedelta(days=1)
    assert parse_blob_name("modelDataCollector/ep/blue/model_inputs/2026/13/30/09/x.jsonl") is None
    assert parse_blob_name("modelDataCollector/ep/blue/model_inputs/2026/11/30/09/x.json") is None
    start, end = dt.datetime(2026, 11, 30, 9, 30, tzinfo=UTC), dt.datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert overlaps(hourly, start, end) and overlaps(daily, start, end)
    assert not overlaps(hourly, end, end + dt.timedelta(hours=1))


@settings(max_examples=300)
@given(
    lines=st.lists(st.text(alphabet='ab{}":,é ', min_size=1, max_size=20).filter(str.strip), max_size=20),
    tail=st.text(alphabet="ab{", max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_whole_lines_whatever_the_chunks(lines: list[str], tail: str, cuts: list[int]) -> None:
    data = "".join(line + "\n" for line in lines).encode() + tail.encode()
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    stats = PullStats()
    assert list(complete_lines(iter(chunks), stats)) == lines
    assert stats.partial_bytes == len(tail.encode())


@settings(max_examples=300)
@given(
    data=st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"\n")),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=10),
    piece=st.integers(min_value=1, max_value=40),
)
def test_line_pieces_are_the_whole_lines_in_bounded_pieces(data: bytes, cuts: list[int], piece: int) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    stats = PullStats()
    saved, collector.PIECE = collector.PIECE, piece
    try:
        pieces = list(line_pieces(iter(chunks), stats))
    finally:
        collector.PIECE = saved
    whole = data[: data.rfind(b"\n") + 1]
    assert b"".join(pieces) == whole and stats.partial_bytes == len(data) - len(whole)
    for item in pieces:  # each ends a line; longer than a piece only when it is one line
        assert item.endswith(b"\n") and (len(item) <= piece or item.count(b"\n") == 1)


def test_batched_record_is_one_row_per_data_row() -> None:
    record = {"correlationid": "abc", "data": [{"x": 1}, {"x": 2}, {"x": 3}]}
    assert list(record_rows(record)) == [("abc_0", {"x": 1}), ("abc_1", {"x": 2}), ("abc_2", {"x": 3})]
    assert list(record_rows({"id": "only-id", "data": "https://blob/url"})) == [
        ("only-id_0", "https://blob/url")
    ]


def test_plan_skips_copies_and_knows_the_next_folders_outputs() -> None:
    base = "modelDataCollector/ep/blue"
    names = [
        f"{base}/model_inputs/2026/11/30/09/i.jsonl",
        f"{base}/model_outputs/2026/11/30/09/i.jsonl",
        f"{base}/model_outputs/2026/11/30/10/i.jsonl",
        f"{base}/model_inputs/2026/11/30/09/i_block_blob.jsonl",
        f"{base}/request/2026/11/30/09/i.jsonl",
        f"{base}/model_inputs/2026/11/30/07/old.jsonl",
    ]
    stats = PullStats()
    start, end = dt.datetime(2026, 11, 30, 8, tzinfo=UTC), dt.datetime(2026, 11, 30, 10, tzinfo=UTC)
    folders = plan(iter(names), start, end, stats)
    assert stats.skipped_copies == 1
    assert [f.key for f in folders] == ["ep/blue/20261130T09"]
    assert [b.name for b in folders[0].inputs] == [names[0]]
    assert [b.name for b in folders[0].outputs] == [names[1]]
    assert [b.name for b in folders[0].next_outputs] == [names[2]]
    # the next folder is not the pull's; the folder before (07, no outputs) is not either: its inputs
    # may hold the input of an output in the window
    assert not folders[0].next_planned
    assert [b.name for b in folders[0].previous_inputs] == [names[5]] and folders[0].previous_outputs == []
    wider = plan(iter(names), start - dt.timedelta(hours=1), end + dt.timedelta(hours=1), PullStats())
    assert [f.key[-2:] for f in wider] == ["07", "09", "10"]
    assert [f.next_planned for f in wider] == [True, True, False]  # 07's next outputs: 09's
    assert all(f.previous_inputs == [] for f in wider), "the folder before is the pull's, or none"


def test_the_folder_before_is_the_one_whose_next_outputs_are_this_folders() -> None:
    """The folder before 10 (whose inputs an output of 10 may answer) is the last one with inputs whose
    next folder with outputs is 10: 09 when it has inputs; none when 09 has outputs only (08's inputs
    are answered in 09)."""
    base = "modelDataCollector/ep/blue"

    def before(hours: dict[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
        names = [
            f"{base}/{c}/2026/11/30/{h}/i.jsonl" for h, collections in hours.items() for c in collections
        ]
        start, end = dt.datetime(2026, 11, 30, 10, tzinfo=UTC), dt.datetime(2026, 11, 30, 11, tzinfo=UTC)
        (folder,) = plan(iter(names), start, end, PullStats())
        return [b.name[len(base) :] for b in folder.previous_inputs], [
            b.name[len(base) :] for b in folder.previous_outputs
        ]

    both = ("model_inputs", "model_outputs")
    assert before({"08": both, "09": ("model_inputs",), "10": both}) == (
        ["/model_inputs/2026/11/30/09/i.jsonl"],
        [],
    )
    assert before({"08": both, "09": both, "10": both}) == (
        ["/model_inputs/2026/11/30/09/i.jsonl"],
        ["/model_outputs/2026/11/30/09/i.jsonl"],
    )
    assert before({"08": both, "09": ("model_outputs",), "10": both}) == ([], [])


def test_datastore_url_usage_errors(tmp_path: Any) -> None:
    from tests.conftest import run_cli

    out = str(tmp_path / "x.parquet")
    no_container = run_cli(
        ["data", "pull", "ep", "--out", out, "--datastore-url", "https://acct.blob.core.windows.net"]
    )
    assert no_container.exit_code == 2, no_container.stderr
    assert "error: --datastore-url must name the datastore's container" in no_container.stderr
    assert "hint: " in no_container.stderr and "Traceback" not in no_container.stderr
    both = run_cli(
        [
            "data",
            "pull",
            "ep",
            "--out",
            out,
            "--datastore-url",
            "https://a.blob.core.windows.net/c",
            "--print-query",
        ]
    )
    assert both.exit_code == 2 and "--print-query is about KQL" in both.stderr, both.stderr
    assert not (tmp_path / "x.parquet").exists()
    # --role names App Insights' cloud role: with blobs it was dropped without a word (the pull read
    # every instance's blobs)
    for chosen in (
        ["--datastore-url", "https://a.blob.core.windows.net/azureml-blobstore-1"],
        ["--payloads"],
    ):
        role = run_cli(["data", "pull", "ep/blue", "--out", out, *chosen, "--role", "blue"])
        assert role.exit_code == 2, role.stderr
        assert role.stderr.splitlines() == [
            f"error: --role is about KQL; {chosen[0]} reads blobs",
            "hint: drop one of them",
        ], role.stderr
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "ftp://acct.blob.core.windows.net/azureml-blobstore-1",
            "not a URL of a blob container (scheme 'ftp')",
        ),
        ("acct.blob.core.windows.net/azureml-blobstore-1", "not a URL of a blob container (no scheme)"),
        ("https:///azureml-blobstore-1", "not a URL of a blob container (no host)"),
        # urllib raises only when the port is asked for (the SDK then failed as an internal error)
        (
            "https://acct.blob.core.windows.net:99999/azureml-blobstore-1",
            "not a URL of a blob container (its host or port does not parse)",
        ),
        (
            "https://acct.blob.core.windows.net:c2VjcmV0/azureml-blobstore-1",
            "not a URL of a blob container (its host or port does not parse)",
        ),
        (
            "https://[::1/azureml-blobstore-1",
            "not a URL of a blob container (its host or port does not parse)",
        ),
        (
            "https://acct.blob.core.windows.net/Bad_Name",
            "container 'Bad_Name' is not a valid blob container name",
        ),
        ("https://acct.blob.core.windows.net/xx", "container 'xx' is not a valid blob container name"),
        (f"https://acct.blob.core.windows.net/{'a' * 64}", "is not a valid blob container name"),
        ("https://acct.blob.core.windows.net/a--b", "container 'a--b' is not a valid blob container name"),
    ],
)
def test_a_datastore_url_that_is_no_container_url_is_a_usage_error(
    tmp_path: Any, url: str, said: str
) -> None:
    """Before any request (no storage here: a request would be another error): exit 2, error and hint."""
    from tests.conftest import run_cli

    out = tmp_path / "x.jsonl"
    result = run_cli(["data", "pull", "ep", "--out", str(out), "--datastore-url", url + "?sig=c2VjcmV0"])
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: --datastore-url") and said in lines[0], lines
    assert lines[1].startswith("hint: ") and "c2VjcmV0" not in result.stderr
    assert not out.exists()


def test_a_datastore_url_on_another_port_than_the_connection_strings_endpoint_is_refused(
    tmp_path: Any,
) -> None:
    """The connection string's BlobEndpoint is where every call goes: another port would read another
    storage's container (tests/e2e/test_collector_pull.py pulls with both on the same port)."""
    from tests.conftest import run_cli

    account = "devstoreaccount1"
    conn = f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/{account}"
    out = tmp_path / "x.parquet"
    args = ["data", "pull", "ep", "--out", str(out), "--datastore-url", f"http://127.0.0.1:1/{account}/ccc"]
    result = run_cli(args, {"AZURE_STORAGE_CONNECTION_STRING": conn})
    assert result.exit_code == 2, result.stderr
    assert "blob endpoint is on port 10000; --datastore-url is on port 1" in result.stderr
    assert "a2V5" not in result.stderr and not out.exists()
