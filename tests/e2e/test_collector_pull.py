"""`data pull --datastore-url` over collector blobs written here in the collector's layout (Azurite): what
the reading path must keep however it is made fast — batched records exploded, an input joined to its
output in the next hour's folder, lines that are not records counted, a torn last line left, copies
skipped, the standard library's values and JSON text for numbers orjson reads otherwise — in all three
formats."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.azurite import Azurite, start_azurite, stop_azurite
from tests.conftest import run_cli, spawn_amlmon
from tests.helpers import (
    collector_record,
    kill_once_parts_saved,
    parts_done,
    silent_blob_endpoint,
    stop_once_asked,
)

pytestmark = pytest.mark.azurite

CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-00000000c011"
SOURCE = (
    "/subscriptions/00000000-0000-0000-0000-00000000c011/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws-pull/onlineEndpoints/ep-pull/deployments/blue"
)
BIG = 123456789012345678901234567890  # past 64 bits
TORN = b'{"specversion":"1.0","id":"torn","data":[{"x'


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    handle = start_azurite(tmp_path_factory.mktemp("azurite-collector-pull"))
    try:
        yield handle
    finally:
        stop_azurite(handle)


def _record(collection: str, when: dt.datetime, correlation: str, data: Any) -> str:
    return collector_record(collection, when, correlation, data, SOURCE)


@pytest.fixture(scope="module")
def blobs(azurite: Azurite) -> dict[str, Any]:
    """Two hours of one deployment's blobs; the expected rows (request id → (input, prediction))."""
    container = azurite.service().get_container_client(CONTAINER)
    container.create_container()
    first = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)
    second = first + dt.timedelta(hours=1)
    odd = {"n": BIG, "f": float("nan"), "small": 1e-05, "large": 1e16}

    def folder(collection: str, hour: dt.datetime) -> str:
        return f"modelDataCollector/ep-pull/blue/{collection}/{hour:%Y/%m/%d/%H}"

    def write(name: str, lines: list[str], tail: bytes = b"") -> None:
        blob = container.get_blob_client(name)
        blob.create_append_blob()
        blob.append_block("".join(line + "\n" for line in lines).encode() + tail)

    at = first + dt.timedelta(minutes=5)
    last = first + dt.timedelta(minutes=59, seconds=59)
    many = [_record("model_inputs", at, f"m{i}", [{"x": i}]) for i in range(40)]
    write(
        f"{folder('model_inputs', first)}/blue-a.jsonl",
        [
            _record("model_inputs", at, "c1", [{"x": 1}, {"x": 2}]),  # a batched record: two requests
            "not json",
            "[1, 2]",
            _record("model_inputs", at, "c3", [{"x": 3}]),  # no output anywhere
            _record("model_inputs", at, "c4", [odd]),
            _record("model_inputs", last, "c2", [{"x": 9}]),  # answered in the next hour
        ],
        TORN,
    )
    write(f"{folder('model_inputs', first)}/blue-b.jsonl", many)
    write(f"{folder('model_inputs', first)}/blue-a_block_blob.jsonl", many[:1])
    write(
        f"{folder('model_outputs', first)}/blue-a.jsonl",
        [
            _record("model_outputs", at, "c1", [{"p": 0.1}, {"p": 0.2}]),
            _record("model_outputs", at, "c4", [{"p": 1e-05}]),
            _record("model_outputs", at, "orphan", [{"p": 0.5}]),
        ],
    )
    write(
        f"{folder('model_outputs', first)}/blue-b.jsonl",
        [_record("model_outputs", at, f"m{i}", [{"p": i / 10}]) for i in range(40)],
    )
    write(
        f"{folder('model_outputs', second)}/blue-a.jsonl",
        [_record("model_outputs", second, "c2", [{"p": 0.9}])],
    )
    expected: dict[str, tuple[Any, Any]] = {
        "c1_0": ({"x": 1}, {"p": 0.1}),
        "c1_1": ({"x": 2}, {"p": 0.2}),
        "c2_0": ({"x": 9}, {"p": 0.9}),
        "c3_0": ({"x": 3}, None),
        "c4_0": (odd, {"p": 1e-05}),
        **{f"m{i}_0": ({"x": i}, {"p": i / 10}) for i in range(40)},
    }
    return {"expected": expected, "url": f"{azurite.blob_endpoint}/{CONTAINER}", "azurite": azurite}


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "csv"])
def test_pull_explodes_joins_across_the_hour_and_counts_what_it_left(
    blobs: dict[str, Any], tmp_path: Path, suffix: str
) -> None:
    from amlmon import datasets

    out = tmp_path / f"pulled.{suffix}"
    env = {"AZURE_STORAGE_CONNECTION_STRING": blobs["azurite"].connection_string}
    args = ["data", "pull", "ep-pull/blue", "--datastore-url", blobs["url"], "--out", str(out)]
    result = run_cli([*args, "--since", "3h", "-o", "json", "--verbose"], env)
    assert result.exit_code == 0, result.stderr
    # Parquet: DuckDB reads each folder but the first, whose lines are not all records (--verbose says so)
    declined = [line for line in result.stderr.splitlines() if "read record by record" in line]
    assert len(declined) == (1 if suffix == "parquet" else 0), result.stderr
    summary = json.loads(result.stdout)
    expected = blobs["expected"]
    assert summary["rows"] == len(expected)
    assert (summary["withoutOutput"], summary["malformed"]) == (1, 2)
    # The orphan only: c2's output in the next hour's folder was taken by the hour before.
    assert summary["unmatchedOutputs"] == 1
    assert (summary["skippedCopies"], summary["partialBytes"]) == (1, len(TORN))
    rows = {row["request_id"]: row for row in datasets.read_rows(out)}
    assert set(rows) == set(expected)
    for row_id, (row_input, prediction) in expected.items():
        # NaN is not equal to itself: the JSON texts are compared
        assert _text(rows[row_id]["input"]) == _text(row_input), row_id
        assert _text(rows[row_id]["prediction"]) == _text(prediction), row_id
        assert rows[row_id]["workspace"] == "ws-pull" and rows[row_id]["container_id"] in ("blue-a", "blue-b")
    if suffix == "parquet":  # the stored text is the standard library's (orjson writes 1e-05 otherwise)
        import pyarrow.parquet as pq

        table = pq.read_table(out).to_pylist()
        stored = {row["request_id"]: (row["input"], row["prediction"]) for row in table}
        assert stored["c4_0"] == (_text(expected["c4_0"][0]), '{"p":1e-05}')
        assert str(BIG) in stored["c4_0"][0] and "NaN" in stored["c4_0"][0]
        assert stored["c3_0"][1] is None


def test_an_existing_out_is_refused_unless_overwrite(blobs: dict[str, Any], tmp_path: Path) -> None:
    """As every pull: a file the user has is never replaced without --overwrite, a folder never."""
    out = tmp_path / "mine.parquet"
    out.write_text("the user's own file")
    env = {"AZURE_STORAGE_CONNECTION_STRING": blobs["azurite"].connection_string}
    args = ["data", "pull", "ep-pull/blue", "--datastore-url", blobs["url"], "--since", "3h"]
    refused = run_cli([*args, "--out", str(out)], env)
    assert refused.exit_code == 2, refused.stderr
    assert "already exists" in refused.stderr and "--overwrite" in refused.stderr
    assert out.read_text() == "the user's own file"
    folder = run_cli([*args, "--out", str(tmp_path)], env)
    assert folder.exit_code == 2 and "is a folder" in folder.stderr, folder.stderr
    replaced = run_cli([*args, "--out", str(out), "--overwrite", "-o", "json"], env)  # the control
    assert replaced.exit_code == 0, replaced.stderr
    assert json.loads(replaced.stdout)["rows"] > 0 and out.read_bytes()[:4] == b"PAR1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.parquet"]


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_out_is_one_error_naming_out_and_nothing_is_written(
    blobs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty: str
) -> None:
    """`--out ''` was read as `.` and refused as "--out '.' is a folder": a folder the user never typed."""
    monkeypatch.chdir(tmp_path)  # where an empty path would land
    env = {"AZURE_STORAGE_CONNECTION_STRING": blobs["azurite"].connection_string}
    args = ["data", "pull", "ep-pull/blue", "--datastore-url", blobs["url"], "--since", "3h"]
    refused = run_cli([*args, "--out", empty], env)
    assert refused.exit_code == 2, refused.stderr
    said = "--out is empty" if not empty else f"--out {empty!r} is blank"
    assert refused.stderr.splitlines() == [
        f"error: {said}",
        "hint: give the dataset file to write, e.g. --out models.parquet (.parquet, .jsonl or .csv)",
    ]
    assert refused.stdout == "" and list(tmp_path.iterdir()) == []
    written = run_cli([*args, "--out", "rows.jsonl", "-o", "json"], env)  # the control: a name is written
    assert written.exit_code == 0 and json.loads(written.stdout)["rows"] > 0, written.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_a_record_whose_time_does_not_parse_is_counted_as_malformed(
    azurite: Azurite, tmp_path: Path, suffix: str
) -> None:
    """A record with a `time` that is not a time has no place in the window: skipped, and said (the
    fast path declines its folder, the record-by-record reader counts it), inputs and outputs alike."""
    container = azurite.service().get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    at = hour + dt.timedelta(minutes=5)

    def write(collection: str, lines: list[str]) -> None:
        blob = container.get_blob_client(
            f"modelDataCollector/ep-time/blue/{collection}/{hour:%Y/%m/%d/%H}/i.jsonl"
        )
        if not blob.exists():
            blob.create_append_blob()
            blob.append_block("".join(line + "\n" for line in lines).encode())

    good = _record("model_inputs", at, "ok", [{"x": 1}])
    write(
        "model_inputs",
        [
            good,
            good.replace('"correlationid":"ok"', '"correlationid":"late"').replace(
                at.strftime("%Y-%m-%dT%H:%M:%SZ"), "yesterday"
            ),
            _record("model_inputs", at, "num", [{"x": 3}]).replace(at.strftime('"%Y-%m-%dT%H:%M:%SZ"'), "7"),
        ],
    )
    answer = _record("model_outputs", at, "ok", [{"p": 1}])
    write("model_outputs", [answer, answer.replace(at.strftime("%Y-%m-%dT%H:%M:%SZ"), "not a time")])
    out = tmp_path / f"t.{suffix}"
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    args = ["data", "pull", "ep-time/blue", "--datastore-url", f"{azurite.blob_endpoint}/{CONTAINER}"]
    result = run_cli([*args, "--since", "3h", "--out", str(out), "-o", "json"], env)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["records"], summary["malformed"]) == (1, 2, 3), summary
    warnings = [line for line in result.stderr.splitlines() if "malformed" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: 3 malformed"), result.stderr


def test_flatten_says_which_field_it_left_as_json(azurite: Azurite, tmp_path: Path) -> None:
    """--flatten over collector rows whose input changes shape (an object where a number was): the input
    stays JSON only and a warning names the record, as a v1 pull's does (the collector pull said nothing)."""
    rows = {"a": {"x": 1, "y": 2}, "b": {"x": {"nested": 1}, "y": 3}, "c": {"x": "text", "y": 4}}
    _one_hour_folder(azurite, "ep-flat", rows)
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    args = ["data", "pull", "ep-flat/blue", "--datastore-url", f"{azurite.blob_endpoint}/{CONTAINER}"]
    result = run_cli(
        [*args, "--since", "3h", "--out", str(tmp_path / "f.jsonl"), "--flatten", "-o", "json"], env
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "prediction.p" in json.loads(result.stdout)["flattened"]
    )  # the control: a steady field is flattened
    notes = [line for line in result.stderr.splitlines() if line.startswith("warning: --flatten:")]
    assert len(notes) == 1 and "input was not flattened" in notes[0] and "(request b_0)" in notes[0], (
        result.stderr
    )


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_resume_names_an_option_that_differs_and_sums_the_runs(
    azurite: Azurite, tmp_path: Path, fmt: str
) -> None:
    """A pull killed after its first folder: --resume with another --since is a usage error naming it
    (saved and given value); with the same options, the summary is the whole pull's, as an uninterrupted
    run's (it gave this run's blobs and records next to all the rows; and it counted an output the
    folder before the interruption took as unmatched)."""
    container = azurite.service().get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    endpoint = f"ep-resume-{fmt}"
    first = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=30)
    hours = [first + dt.timedelta(hours=index) for index in range(24)]
    lines: dict[tuple[str, int], list[str]] = {}
    for index, hour in enumerate(
        hours
    ):  # a day of folders, each slow enough to read that the pull can be killed
        for collection, value in (("model_inputs", {"x": "v" * 400}), ("model_outputs", {"p": 0.5})):
            lines[collection, index] = [
                _record(collection, hour, f"h{index}-{n}", [value]) for n in range(1500)
            ]
        if index < 23:  # a request at the hour's end, answered in the next hour's folder
            lines["model_inputs", index].append(_record("model_inputs", hour, f"h{index}-late", [{"x": 1}]))
    for index in range(23):
        lines["model_outputs", index + 1].append(
            _record("model_outputs", hours[index + 1], f"h{index}-late", [{"p": 1}])
        )
    for (collection, index), records in lines.items():
        blob = container.get_blob_client(
            f"modelDataCollector/{endpoint}/blue/{collection}/{hours[index]:%Y/%m/%d/%H}/i.jsonl"
        )
        blob.create_append_blob()
        blob.append_block("".join(line + "\n" for line in records).encode() + (b'{"torn"' if index else b""))
    since = (first - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (first + dt.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    url = f"{azurite.blob_endpoint}/{CONTAINER}"
    args = [
        *("data", "pull", f"{endpoint}/blue", "--datastore-url", url),
        *("--since", since, "--until", until),
    ]
    whole = run_cli([*args, "--out", str(tmp_path / f"whole.{fmt}"), "-o", "json"], env)
    assert whole.exit_code == 0, whole.stderr
    expected = {k: v for k, v in json.loads(whole.stdout).items() if k != "path"}
    figures = ("rows", "blobs", "records", "unmatchedOutputs", "withoutOutput")
    assert tuple(expected[k] for k in figures) == (24 * 1500 + 23, 48, 48 * 1500 + 46, 0, 0), expected
    out = tmp_path / f"resumed.{fmt}"
    tmp = tmp_path / "tmp"  # the killed pull's TMPDIR is made in it
    tmp.mkdir()
    left = kill_once_parts_saved(args, out, {**env, "TMPDIR": str(tmp)}, parts=1, timeout=120)
    assert not out.exists() and 1 <= parts_done(out) < 24
    # A killed Parquet pull leaves its staging folder (no clean-up runs: the control that it staged
    # files), in a TMPDIR of its own that the helper deleted: it was left in the tests' TMPDIR (/tmp).
    assert any(name.startswith("amlmon-collector-") for name in left) == (fmt == "parquet"), left
    assert not list(tmp.iterdir()), "the killed pull's TMPDIR is deleted"

    other = ["data", "pull", f"{endpoint}/blue", "--datastore-url", url, "--since", "2d", "--until", until]
    refused = run_cli([*other, "--out", str(out), "--resume", "--format", fmt], env)
    assert refused.exit_code == 2, refused.stderr
    error, hint = refused.stderr.splitlines()
    assert error.startswith("error: --resume: ") and f"--since was {since!r}, now '2d'" in error, error
    assert "--until" not in error and hint.startswith("hint: "), refused.stderr
    assert parts_done(out) >= 1, "the saved parts stay"

    resumed = run_cli([*args, "--out", str(out), "--resume", "-o", "json"], env)
    assert resumed.exit_code == 0, resumed.stderr
    assert {k: v for k, v in json.loads(resumed.stdout).items() if k != "path"} == expected
    if fmt == "jsonl":
        assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    else:
        import pyarrow.parquet as pq

        assert pq.read_table(out).to_pylist() == pq.read_table(tmp_path / "whole.parquet").to_pylist()


def _one_hour_folder(azurite: Azurite, endpoint: str, rows: dict[str, Any], first_line: str = "") -> None:
    """One folder an hour ago of deployment blue: an input record per row (`rows`: correlation id -> row),
    each answered by {"p": 0.5}; `first_line` before the records of both blobs."""
    container = azurite.service().get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    at = hour + dt.timedelta(minutes=5)
    for collection, data in (("model_inputs", rows), ("model_outputs", {k: {"p": 0.5} for k in rows})):
        blob = container.get_blob_client(
            f"modelDataCollector/{endpoint}/blue/{collection}/{hour:%Y/%m/%d/%H}/i.jsonl"
        )
        blob.create_append_blob()
        lines = "".join(_record(collection, at, k, [v]) + "\n" for k, v in data.items())
        blob.append_block(((first_line + "\n" if first_line else "") + lines).encode())


def _hourly_folders(azurite: Azurite, endpoint: str, hours: int, requests: int, data: Any) -> None:
    """`hours` folders of deployment blue ending two hours ago, each one blob a collection of `requests`
    requests whose rows are data(n)."""
    container = azurite.service().get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    first = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=hours + 2)
    for index in range(hours):
        hour = first + dt.timedelta(hours=index)
        for collection in ("model_inputs", "model_outputs"):
            blob = container.get_blob_client(
                f"modelDataCollector/{endpoint}/blue/{collection}/{hour:%Y/%m/%d/%H}/i.jsonl"
            )
            blob.create_append_blob()
            lines = "".join(
                _record(collection, hour, f"{index}-{n}", data(n)) + "\n" for n in range(requests)
            )
            blob.append_block(lines.encode())


def test_ctrl_c_as_the_staging_folder_is_made_leaves_no_staging_folder(
    azurite: Azurite, tmp_path: Path
) -> None:
    """SIGINT to a Parquet pull the moment its staging folder (amlmon-collector-*, in TMPDIR) exists — as
    the prefetch starts, before the first folder is read: exit 130, no dataset, and no staging folder left
    (it was made before the pull's clean-up covered it). Three times, as the moment is a race."""
    import subprocess
    import sys
    import time

    # enough folders that the pull is still running when interrupted
    _hourly_folders(azurite, "ep-staging", hours=6, requests=1500, data=lambda n: [{"x": n}])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string, "TMPDIR": str(tmp)}
    out = tmp_path / "staged.parquet"
    args = [
        *(sys.executable, "-m", "amlmon", "data", "pull", "ep-staging/blue"),
        *("--datastore-url", f"{azurite.blob_endpoint}/{CONTAINER}", "--since", "10h", "--out", str(out)),
    ]
    for _attempt in range(3):
        process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not list(tmp.glob("amlmon-collector-*")) and time.monotonic() < deadline:
                time.sleep(0.001)
            assert list(tmp.glob("amlmon-collector-*")), "the control: a Parquet pull stages its blobs there"
            assert process.poll() is None, "the pull ended before it could be interrupted"
            process.send_signal(signal.SIGINT)
            _stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode in (130, -signal.SIGINT), stderr
        assert "Traceback" not in stderr and not out.exists(), stderr
        assert not list(tmp.glob("amlmon-collector-*")), "the staging folder is deleted"


def test_a_second_ctrl_c_during_the_clean_up_leaves_no_staging_folder(
    azurite: Azurite, tmp_path: Path
) -> None:
    """SIGINT to a Parquet pull while it stages and joins its folders, and a second one ~50 ms later, as
    its clean-up runs (an impatient user): exit 130, no traceback, no dataset, and no staging folder left
    (the second interrupt used to stop the clean-up before it deleted the folder: ~9 staged files stayed
    in TMPDIR). Five times, ~5 to 100 ms apart, as the moment is a race."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # enough folders that the pull is still staging when interrupted
    _hourly_folders(azurite, "ep-twice", hours=8, requests=3000, data=lambda n: [{"x": "v" * 300}])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string, "TMPDIR": str(tmp)}
    out = tmp_path / "twice.parquet"
    args = [
        *(sys.executable, "-m", "amlmon", "data", "pull", "ep-twice/blue"),
        *("--datastore-url", f"{azurite.blob_endpoint}/{CONTAINER}", "--since", "12h", "--out", str(out)),
    ]
    # the second one within the clean-up (it left the folder), and after it, as Python waits for the
    # download threads and finalizes (killed by SIGINT, exit -2, or a traceback)
    for between in (0.005, 0.01, 0.02, 0.05, 0.1):
        process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while len(list(tmp.glob("amlmon-collector-*/*.jsonl"))) < 4 and time.monotonic() < deadline:
                time.sleep(0.001)
            assert len(list(tmp.glob("amlmon-collector-*/*.jsonl"))) >= 4, "the control: staged files"
            assert process.poll() is None, "the pull ended before it could be interrupted"
            process.send_signal(signal.SIGINT)
            time.sleep(between)
            process.send_signal(signal.SIGINT)
            _stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 130, (between, stderr)
        assert "Traceback" not in stderr and "Exception ignored" not in stderr and not out.exists(), stderr
        assert not list(tmp.glob("amlmon-collector-*")), f"the staging folder is deleted ({between} s)"


def test_a_csv_pull_keeps_a_cell_over_the_csv_modules_field_limit(azurite: Azurite, tmp_path: Path) -> None:
    """A collector record carries up to 4 MB inline: a CSV cell of 200 KB of input. Assembling the file
    from its parts read the CSV back with the standard library's 128 KB field limit: exit 1 ("field
    larger than field limit"), the rows only in the parts. The control: the 100 KB row's neighbour."""
    rows = {"small": {"t": "s" * 100_000}, "big": {"t": "b" * 200_000}}
    _one_hour_folder(azurite, "ep-wide", rows)
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    out = tmp_path / "wide.csv"
    args = ["data", "pull", "ep-wide/blue", "--datastore-url", f"{azurite.blob_endpoint}/{CONTAINER}"]
    result = run_cli([*args, "--since", "3h", "--out", str(out), "-o", "json"], env)
    assert result.exit_code == 0, result.stderr
    from amlmon import datasets

    got = {row["request_id"]: row["input"] for row in datasets.read_rows(out)}
    assert got == {f"{k}_0": v for k, v in rows.items()}, {k: len(str(v)) for k, v in got.items()}


def test_a_parquet_pull_read_record_by_record_writes_rows_of_ten_kilobytes_in_batches_of_a_few_mb(
    azurite: Azurite, tmp_path: Path
) -> None:
    """A folder DuckDB declines (here one line that is not a record) is read record by record; its Parquet
    rows were batched 5,000 at a time whatever their size, so 1,300 rows of 16 KB sat decoded in memory at
    once (a pull's peak 541 MB, against 98 MB into JSONL). A batch is a row group: 700 rows of 10 KB (7 MB
    of text) come in batches of about 4 MB; the control: the same rows, all of them, in order."""
    import pyarrow.parquet as pq

    rows = {f"r{i}": {"i": i, "t": f"{i:05d}" * 2000} for i in range(700)}
    _one_hour_folder(azurite, "ep-big", rows, first_line="not json")
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    out = tmp_path / "big.parquet"
    args = ["data", "pull", "ep-big/blue", "--datastore-url", f"{azurite.blob_endpoint}/{CONTAINER}"]
    result = run_cli([*args, "--since", "3h", "--out", str(out), "-o", "json", "--verbose"], env)
    assert result.exit_code == 0, result.stderr
    assert "read record by record" in result.stderr, result.stderr
    table = pq.read_table(out)
    assert table.column("request_id").to_pylist() == [f"{k}_0" for k in rows]
    assert [json.loads(text) for text in table.column("input").to_pylist()] == list(rows.values())
    assert 2 <= pq.ParquetFile(out).num_row_groups <= 3, pq.ParquetFile(out).num_row_groups


@pytest.mark.parametrize("stopping", [signal.SIGINT, signal.SIGTERM])
def test_a_collector_pull_stopped_before_its_first_folder_says_folder_not_slice(
    tmp_path: Path, stopping: signal.Signals
) -> None:
    """A collector pull saves a part per folder (a v1 pull's per time slice): stopped while its first
    request waits (a blob endpoint that never answers), its note said "before the first slice"."""
    out = tmp_path / "stopped.jsonl"
    with silent_blob_endpoint() as (connection_string, accepted):
        port = connection_string.split("BlobEndpoint=http://127.0.0.1:")[1].split("/")[0]
        process = spawn_amlmon(
            [
                *("data", "pull", "ep-pull/blue", "--since", "3h", "--out", str(out)),
                *("--datastore-url", f"http://127.0.0.1:{port}/devstoreaccount1/{CONTAINER}"),
            ],
            {"AZURE_STORAGE_CONNECTION_STRING": connection_string},
        )
        control = "the control: the pull asks the endpoint before it reads a folder"
        stdout, stderr = stop_once_asked(process, accepted, stopping, control)
    assert process.returncode == 130, stderr
    assert f"note: interrupted before the first folder was saved: nothing was kept ({out} not created)" in (
        stderr.splitlines()
    ), stderr
    assert "slice" not in stderr and stdout == "" and not out.exists()


def test_a_window_wholly_in_the_future_is_said_so_once(blobs: dict[str, Any], tmp_path: Path) -> None:
    """--since and --until both ahead of now: the pull ran and warned "try a longer --since", which
    cannot help; it says the window lies in the future (a warning, as traces and query run such a
    window too), before it reads, and nothing else about the empty dataset."""
    env = {"AZURE_STORAGE_CONNECTION_STRING": blobs["azurite"].connection_string}
    now = dt.datetime.now(dt.UTC)
    ahead = [
        *("--since", (now + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")),
        *("--until", (now + dt.timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ]
    args = ["data", "pull", "ep-pull/blue", "--datastore-url", blobs["url"], "-o", "json"]
    result = run_cli([*args, *ahead, "--out", str(tmp_path / "ahead.jsonl")], env)
    assert result.exit_code == 0 and json.loads(result.stdout)["rows"] == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "lies wholly in the future" in warnings[0], result.stderr
    assert ahead[1] in warnings[0] and ahead[3] in warnings[0] and "check --since and --until" in warnings[0]
    # The control: a window that ends in the future but starts in the past is read, without the warning.
    until_ahead = ["--since", "3h", "--until", ahead[3]]
    read = run_cli([*args, *until_ahead, "--out", str(tmp_path / "now.jsonl")], env)
    assert read.exit_code == 0 and json.loads(read.stdout)["rows"] > 0, read.stderr
    assert "future" not in read.stderr
