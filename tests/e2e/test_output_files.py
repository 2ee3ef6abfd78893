"""Files amlmon writes (`data extract/pull --out`, `drift --report/--emit-monitor`) never replace what is
not a regular file, and are checked before any work: a new user's `--out /dev/stdout --overwrite` (or
`--report /dev/null --overwrite`, as root) once put a plain file in the place of the device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import CliResult, run_cli
from tests.e2e.test_data import _export_folder


def _one_error(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), stderr
    assert "unexpected" not in stderr and "Traceback" not in stderr
    return lines


def test_extract_with_overwrite_never_replaces_a_named_pipe_or_a_link_to_stdout(tmp_path: Path) -> None:
    root = _export_folder(tmp_path / "export")
    work = tmp_path / "work"
    work.mkdir()
    pipe = work / "pipe.jsonl"
    os.mkfifo(pipe)
    to_stdout = work / "stdout.jsonl"
    to_stdout.symlink_to("/proc/self/fd/1")
    for out, kind in ((pipe, "a named pipe"), (to_stdout, "a link to a stream (/dev, /proc)")):
        result = run_cli(["data", "extract", str(root), "--out", str(out), "--overwrite", "-o", "json"])
        assert result.exit_code == 2, result.stderr
        error, hint = _one_error(result.stderr)
        assert error.startswith(f"error: --out {str(out)!r} is {kind}, not a regular file"), error
        assert "a regular file" in hint
    assert stat.S_ISFIFO(pipe.lstat().st_mode), "the pipe is still a pipe"
    assert to_stdout.is_symlink() and os.readlink(to_stdout) == "/proc/self/fd/1"
    assert sorted(p.name for p in work.iterdir()) == ["pipe.jsonl", "stdout.jsonl"], "no temp file, no parts"
    # positive control: an existing regular file is replaced with --overwrite
    plain = work / "plain.jsonl"
    plain.write_text("old\n")
    replaced = run_cli(["data", "extract", str(root), "--out", str(plain), "--overwrite", "-o", "json"])
    assert replaced.exit_code == 0, replaced.stderr
    assert plain.read_text() != "old\n"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(7)
    baseline, current = tmp_path / "train.parquet", tmp_path / "recent.parquet"
    for path in (baseline, current):
        pq.write_table(pa.table({"a": rng.integers(0, 100, 200).astype(float)}), path)
    return baseline, current


def _drift(baseline: Path, current: Path, *args: str) -> CliResult:
    return run_cli(["drift", "--baseline", str(baseline), "--current", str(current), "-o", "none", *args])


def test_drift_report_with_overwrite_never_replaces_a_pipe_or_a_folder(tmp_path: Path) -> None:
    baseline, current = _files(tmp_path)
    pipe = tmp_path / "report.html"
    os.mkfifo(pipe)
    refused = _drift(baseline, current, "--report", str(pipe), "--overwrite")
    assert refused.exit_code == 2, refused.stderr
    assert _one_error(refused.stderr)[0].startswith(
        f"error: --report {str(pipe)!r} is a named pipe, not a regular file"
    )
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    folder = tmp_path / "reports"
    folder.mkdir()
    into_folder = _drift(baseline, current, "--emit-monitor", str(folder), "--overwrite")
    assert into_folder.exit_code == 2, into_folder.stderr
    assert _one_error(into_folder.stderr)[0] == (f"error: --emit-monitor {str(folder)!r} is a folder")
    assert list(folder.iterdir()) == []
    written = _drift(baseline, current, "--report", str(tmp_path / "ok.html"), "--overwrite")  # control
    assert written.exit_code == 0, written.stderr
    assert (tmp_path / "ok.html").read_text().startswith("<!DOCTYPE html>")


def test_drift_checks_both_files_before_writing_either(tmp_path: Path) -> None:
    baseline, current = _files(tmp_path)
    same = tmp_path / "out.html"
    both = _drift(
        baseline, current, "--report", str(same), "--emit-monitor", str(tmp_path / "." / "out.html")
    )
    assert both.exit_code == 2, both.stderr
    assert "name the same file" in _one_error(both.stderr)[0]
    assert not same.exists()
    taken = tmp_path / "monitor.yml"
    taken.write_text("mine\n")
    report = tmp_path / "report.html"
    late = _drift(baseline, current, "--report", str(report), "--emit-monitor", str(taken))
    assert late.exit_code == 2, late.stderr
    assert _one_error(late.stderr)[0] == f"error: {str(taken)!r} already exists"
    assert not report.exists(), "nothing written when one of the two files cannot be"
    assert taken.read_text() == "mine\n"


def test_a_training_table_against_positional_inputs_is_a_naming_error_not_a_quality_fault(
    tmp_path: Path,
) -> None:
    """Training data with named columns against model data whose inputs are positional ({"data": [[…]]}:
    features 0, 1, …) once failed every feature's null_value_rate (exit 1, "a data quality fault")."""
    from tests.e2e.test_drift import _dataset, _table

    columns = _table(1)
    training = tmp_path / "train.parquet"
    pq.write_table(pa.table(columns), training)  # columns a, b, c, d
    inputs = _dataset(tmp_path / "inputs.jsonl", _table(2), 2)  # the same values, positional
    for baseline, current, names in ((training, inputs, "a,b,c,d"), (inputs, training, "a,b,c,d")):
        result = run_cli(["drift", "--baseline", str(baseline), "--current", str(current), "-o", "json"])
        assert result.exit_code == 2, result.stderr
        error, hint = _one_error(result.stderr)
        assert error.startswith("error: none of the features compared (")
        assert hint.endswith(f"--features {names}"), hint
    # control: the names given, the same data compares and holds
    named = run_cli(
        [
            "drift",
            "--baseline",
            str(training),
            "--current",
            str(inputs),
            "--features",
            "a,b,c,d",
            "-o",
            "json",
        ]
    )
    assert named.exit_code == 0, named.stderr
    assert {row["feature"] for row in named.json()} == {"a", "b", "c", "d"}


def test_an_extract_that_finds_no_model_data_says_why(tmp_path: Path) -> None:
    """`data extract` of the wrong container, or of a window without files, once wrote an empty dataset
    and exited 0 without a word: a dataset of 0 rows passed for "no traffic"."""
    from tests.e2e.test_data import COMPONENT, _record

    root = _export_folder(tmp_path / "export")
    cases = {
        "outside": (
            [str(root), "--since", "2026-10-01T00:00:00Z", "--until", "2026-10-02T00:00:00Z"],
            f"warning: no model data: no export file of {root} is in the --since/--until window",
        ),
    }
    other = tmp_path / "requests" / f"resourceId={COMPONENT}/y=2026/m=11/d=20/h=10/m=00/PT1H.json"
    other.parent.mkdir(parents=True)
    other.write_text(
        _record("2026-11-20T10:07:00.0000000Z", "churn", {"code.function.name": "run"}, message="scoring")
        + "\n"
    )
    cases["not-model-data"] = (
        [str(tmp_path / "requests")],
        "warning: no model data: none of the 1 records in the 1 export file read is a model_data_collection trace",
    )
    for name, (args, expected) in cases.items():
        out = tmp_path / f"{name}.jsonl"
        result = run_cli(["data", "extract", *args, "--out", str(out), "-o", "json"])
        assert result.exit_code == 0, result.stderr
        assert result.json()["rows"] == 0 and out.read_text() == ""
        assert [line for line in result.stderr.splitlines() if line.startswith(expected)], result.stderr
    # control: the folder with model data says nothing of the kind
    full = run_cli(["data", "extract", str(root), "--out", str(tmp_path / "all.jsonl"), "-o", "json"])
    assert full.exit_code == 0 and full.json()["rows"] == 5, full.stderr
    assert "no model data" not in full.stderr


def test_a_categorical_name_that_is_no_feature_is_refused_not_ignored(tmp_path: Path) -> None:
    """`--categorical colour` for a feature named `color` once changed nothing, silently."""
    rng = np.random.default_rng(5)
    baseline, current = tmp_path / "train.parquet", tmp_path / "recent.parquet"
    for path in (baseline, current):
        pq.write_table(
            pa.table({"color": rng.integers(0, 4, 300).astype(float), "size": rng.random(300)}), path
        )
    args = ["drift", "--baseline", str(baseline), "--current", str(current), "-o", "json"]
    typo = run_cli([*args, "--categorical", "colour"])
    assert typo.exit_code == 2, typo.stderr
    assert _one_error(typo.stderr) == [
        "error: --categorical 'colour' is not one of the features compared",
        "hint: did you mean color?",
    ]
    right = run_cli([*args, "--categorical", "color"])  # control: the right name takes effect
    assert right.exit_code == 0, right.stderr
    kinds = {row["feature"]: row["kind"] for row in right.json()}
    assert kinds == {"color": "categorical", "size": "numerical"}


def test_a_rate_or_p_value_threshold_above_1_is_refused_and_a_percentage_is_taken(tmp_path: Path) -> None:
    """`--threshold null_value_rate=5` (meant 5%) once never breached — a gate that could not fail — and a
    p-value threshold of 2 always breached."""
    baseline, current = _files(tmp_path)
    pq.write_table(pa.table({"a": [None] * 20 + [1.0] * 180}), current)  # 10 % nulls
    args = ["drift", "--baseline", str(baseline), "--current", str(current), "-o", "json"]
    for spec, what in (
        ("null_value_rate=5", "a rate"),
        ("two_sample_kolmogorov_smirnov_test=2", "a p-value"),
        ("numerical.out_of_bounds_rate=150%", "a rate"),
    ):
        result = run_cli([*args, "--threshold", spec])
        assert result.exit_code == 2, result.stderr
        assert _one_error(result.stderr)[0].endswith(f"is {what}, between 0 and 1"), result.stderr
    for spec, breached in (("null_value_rate=5%", True), ("null_value_rate=0.2", False)):
        result = run_cli([*args, "--threshold", spec, "--threshold", "out_of_bounds_rate=1"])
        rows = [row for row in result.json() if row["metric"] == "null_value_rate"]
        assert rows[0]["threshold"] == float(spec.split("=")[1].rstrip("%")) / (100 if "%" in spec else 1)
        assert rows[0]["breached"] is breached, rows


def test_named_features_that_a_csv_current_lacks_entirely_are_a_naming_error(tmp_path: Path) -> None:
    """With --features, reading a CSV once made an empty entry for each name it lacked, so two tables
    without a shared name still failed every feature's null_value_rate."""
    baseline, current, partly = tmp_path / "train.csv", tmp_path / "recent.csv", tmp_path / "partly.csv"
    baseline.write_text("x,y\n" + "".join(f"{i},{i % 7}\n" for i in range(100)))
    current.write_text("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(100)))
    partly.write_text("x,b\n" + "".join(f"{i},{i % 7}\n" for i in range(100)))
    args = ["drift", "--baseline", str(baseline), "--features", "x,y", "-o", "json"]
    result = run_cli([*args, "--current", str(current)])
    assert result.exit_code == 2, result.stderr
    assert _one_error(result.stderr)[0] == (
        f"error: none of the features compared (x, y) is in {current} (its features: a, b)"
    )
    # control: one shared name is a comparison, and the missing one is the quality fault it is
    shared = run_cli([*args, "--current", str(partly)])
    assert shared.exit_code == 1, shared.stderr
    assert {(r["feature"], r["metric"]) for r in shared.json() if r["breached"]} == {("y", "null_value_rate")}


def test_an_extract_window_that_ends_before_it_starts_is_refused_as_pull_refuses_it(tmp_path: Path) -> None:
    """`data extract --since 1h --until 2h` once wrote an empty dataset, exit 0 (`data pull` says exit 2)."""
    root = _export_folder(tmp_path / "export")
    out = tmp_path / "md.jsonl"
    backwards = ["--since", "2026-11-20T11:00:00Z", "--until", "2026-11-20T10:00:00Z"]
    result = run_cli(["data", "extract", str(root), "--out", str(out), *backwards])
    assert result.exit_code == 2, result.stderr
    assert _one_error(result.stderr) == [
        "error: --since (2026-11-20T11:00:00+00:00) is not before --until (2026-11-20T10:00:00+00:00)",
        "hint: give an earlier --since or a later --until",
    ]
    assert not out.exists()
    forwards = ["--since", "2026-11-20T10:00:00Z", "--until", "2026-11-20T11:00:00Z"]  # control
    ok = run_cli(["data", "extract", str(root), "--out", str(out), *forwards, "-o", "json"])
    assert ok.exit_code == 0 and ok.json()["rows"] > 0, ok.stderr


def test_a_feature_without_values_on_one_side_is_said_to_be_unmeasured(tmp_path: Path) -> None:
    """A baseline column that is all empty gave drift metrics without a value — never a breach — and the
    gate held without a word."""
    baseline, current = tmp_path / "train.csv", tmp_path / "recent.csv"
    baseline.write_text("a,b\n" + "".join(f",{i % 5}\n" for i in range(50)))
    current.write_text("a,b\n" + "".join(f"{i},{i % 5}\n" for i in range(50)))
    result = run_cli(["drift", "--baseline", str(baseline), "--current", str(current), "-o", "json"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: no drift measured for a: the baseline or the current data has no value of it (only its data "
        "quality is checked)"
    ]
    control = run_cli(["drift", "--baseline", str(current), "--current", str(current), "-o", "json"])
    assert control.exit_code == 0 and control.stderr == "", control.stderr


def test_a_report_never_replaces_the_data_it_compares(tmp_path: Path) -> None:
    """`drift --baseline train.parquet … --report train.parquet --overwrite` once replaced the training data
    with the HTML report."""
    baseline, current = _files(tmp_path)
    before = baseline.read_bytes()
    for option in ("--report", "--emit-monitor"):
        result = _drift(baseline, current, option, str(baseline), "--overwrite")
        assert result.exit_code == 2, result.stderr
        assert _one_error(result.stderr)[0] == f"error: {option} {str(baseline)!r} is the --baseline file"
    assert baseline.read_bytes() == before
    result = _drift(baseline, current, "--report", str(tmp_path / "." / current.name), "--overwrite")
    assert result.exit_code == 2 and "is the --current file" in result.stderr, result.stderr


def test_a_query_that_fails_on_the_result_says_so_in_one_short_line(tmp_path: Path) -> None:
    """`--query "sort_by(@, &breached)"` compiles but meets booleans: it was called "not a valid JMESPath
    expression" and the line carried the whole offending row."""
    baseline, current = _files(tmp_path)
    args = ["drift", "--baseline", str(baseline), "--current", str(current), "-o", "tsv"]
    result = run_cli([*args, "--query", "sort_by(@, &breached)"])
    assert result.exit_code == 2, result.stderr
    error, _hint = _one_error(result.stderr)
    assert error == (
        "error: --query 'sort_by(@, &breached)' failed on the result: sort_by() expects string or number, "
        "got boolean"
    )
    control = run_cli([*args, "--query", "sort_by(@, &metric)[0].metric"])
    assert control.exit_code == 0 and control.stdout == "data_type_error_rate\n", control.stderr


def test_out_dash_is_refused_not_written_as_a_file_named_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`data extract … --out - --format jsonl` (stdout, as many tools spell it) once wrote a file named `-`."""
    root = _export_folder(tmp_path / "export")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = run_cli(["data", "extract", str(root), "--out", "-", "--format", "jsonl"])
    assert result.exit_code == 2, result.stderr
    assert _one_error(result.stderr)[0].startswith("error: --out - (stdout) is not supported")
    assert list(work.iterdir()) == []
    named = run_cli(["data", "extract", str(root), "--out", "md.jsonl", "-o", "json"])  # control
    assert named.exit_code == 0 and (work / "md.jsonl").exists(), named.stderr
