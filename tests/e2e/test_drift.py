"""`amlmon drift` end to end through the CLI: files with a known shift, quality faults, exit codes, the HTML
report, the monitor YAML against the published schema's fields, and windows pulled from the emulator."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import run_cli
from tests.schema_check import validate

ROWS = 3000
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "data" / "monitorSchedule.schema.json"


def _table(seed: int, shift: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Integer features 0..99: every value the current data can take is inside the baseline's bounds."""
    rng = np.random.default_rng(seed)
    columns = {name: rng.integers(0, 100, ROWS).astype(float) for name in ("a", "b", "c", "d")}
    for name, by in (shift or {}).items():
        columns[name] = columns[name] + by
    return columns


def _parquet(path: Path, columns: dict[str, Any]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _dataset(path: Path, columns: dict[str, np.ndarray], seed: int) -> Path:
    """An amlmon dataset (data pull's JSONL rows): {"data": [[a, b, c, d]]} inputs, one per record."""
    from amlmon.datasets import write_dataset

    names = list(columns)
    rng = np.random.default_rng(seed)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(ROWS):
        features = [float(columns[name][i]) for name in names]
        rows.append(
            {
                "time": base + dt.timedelta(seconds=i),
                "service": "churn",
                "request_id": f"r{i}",
                "models": ["churn:1"],
                "input": {"data": [features]},
                "prediction": [round(float(rng.random()) + (0.5 if seed == 99 else 0.0), 4)],
                "truncated": False,
                "generation": "1.5",
            }
        )
    write_dataset(path, "jsonl" if path.suffix == ".jsonl" else "parquet", rows)
    return path


def _drift(*args: str) -> Any:
    return run_cli(["drift", *args, "-o", "json"])


def _breached(rows: list[dict[str, Any]], signal: str) -> set[str]:
    return {row["feature"] for row in rows if row["breached"] and row["signal"] == signal}


def test_a_feature_shifted_by_a_known_amount_is_exactly_the_one_that_drifted(tmp_path: Path) -> None:
    baseline = _parquet(tmp_path / "train.parquet", _table(1))
    current = _parquet(tmp_path / "recent.parquet", _table(2, {"c": 25}))
    result = _drift("--baseline", str(baseline), "--current", str(current))
    assert result.exit_code == 1, result.stderr
    rows = result.json()
    assert _breached(rows, "data_drift") == {"c"}
    nwd = {r["feature"]: r["value"] for r in rows if r["metric"] == "normalized_wasserstein_distance"}
    # a shift of 25 on a uniform 0..99 feature (sd ≈ 28.9): W1 = 25, normalized ≈ 0.87
    assert nwd["c"] == pytest.approx(25 / np.std(_table(1)["c"], ddof=1), abs=0.05)
    assert all(nwd[name] < 0.1 for name in "abd")
    # the shift also moved values past the baseline's maximum: a quality breach of c alone
    assert _breached(rows, "data_quality") == {"c"}


def test_identical_distributions_pass_the_gate(tmp_path: Path) -> None:
    baseline = _parquet(tmp_path / "train.parquet", _table(1))
    current = _parquet(tmp_path / "recent.parquet", _table(3))
    result = _drift("--baseline", str(baseline), "--current", str(current))
    assert result.exit_code == 0, result.stdout
    rows = result.json()
    assert {r["feature"] for r in rows} == {"a", "b", "c", "d"} and not any(r["breached"] for r in rows)


def test_model_data_datasets_name_positional_features_and_show_the_same_shift(tmp_path: Path) -> None:
    baseline = _dataset(tmp_path / "base.jsonl", _table(1), 1)
    current = _dataset(tmp_path / "cur.parquet", _table(2, {"b": 30}), 2)
    named = _drift(
        "--baseline", str(baseline), "--current", str(current), "--features", "age,income,tenure,calls"
    )
    assert named.exit_code == 1, named.stderr
    assert _breached(named.json(), "data_drift") == {"income"}
    positional = _drift("--baseline", str(baseline), "--current", str(current))
    assert {r["feature"] for r in positional.json()} == {"0", "1", "2", "3"}
    assert _breached(positional.json(), "data_drift") == {"1"}


def test_outputs_compare_predictions(tmp_path: Path) -> None:
    baseline = _dataset(tmp_path / "base.jsonl", _table(1), 1)
    shifted = _dataset(tmp_path / "shifted.jsonl", _table(2), 99)  # predictions + 0.5
    same = _dataset(tmp_path / "same.jsonl", _table(2), 2)
    result = _drift("--baseline", str(baseline), "--current", str(shifted), "--outputs")
    assert result.exit_code == 1
    assert _breached(result.json(), "prediction_drift") == {"prediction"}
    calm = _drift(
        "--baseline",
        str(baseline),
        "--current",
        str(same),
        "--outputs",
        "--threshold",
        "out_of_bounds_rate=0.01",
    )
    assert calm.exit_code == 0 and {r["signal"] for r in calm.json()} == {"prediction_drift", "data_quality"}


def test_quality_faults_are_reported_by_the_right_metric(tmp_path: Path) -> None:
    header = ["nulls", "strings", "range", "plan"]
    rng = np.random.default_rng(5)

    def write(path: Path, faulty: bool) -> Path:
        with open(path, "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(header)
            for i in range(ROWS):
                row: list[Any] = [int(v) for v in rng.integers(0, 100, 3)] + [["basic", "pro"][i % 2]]
                if faulty and i < 30:
                    row[0] = ""  # a null
                    row[1] = "n/a"  # a string in a numeric column
                    row[2] = 120  # past the baseline's maximum (99), too few to move the distribution
                out.writerow(row)
        return path

    baseline, current = write(tmp_path / "train.csv", False), write(tmp_path / "recent.csv", True)
    result = _drift("--baseline", str(baseline), "--current", str(current))
    assert result.exit_code == 1
    rows = result.json()
    breached = {(r["feature"], r["metric"]) for r in rows if r["breached"]}
    assert breached == {
        ("nulls", "null_value_rate"),
        ("strings", "data_type_error_rate"),
        ("range", "out_of_bounds_rate"),
    }
    rates = {(r["feature"], r["metric"]): r["value"] for r in rows}
    assert rates[("nulls", "null_value_rate")] == pytest.approx(30 / ROWS)
    assert rates[("strings", "data_type_error_rate")] == pytest.approx(30 / ROWS)
    assert rates[("range", "out_of_bounds_rate")] == pytest.approx(30 / ROWS)
    assert {r["kind"] for r in rows if r["feature"] == "plan"} == {"categorical"}
    # a threshold above the fault rate lets it pass: the gate is the thresholds, not the faults
    relaxed = _drift(
        "--baseline", str(baseline), "--current", str(current), *("--threshold", "null_value_rate=0.02"),
        *("--threshold", "data_type_error_rate=0.02"), *("--threshold", "numerical.out_of_bounds_rate=0.02"),
    )  # fmt: skip
    assert relaxed.exit_code == 0, relaxed.stdout


def test_categorical_override_and_category_shift(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    base = {"tier": rng.choice([1, 2, 3], ROWS, p=[0.6, 0.3, 0.1]), "x": rng.integers(0, 100, ROWS)}
    cur = {"tier": rng.choice([1, 2, 3], ROWS, p=[0.2, 0.3, 0.5]), "x": rng.integers(0, 100, ROWS)}
    baseline, current = _parquet(tmp_path / "b.parquet", base), _parquet(tmp_path / "c.parquet", cur)
    result = _drift("--baseline", str(baseline), "--current", str(current), "--categorical", "tier")
    assert result.exit_code == 1
    rows = result.json()
    assert {r["kind"] for r in rows if r["feature"] == "tier"} == {"categorical"}
    assert _breached(rows, "data_drift") == {"tier"}
    assert {r["metric"] for r in rows if r["feature"] == "tier" and r["signal"] == "data_drift"} == {
        "jensen_shannon_distance",
        "population_stability_index",
        "pearsons_chi_squared_test",
    }


def test_usage_errors_and_nothing_to_compare(tmp_path: Path) -> None:
    baseline = _parquet(tmp_path / "train.parquet", _table(1))
    empty = _parquet(tmp_path / "empty.parquet", {k: v[:0] for k, v in _table(1).items()})
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not a parquet file")  # unreadable as its format: bad input too, exit 2
    cases = [
        (["--baseline", str(baseline), "--current", str(empty)], 6, "no rows"),
        (["--baseline", str(baseline), "--current", str(baseline), "--features", "a,zz"], 2, "'zz' is not in"),
        (["--baseline", str(baseline), "--current", str(baseline), "--threshold", "psi=0.1"], 2, "unknown metric"),
        (["--baseline", str(baseline), "--current", str(baseline), "--threshold", "jensen_shannon_distance=x"], 2, "not a number"),
        (["--baseline", str(tmp_path / "missing.parquet"), "--current", str(baseline)], 2, f"{str(tmp_path / 'missing.parquet')!r} does not exist"),
        (["--baseline", str(baseline), "--current", str(tmp_path / "gone.csv")], 2, f"{str(tmp_path / 'gone.csv')!r} does not exist"),
        (["--baseline", str(baseline), "--current", str(garbage)], 2, f"cannot read {str(garbage)!r}"),
        (["--baseline", "14d..7d"], 2, "which service or deployment"),
        (["--baseline", "yesterday", "--current", str(baseline)], 2, "is not a time"),
    ]  # fmt: skip
    for args, code, text in cases:
        result = _drift(*args)
        assert result.exit_code == code, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith("error: ") and text in lines[0], result.stderr
        assert lines[1].startswith("hint: ") and "Traceback" not in result.stderr


def test_html_report_has_one_plot_per_feature_and_is_never_overwritten_silently(tmp_path: Path) -> None:
    baseline = _parquet(tmp_path / "train.parquet", _table(1))
    current = _parquet(tmp_path / "recent.parquet", _table(2, {"a": 40}))
    report = tmp_path / "drift.html"
    assert (
        _drift("--baseline", str(baseline), "--current", str(current), "--report", str(report)).exit_code == 1
    )
    text = report.read_text()
    svgs = re.findall(
        r'<div class="feature" data-feature="([^"]+)"><h2>.*?</h2>\s*<svg class="histogram"', text
    )
    assert svgs == ["a", "b", "c", "d"]
    assert text.count("<rect ") >= 4 * 2 * 2  # baseline and current bars for every feature
    # self-contained: nothing to fetch (the SVG namespace is a name, not a download)
    assert not re.search(r"(src|href)=|<script|@import|url\(", text)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    report.write_text("keep me")
    again = _drift("--baseline", str(baseline), "--current", str(current), "--report", str(report))
    assert again.exit_code == 2 and "already exists" in again.stderr and report.read_text() == "keep me"
    replaced = _drift(
        "--baseline", str(baseline), "--current", str(current), "--report", str(report), "--overwrite"
    )
    assert replaced.exit_code == 1 and report.read_text().startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob(".*amlmon-tmp"))


def test_table_output_shows_each_feature_with_a_histogram(tmp_path: Path) -> None:
    baseline = _parquet(tmp_path / "train.parquet", _table(1))
    current = _parquet(tmp_path / "recent.parquet", _table(2, {"d": 30}))
    result = run_cli(["drift", "--baseline", str(baseline), "--current", str(current), "-o", "table"])
    assert result.exit_code == 1
    assert re.search(r"d \(numerical\)\s+BREACHED", result.stdout)
    assert not re.search(r"a \(numerical\)\s+BREACHED", result.stdout)
    assert result.stdout.count("baseline ") >= 4 and re.search(r"current  [▁▂▃▄▅▆▇█ ]+", result.stdout)


def test_emitted_monitor_validates_against_the_schedule_schema(tmp_path: Path) -> None:
    baseline = _parquet(tmp_path / "train.parquet", _table(1))
    current = _parquet(tmp_path / "recent.parquet", _table(2))
    monitor = tmp_path / "monitor.yml"
    result = _drift(
        "credit-ep/blue", "--baseline", str(baseline), "--current", str(current),
        "--emit-monitor", str(monitor), "--threshold", "numerical.jensen_shannon_distance=0.2",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = yaml.safe_load(monitor.read_text())
    schema = json.loads(SCHEMA_FILE.read_text())
    assert validate(document, schema) == []
    create = document["create_monitor"]
    assert create["monitoring_target"] == {"endpoint_deployment_id": "azureml:credit-ep:blue"}
    drift_signal = create["monitoring_signals"]["data_drift"]
    assert drift_signal["features"] == ["a", "b", "c", "d"]
    assert drift_signal["metric_thresholds"] == {
        "numerical": {"normalized_wasserstein_distance": 0.1, "jensen_shannon_distance": 0.2}
    }
    quality = create["monitoring_signals"]["data_quality"]["metric_thresholds"]["numerical"]
    assert quality == {"null_value_rate": 0.0, "data_type_error_rate": 0.0, "out_of_bounds_rate": 0.0}
    # a negative control: the validator does reject what the schema forbids
    broken = {**document, "create_monitor": {**create, "monitoring_signals": {"x": {"type": "drift"}}}}
    assert validate(broken, schema)


# ------------------------------------------------------------------------------------------------
# Windows: a seeded v1 service's model data, pulled like `data pull` and cached
# ------------------------------------------------------------------------------------------------
def test_windows_are_pulled_once_then_read_from_the_cache(cli: Any, emulator: Any, tmp_path: Path) -> None:
    ws = emulator.create_workspace("drift", services=[{"name": "churn", "computeType": "ACI"}])
    seeded = emulator.seed(ws, ["churn"], hours=4, ratePerMinute=10, generation="1.4", seed=18)
    assert int(seeded["truth"]["churn"]["modelData"]) > 2000
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def iso(hours_ago: float) -> str:
        return (now - dt.timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    args = [
        "drift", "churn", *ws["scope"], "--baseline", f"{iso(4.5)}..{iso(2)}", "--current", f"{iso(2)}..{iso(0)}",
        "--threshold", "out_of_bounds_rate=0.05", "-o", "json",
    ]  # fmt: skip
    env = {"AMLMON_CACHE_DIR": str(tmp_path / "cache")}
    before = emulator.last_seq()
    first = cli(*args, env=env)
    rows = first.json()
    assert first.exit_code == 0, "\n".join(f"{r['feature']} {r['metric']} {r['value']}" for r in rows)
    # {"data": [[four uniform 0..10 values]]}: four positional features, both halves alike
    assert {r["feature"] for r in rows} == {"0", "1", "2", "3"}
    assert all(r["value"] < 0.1 for r in rows if r["metric"] == "normalized_wasserstein_distance")
    queried = [e for e in emulator.requests_since(before) if str(e.get("path", "")).endswith("/query")]
    assert queried, "the first run pulls both windows through the query API"
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 2

    before = emulator.last_seq()
    second = cli(*args, env=env)
    assert second.exit_code == 0 and second.json() == rows
    assert not [e for e in emulator.requests_since(before) if str(e.get("path", "")).endswith("/query")]


def test_drift_help_imports_no_statistics_or_azure_modules() -> None:
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    script = (
        "import sys\nfrom amlmon.cli.app import run\nrun(['drift', '--help'])\n"
        "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'scipy', 'azure', 'pyarrow', 'duckdb'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert "--baseline" in result.stdout
    assert result.stdout.rsplit("LOADED=", 1)[1].strip() == ""


def _model_data_envelope(
    ikey: str, at: dt.datetime, request_id: str, features: list[float]
) -> dict[str, Any]:
    """A 1.5.x model_data_collection trace as azureml-inference-server-http's exporter posts it."""
    inner = repr(
        {
            "Container Id": "ctr-drift",
            "Request Id": request_id,
            "Client Request Id": "",
            "Workspace Name": "ws",
            "Service Name": "churn",
            "Models": ("churn-model:1",),
            "Input": json.dumps(json.dumps({"data": [features]})),
            "Prediction": json.dumps([0.5]),
        }
    )
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "iKey": ikey,
        "tags": {"ai.cloud.role": "churn", "ai.cloud.roleInstance": "host-1", "ai.operation.id": "0" * 32},
        "data": {
            "baseType": "MessageData",
            "baseData": {
                "ver": 2,
                "message": "model_data_collection",
                "properties": {"custom_dimensions": inner},
            },
        },
    }


def test_a_services_recent_inputs_with_one_shifted_feature_drift_exactly_there(
    cli: Any, emulator: Any, tmp_path: Path
) -> None:
    ws = emulator.create_workspace("drift-shift", services=[{"name": "churn", "computeType": "ACI"}])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rng = np.random.default_rng(18)
    envelopes = []
    for i in range(1600):
        recent = i % 2 == 1
        at = now - dt.timedelta(minutes=float(rng.uniform(1, 59) if recent else rng.uniform(121, 179)))
        features = [round(float(v), 3) for v in rng.uniform(0, 10, 4)]
        if recent:
            features[2] += 3.0  # the known shift: ~1 baseline standard deviation (10/√12 ≈ 2.9)
        envelopes.append(_model_data_envelope(ws["instrumentationKey"], at, f"r-{i}", features))
    status, body = emulator.admin(
        "POST",
        "/_emulator/telemetry/rows",
        {"instrumentationKey": ws["instrumentationKey"], "envelopes": envelopes},
    )
    assert status == 200, body

    def iso(minutes_ago: int) -> str:
        return (now - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    result = cli(
        "drift", "churn", *ws["scope"], "--baseline", f"{iso(180)}..{iso(120)}", "--current", f"{iso(60)}..{iso(0)}",
        "--features", "tenure,charges,calls,age", "--threshold", "out_of_bounds_rate=0.05", "-o", "json",
        env={"AMLMON_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    rows = result.json()
    assert _breached(rows, "data_drift") == {"calls"}
    nwd = {r["feature"]: r["value"] for r in rows if r["metric"] == "normalized_wasserstein_distance"}
    assert nwd["calls"] == pytest.approx(3.0 / (10 / 12**0.5), rel=0.15)


def test_outputs_of_a_training_table_are_the_columns_named(tmp_path: Path) -> None:
    base, cur = _table(1), _table(2, {"d": 30})
    baseline, current = _parquet(tmp_path / "b.parquet", base), _parquet(tmp_path / "c.parquet", cur)
    unnamed = _drift("--baseline", str(baseline), "--current", str(current), "--outputs")
    assert unnamed.exit_code == 2 and "which columns" in unnamed.stderr and "hint: " in unnamed.stderr
    named = _drift("--baseline", str(baseline), "--current", str(current), "--outputs", "--features", "d")
    assert named.exit_code == 1 and _breached(named.json(), "prediction_drift") == {"d"}
    assert {r["feature"] for r in named.json()} == {"d"}


def test_fewer_feature_names_than_positional_columns_is_a_usage_error(tmp_path: Path) -> None:
    # Four positional columns named by three: the fourth used to drop out of the gate without a word.
    baseline = _dataset(tmp_path / "base.jsonl", _table(1), 1)
    current = _dataset(tmp_path / "cur.jsonl", _table(2, {"d": 30}), 2)
    result = _drift("--baseline", str(baseline), "--current", str(current), "--features", "age,income,tenure")
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: --features names 3 columns but the input of ") and "has 4" in lines[0]
    assert lines[1].startswith("hint: name all 4 columns in order") and len(lines) == 2
    # Positive control: all four names, and the shifted fourth column is the one that breaches.
    named = _drift(
        "--baseline", str(baseline), "--current", str(current), "--features", "age,income,tenure,calls"
    )
    assert named.exit_code == 1 and _breached(named.json(), "data_drift") == {"calls"}


def test_an_unknown_target_is_not_found_and_overlapping_windows_are_refused(cli: Any, emulator: Any) -> None:
    ws = emulator.create_workspace("drift", services=[{"name": "churn", "computeType": "ACI"}])
    unknown = cli("drift", "chrun", *ws["scope"], "--baseline", "14d..7d", "-o", "json")
    assert unknown.exit_code == 3, unknown.stdout + unknown.stderr
    assert "'chrun'" in unknown.stderr and "did you mean churn" in unknown.stderr
    # `--baseline 1h` and the default `--current 1d` share the last hour: the same rows would "pass".
    overlap = cli("drift", "churn", *ws["scope"], "--baseline", "1h", "-o", "json")
    assert overlap.exit_code == 2, overlap.stdout + overlap.stderr
    lines = overlap.stderr.strip().splitlines()
    assert (
        lines[0]
        == "error: --baseline 1h and --current 1d (the default) overlap: both would read the same rows"
    )
    assert lines[1].startswith("hint: give both windows") and len(lines) == 2
    explicit = cli("drift", "churn", *ws["scope"], "--baseline", "3h..1h", "--current", "2h", "-o", "json")
    assert explicit.exit_code == 2 and "overlap" in explicit.stderr
    # Positive control: windows apart pass the checks and get as far as reading (no rows: exit 6).
    apart = cli("drift", "churn", *ws["scope"], "--baseline", "14d..7d", "-o", "json")
    assert apart.exit_code == 6 and "no rows to compare" in apart.stderr, apart.stderr


@pytest.mark.parametrize("option", ["--report", "--emit-monitor"])
def test_report_or_monitor_to_stdout_dash_is_refused_not_a_file_named_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """`--report -` (stdout, as --out - is refused) wrote a file named `-` and exited 1 as the gate."""
    baseline = _parquet(tmp_path / "train.parquet", _table(1))
    current = _parquet(tmp_path / "recent.parquet", _table(2, {"a": 40}))
    monkeypatch.chdir(tmp_path)
    result = _drift("--baseline", str(baseline), "--current", str(current), option, "-")
    assert result.exit_code == 2, result.stderr
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"error: {option} - (stdout) is not supported"), result.stderr
    assert hint.startswith("hint: give a file name") and not (tmp_path / "-").exists()
    control = _drift("--baseline", str(baseline), "--current", str(current), option, "./d.out")
    assert control.exit_code == 1 and (tmp_path / "d.out").is_file(), control.stderr


def test_a_monitor_to_a_device_is_hinted_as_yaml(tmp_path: Path) -> None:
    """The hint named '--emit-monitor ./null.html' for /dev/null: a monitor definition is YAML."""
    baseline = _parquet(tmp_path / "train.parquet", _table(1))
    current = _parquet(tmp_path / "recent.parquet", _table(2))
    result = _drift("--baseline", str(baseline), "--current", str(current), "--emit-monitor", "/dev/null")
    assert result.exit_code == 2 and "e.g. --emit-monitor ./null.yml," in result.stderr, result.stderr
