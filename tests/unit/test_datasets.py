"""Dataset rows, writers (Parquet/JSONL/CSV round trips), atomic output, resume, slicing plan, export paths."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon import datasets, extract, pull
from amlmon.errors import UsageError

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def _v15(request_id: str, payload: dict[str, object]) -> dict[str, str]:
    inner = {
        "Container Id": "c1",
        "Request Id": request_id,
        "Client Request Id": "cr-" + request_id,
        "Workspace Name": "ws",
        "Service Name": "churn",
        "Models": ("churn:1",),
        "Input": json.dumps(json.dumps(payload)),
        "Prediction": json.dumps([0.25]),
    }
    return {"custom_dimensions": repr(inner)}


def _v14(request_id: str, payload: dict[str, object]) -> dict[str, str]:
    return {
        "Container Id": "c2",
        "Request Id": request_id,
        "Client Request Id": "cr-" + request_id,
        "Workspace Name": "ws",
        "Service Name": "churn14",
        "Models": "['churn:2']",
        "Input": json.dumps(payload),
        "Prediction": json.dumps([1]),
    }


def _rows() -> list[dict[str, object]]:
    big = {"data": ["x" * 9000]}
    truncated = {
        "custom_dimensions": repr({"Request Id": "r-cut", "Input": json.dumps(json.dumps(big))})[:8192]
    }
    return [
        datasets.model_data_row(
            "2026-11-20T10:00:00.1234567Z", "churn", json.dumps(_v15("r1", {"data": [[1, 2]]}))
        ),
        datasets.model_data_row("2026-11-20T10:00:01Z", "azmlinfsrv", _v14("r2", {"data": [[3, 4]]})),
        datasets.model_data_row("2026-11-20T10:00:02Z", "churn", truncated),
    ]


def test_rows_decode_both_generations_and_keep_truncated_records() -> None:
    first, second, cut = _rows()
    assert (
        first["service"] == "churn" and first["input"] == {"data": [[1, 2]]} and first["prediction"] == [0.25]
    )
    assert first["time"] == dt.datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert (
        second["service"] == "churn14" and second["models"] == ["churn:2"] and second["generation"] == "1.4"
    )
    assert cut["truncated"] is True and cut["request_id"] == "r-cut" and cut["service"] == "churn"
    assert isinstance(cut["raw"], str) and len(cut["raw"]) == 8192


@pytest.mark.parametrize("fmt", datasets.FORMATS)
def test_every_format_round_trips_the_same_rows(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    assert datasets.write_dataset(path, fmt, _rows()) == 3
    back = list(datasets.read_rows(path))
    assert [r["request_id"] for r in back] == ["r1", "r2", "r-cut"]
    assert back[0]["input"] == {"data": [[1, 2]]} and back[0]["time"] == "2026-11-20T10:00:00.123456Z"
    assert back[2]["truncated"] is True and back[1]["truncated"] is False
    assert not list(tmp_path.glob(".*")), "no temp file left behind"


def test_a_failing_row_source_leaves_no_file(tmp_path: Path) -> None:
    def rows():
        yield _rows()[0]
        raise KeyboardInterrupt

    path = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        datasets.write_dataset(path, "parquet", rows())
    assert list(tmp_path.iterdir()) == []


def test_resume_keeps_finished_parts_and_refuses_other_options(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    params = {"targets": [], "since": "7d", "until": None, "schema": "classic", "format": "jsonl"}
    first = datasets.DatasetOutput(path, "jsonl", params, resume=False)
    first.write_part("part-000000", _rows()[:1], {"start": "a", "end": "b"})
    # a crash here (its lock goes with its process); the next run with --resume sees the finished part
    first.release()
    again = datasets.DatasetOutput(path, "jsonl", params, resume=True)
    assert again.done("part-000000") and again.rows_done == 1
    with pytest.raises(UsageError):
        datasets.DatasetOutput(path, "jsonl", {**params, "since": "1d"}, resume=True)
    again.write_part("part-000001", _rows()[1:], {"start": "b", "end": "c"})
    assert again.finish() == 3 and not again.parts_dir.exists()
    assert [r["request_id"] for r in datasets.read_rows(path)] == ["r1", "r2", "r-cut"]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1), (2, 1, 0)])
def test_an_output_assembled_while_written_equals_one_joined_at_the_end(
    tmp_path: Path, fmt: str, order: tuple[int, ...]
) -> None:
    """assemble_while_writing gives the very file finish() joins from the parts, a resumed run's parts
    in their place, and parts written out of order (it gives up) too."""
    params = {"targets": [], "format": fmt}
    rows = _rows()

    def pulled(name: str, assemble: bool) -> list[dict[str, Any]]:
        path = tmp_path / f"{name}.{fmt}"
        earlier = datasets.DatasetOutput(path, fmt, params, resume=False)
        earlier.write_part("part-000001", rows[1:2], {})  # an interrupted run's part, between the others
        earlier.release()  # as interrupted() does
        out = datasets.DatasetOutput(path, fmt, params, resume=True)
        if assemble:
            out.assemble_while_writing()
            assert (tmp_path / f".{path.name}.amlmon-tmp").exists()  # the control: written as it goes
        for index in order:
            if index != 1:
                out.write_part(f"part-00000{index}", rows[index : index + 1], {})
        assert out.finish() == 3 and not out.parts_dir.exists()
        assert not list(tmp_path.glob(".*amlmon-tmp"))
        return list(datasets.read_rows(path))

    assembled = pulled("assembled", True)
    assert [row["request_id"] for row in assembled] == ["r1", "r2", "r-cut"]
    assert assembled == pulled("joined", False)


@pytest.mark.parametrize("assemble", [True, False])
def test_a_part_written_from_slices_equals_one_written_from_its_table(tmp_path: Path, assemble: bool) -> None:
    """write_part_table takes a folder's Arrow rows as one table or as slices read once (a large folder,
    collector_fast.SLICE_ABOVE): the same file, the output assembled from the part's file."""
    import pyarrow.parquet as pq

    datasets.write_dataset(tmp_path / "rows.parquet", "parquet", _rows())
    table = pq.read_table(tmp_path / "rows.parquet")

    def pulled(name: str, rows: Any) -> Any:
        path = tmp_path / f"{name}.parquet"
        out = datasets.DatasetOutput(path, "parquet", {"format": "parquet"}, resume=False)
        if assemble:
            out.assemble_while_writing()
        assert out.write_part_table("part-000000", rows, {}) == 3
        assert out.finish() == 3
        return pq.read_table(path)

    sliced = pulled("sliced", iter([table.slice(0, 1), table.slice(1, 2)]))
    assert sliced.equals(pulled("whole", table)) and sliced.equals(table)


def test_a_dropped_assembly_leaves_the_parts_and_no_output(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    out = datasets.DatasetOutput(path, "parquet", {"format": "parquet"}, resume=False)
    out.assemble_while_writing()
    out.write_part("part-000000", _rows()[:1], {})
    tmp = tmp_path / ".out.parquet.amlmon-tmp"
    assert tmp.exists()  # the control
    out.drop_assembly()  # what an interrupted pull does
    out.release()
    assert not tmp.exists() and not path.exists() and out.done("part-000000")
    again = datasets.DatasetOutput(path, "parquet", {"format": "parquet"}, resume=True)
    again.assemble_while_writing()
    again.write_part("part-000001", _rows()[1:], {})
    assert again.finish() == 3
    assert [r["request_id"] for r in datasets.read_rows(path)] == ["r1", "r2", "r-cut"]
    out.discard()


def test_one_run_writes_an_out_and_a_killed_runs_lock_is_taken_over(tmp_path: Path) -> None:
    """While a DatasetOutput holds `path`, another is exit 2 and leaves its parts alone; a lock file left
    by a killed run (no one holds it) does not stop the next run, which deletes it when done."""
    path = tmp_path / "out.jsonl"
    first = datasets.DatasetOutput(path, "jsonl", {"format": "jsonl"}, resume=False)
    first.write_part("part-000000", _rows()[:1], {})
    for resume in (False, True):
        with pytest.raises(UsageError, match="another amlmon is writing --out"):
            datasets.DatasetOutput(path, "jsonl", {"format": "jsonl"}, resume=resume)
    assert first.done("part-000000")
    assert first.finish() == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    (tmp_path / ".out.jsonl.amlmon-lock").write_text("")  # a kill -9'd run's
    again = datasets.DatasetOutput(path, "jsonl", {"format": "jsonl"}, resume=False)
    again.write_part("part-000000", _rows(), {})
    assert again.finish() == 3 and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_format_from_extension() -> None:
    assert datasets.format_for(Path("a.PARQUET")) == "parquet"
    with pytest.raises(UsageError):
        datasets.format_for(Path("a.txt"))


def test_plan_merges_sparse_bins_and_splits_dense_ones() -> None:
    size = dt.timedelta(minutes=10)
    counts = {T0: 10, T0 + size: 10, T0 + 2 * size: 95, T0 + 3 * size: 1}
    plan = pull.plan_slices(T0, T0 + 4 * size, size, counts, target=40)
    assert plan[0].start == T0 and plan[0].end == T0 + 2 * size and plan[0].expected == 20
    dense = [s for s in plan if T0 + 2 * size <= s.start < T0 + 3 * size]
    assert len(dense) == 3 and all(s.expected <= 40 for s in dense)
    assert plan[-1].end == T0 + 4 * size
    for left, right in itertools.pairwise(plan):
        assert left.end == right.start, "slices tile the range without gaps or overlaps"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=300),
    st.integers(min_value=0, max_value=599),
)
def test_plan_tiles_any_range(bins: list[int], target: int, offset_s: int) -> None:
    size = dt.timedelta(minutes=10)
    start = T0 + dt.timedelta(seconds=offset_s)
    end = T0 + size * len(bins)
    counts = {T0 + size * i: n for i, n in enumerate(bins)}
    plan = pull.plan_slices(start, end, size, counts, target)
    assert plan[0].start == start and plan[-1].end == end
    for left, right in itertools.pairwise(plan):
        assert left.end == right.start


def test_export_blob_paths_both_layouts() -> None:
    diag = "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.INSIGHTS/COMPONENTS/W-AI/y=2026/m=11/d=20/h=10/m=00/PT1H.json"
    export = "WorkspaceResourceId=/subscriptions/s/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/w/y=2026/m=11/d=20/h=10/m=05/PT05M_1.json"
    assert extract.blob_hour(diag) == T0
    assert extract.blob_hour(export) == T0 + dt.timedelta(minutes=5)
    assert extract.blob_hour("y=2026/m=11/d=20/h=10/m=00/other.json") is None
    assert not extract.keep_blob(T0, T0 + dt.timedelta(days=2), None)
    assert extract.keep_blob(T0, T0 + dt.timedelta(hours=3), None), "late data lands in later folders"


def test_malformed_lines_are_counted_not_fatal() -> None:
    stats = extract.ExtractStats()
    record = {
        "time": "2026-11-20T10:00:00.0000000Z",
        "Type": "AppTraces",
        "Message": "model_data_collection",
        "AppRoleName": "churn",
        "Properties": _v15("r1", {"a": 1}),
    }
    lines = iter(["{not json", json.dumps(record), json.dumps({**record, "Message": "hello"}), "", "[1]"])
    rows = list(extract.rows_from_lines(lines, None, None, stats))
    assert len(rows) == 1 and stats.malformed == 2 and stats.skipped == 1 and stats.records == 2


def test_flatten_spec_takes_regular_shapes_only() -> None:
    rows = _rows()
    spec = datasets.flatten_spec(rows)
    assert spec["prediction[0]"] == ("prediction", "prediction[0]", "float")
    assert spec["input.data[0][0]"][2] == "int" and "input.data[0][1]" in spec
    flat = datasets.flatten_row(rows[1], spec)
    assert flat["input.data[0][0]"] == 3 and flat["prediction[0]"] == 1.0
    cut = datasets.flatten_row(rows[2], spec)
    assert cut["input.data[0][0]"] is None, "a truncated record gets no flattened values"
    irregular = [*rows, {**rows[0], "input": {"data": [[1, 2, 3]]}}]
    assert not [c for c in datasets.flatten_spec(irregular) if c.startswith("input")]


@pytest.mark.parametrize("fmt", datasets.FORMATS)
def test_finish_with_flatten_adds_columns_in_every_format(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    output = datasets.DatasetOutput(path, fmt, {"x": 1}, resume=False)
    output.write_part("part-000000", _rows()[:2], {})
    output.write_part("part-000001", _rows()[2:], {})
    assert output.finish(flatten=True) == 3
    assert sorted(output.flattened) == ["input.data[0][0]", "input.data[0][1]", "prediction[0]"]
    back = list(datasets.read_rows(path))
    assert str(back[0]["input.data[0][1]"]) == "2" and back[0]["time"] == "2026-11-20T10:00:00.123456Z"


@settings(max_examples=200, deadline=None)
@given(
    instants=st.lists(
        st.one_of(
            st.none(),
            st.datetimes(
                min_value=dt.datetime(1971, 1, 1),
                max_value=dt.datetime(2200, 1, 1),
                timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30))]),
            ),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_parquet_time_column_holds_each_instant_whatever_its_zone(instants: list[Any]) -> None:
    """The Parquet writer hands Arrow naive UTC datetimes (faster than aware ones): the same instants, a
    naive one read as UTC as before."""
    import tempfile

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.parquet"
        writer = datasets.ParquetRowWriter(path)
        writer.write({"time": when, "request_id": str(index)} for index, when in enumerate(instants))
        writer.close()
        stored = pq.read_table(path).column("time").to_pylist()
    for when, back in zip(instants, stored, strict=True):
        if when is None:
            assert back is None
        else:
            assert back == (when if when.tzinfo else when.replace(tzinfo=dt.UTC))


def test_a_csv_part_whose_value_holds_a_newline_is_appended_as_one_row(tmp_path: Path) -> None:
    from amlmon.datasets.writers import CsvRowWriter

    part = CsvRowWriter(tmp_path / "part.csv", header=False)
    part.write([{"request_id": "nl\nx", "input": {"a": "b\nc"}}, {"request_id": "plain"}])
    part.close()
    joined = CsvRowWriter(tmp_path / "all.csv")
    joined.append_file(tmp_path / "part.csv")
    joined.close()
    assert joined.rows == 2  # two records, four lines
    text = (tmp_path / "all.csv").read_text(encoding="utf-8")
    assert text.endswith((tmp_path / "part.csv").read_text(encoding="utf-8"))  # the part's very text


def test_arrow_rows_with_a_naive_time_are_written_as_utc_without_pyarrow_compute(tmp_path: Path) -> None:
    """DuckDB's rows carry a naive UTC time: written as the UTC column a cast gives, but without the cast
    (it imports pyarrow.compute: ~0.1 s and ~10 MB more for a pull). In a fresh interpreter, where the
    import is seen; the control: the cast itself imports it there."""
    import subprocess
    import sys

    # the rows as DuckDB gives them (pyarrow.array itself imports pyarrow.compute)
    script = """
import sys
import duckdb
from amlmon.datasets.writers import ParquetRowWriter, _arrow_schema
schema = _arrow_schema()
values = {"time": "TIMESTAMP '2026-11-30 09:01:02.345678'", "request_id": "'r1'", "models": "[]::VARCHAR[]",
          "truncated": "false"}
select = ", ".join(f"{values.get(f.name, 'NULL::VARCHAR')} AS {f.name}" for f in schema)
table = duckdb.sql(f"SELECT {select}").to_arrow_table()
writer = ParquetRowWriter(sys.argv[1])
writer.write_table(table)
writer.close()
print("pyarrow.compute" in sys.modules)
if sys.argv[2] == "cast":
    table.cast(schema)
    print("pyarrow.compute" in sys.modules)
"""
    for mode, expected in (("write", ["False"]), ("cast", ["False", "True"])):
        path = tmp_path / f"{mode}.parquet"
        ran = subprocess.run(
            [sys.executable, "-c", script, str(path), mode], capture_output=True, text=True, check=True
        )
        assert ran.stdout.split() == expected, ran.stderr
    import pyarrow.parquet as pq

    back = pq.read_table(tmp_path / "write.parquet")
    assert str(back.schema.field("time").type) == "timestamp[us, tz=UTC]"
    assert back.column("time")[0].as_py().isoformat() == "2026-11-30T09:01:02.345678+00:00"
