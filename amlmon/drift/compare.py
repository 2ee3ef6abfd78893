"""Baseline vs current: per feature, its kind, the drift and data-quality metrics, the gate's verdict."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amlmon.drift import stats
from amlmon.drift.inputs import NUMBER, FeatureValues, FileSource, Values
from amlmon.errors import AmlmonError, UsageError

EXIT_NOT_EVALUATED = 6  # as `check`: the gate could not be evaluated (no rows to compare)
TOP_CATEGORIES = 8
PARALLEL_FEATURES = 2
# --threshold spellings Azure ML's documents use for the same metric
ALIASES = {"chi_squared_test": stats.CHI2}


class NothingToCompare(AmlmonError):
    exit_code = EXIT_NOT_EVALUATED


@dataclass
class Thresholds:
    """Metric thresholds per feature kind: Azure ML's defaults, then --threshold overrides."""

    values: dict[tuple[str, str], float] = field(default_factory=lambda: dict(stats.DEFAULT_THRESHOLDS))

    @classmethod
    def parse(cls, specs: Sequence[str]) -> Thresholds:
        thresholds = cls()
        for spec in specs:
            kinds, metric, value = _parse_threshold(spec)
            for kind in kinds:
                if kind in stats.DRIFT_METRICS and (
                    metric in stats.DRIFT_METRICS[kind] or metric in stats.QUALITY_METRICS
                ):
                    thresholds.values[(kind, metric)] = value
        return thresholds

    def get(self, kind: str, metric: str) -> float | None:
        return self.values.get((kind, metric))


def _parse_threshold(spec: str) -> tuple[tuple[str, ...], str, float]:
    example = (
        "e.g. --threshold normalized_wasserstein_distance=0.2 or categorical.jensen_shannon_distance=0.05"
    )
    name, sep, text = spec.partition("=")
    if not sep:
        raise UsageError(f"--threshold {spec!r} is not METRIC=VALUE", hint=example)
    kind, dot, metric = name.strip().rpartition(".")
    metric = ALIASES.get(metric, metric)
    if metric not in stats.ALL_METRICS:
        from amlmon.targets import suggest

        close = suggest(metric, stats.ALL_METRICS)
        raise UsageError(
            f"--threshold: unknown metric {metric!r}",
            hint=f"did you mean {', '.join(close)}?" if close else f"one of {', '.join(stats.ALL_METRICS)}",
        )
    if dot and kind not in (stats.NUMERICAL, stats.CATEGORICAL):
        raise UsageError(f"--threshold: {kind!r} is not numerical or categorical", hint=example)
    fraction = metric in stats.QUALITY_METRICS or metric in stats.P_VALUE_METRICS
    percent = fraction and text.strip().endswith("%")
    try:
        value = float(text.strip().removesuffix("%")) / 100 if percent else float(text)
    except ValueError:
        raise UsageError(f"--threshold {spec!r}: {text!r} is not a number", hint=example) from None
    if not value >= 0:  # also NaN
        raise UsageError(f"--threshold {spec!r}: the value must be 0 or more", hint=example)
    if fraction and value > 1:
        # a rate or a p-value is a fraction: null_value_rate=5 (meant 5%) would never breach, and a
        # p-value threshold above 1 would always breach
        what = "a p-value" if metric in stats.P_VALUE_METRICS else "a rate"
        raise UsageError(
            f"--threshold {spec!r}: {metric} is {what}, between 0 and 1",
            hint=f"give a fraction or a percentage, e.g. {metric}=0.05 or {metric}=5%",
        )
    kinds = (kind,) if dot else (stats.NUMERICAL, stats.CATEGORICAL)
    if not any(metric in stats.DRIFT_METRICS[k] or metric in stats.QUALITY_METRICS for k in kinds):
        raise UsageError(f"--threshold: {metric} does not apply to {kind} features", hint=example)
    return kinds, metric, value


@dataclass
class Options:
    features: Sequence[str] = ()  # --features: which to compare; also the names of positional columns
    categorical: Sequence[str] = ()
    outputs: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)


def compare(baseline: FileSource, current: FileSource, options: Options) -> dict[str, Any]:
    """The drift report: both inputs' summaries, one entry per feature, and whether any metric breached."""
    wanted = list(options.features) or None
    names = list(options.features)
    if options.outputs and wanted is None and not baseline.is_dataset:
        # a training table holds inputs and outputs side by side: only the user knows which are outputs
        if "prediction" not in baseline.columns:
            raise UsageError(
                f"--outputs: which columns of {baseline.label} are the model's outputs?",
                hint="name them with --features, e.g. --outputs --features score",
            )
        wanted = ["prediction"]
    results: list[dict[str, Any]] = []
    _import_scipy_meanwhile()
    if baseline.columnar and current.columnar:
        # one column at a time: memory holds one feature of each input, not the whole table
        columns = wanted or baseline.columns
        _require_features(columns, baseline.columns, baseline.label)
        _require_shared(columns, current.columns, current.label)
        _require_categorical_compared(options.categorical, columns)

        def one(name: str) -> tuple[dict[str, Any], int, int]:
            b_values = baseline.read([name], options.categorical)
            c_values = current.read([name], options.categorical)
            _require_rows(b_values, baseline.label, c_values, current.label)
            return _feature(name, b_values, c_values, options), b_values.rows, c_values.rows

        done = _in_parallel(one, columns)
        results = [result for result, _b, _c in done]
        b_rows, c_rows = (done[0][1], done[0][2]) if done else (0, 0)
        summary = {"baseline": _summary(baseline, b_rows, 0), "current": _summary(current, c_rows, 0)}
    else:
        b_values = baseline.read(wanted, options.categorical, names, options.outputs)
        c_values = current.read(wanted, options.categorical, names, options.outputs)
        _require_rows(b_values, baseline.label, c_values, current.label)
        _require_every_column_named(names, ((b_values, baseline.label), (c_values, current.label)))
        columns = wanted or (_regular_features(b_values) if baseline.is_dataset else list(b_values.features))
        _require_features(columns, list(b_values.features), baseline.label)
        # a training table's own columns: reading makes an (empty) entry for every wanted feature
        found = (
            list(c_values.features) if current.is_dataset else (current.columns or list(c_values.features))
        )
        _require_shared(columns, found, current.label)
        _require_categorical_compared(options.categorical, columns)
        results = [_feature(name, b_values, c_values, options) for name in columns]
        summary = {
            "baseline": _summary(baseline, b_values.rows, b_values.skipped),
            "current": _summary(current, c_values.rows, c_values.skipped),
        }
    return {
        **summary,
        "signal": "prediction_drift" if options.outputs else "data_drift",
        "breached": any(m["breached"] for r in results for m in r["metrics"]),
        "features": results,
    }


_scipy_import: threading.Thread | None = None


def _import_scipy_meanwhile() -> None:
    """Import scipy's statistics on a thread of their own while the first features are read and sorted
    (Arrow's reads and numpy's sorts release the GIL): scipy.stats alone costs ~0.8 s of CPU at import,
    most of it building every distribution's docstring. Workers wait for it before their first scipy
    call (`_wait_for_scipy`), so no two threads import scipy modules at once."""
    global _scipy_import
    if _scipy_import is not None:
        return

    def load() -> None:
        try:
            import scipy.spatial.distance
            import scipy.special
            import scipy.stats  # noqa: F401
        except ImportError:  # the worker's own import reports it
            pass

    _scipy_import = threading.Thread(target=load, name="amlmon-import-scipy", daemon=True)
    _scipy_import.start()


def _wait_for_scipy() -> None:
    if _scipy_import is not None:
        _scipy_import.join()


def _in_parallel(work: Any, names: Sequence[str]) -> list[Any]:
    """`work` per feature, two at a time on a machine with two cores or more: numpy's sorts and
    Arrow's reads release the GIL. Two, not more: each feature in flight holds ~100 MB per million rows."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(PARALLEL_FEATURES, os.cpu_count() or 1, max(1, len(names)))
    if workers == 1:
        return [work(name) for name in names]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, names))


def _regular_features(values: Values) -> list[str]:
    """Features in at least half the baseline's rows: a rare extra-wide input does not add thousands."""
    return [name for name, found in values.features.items() if found.present * 2 >= values.rows]


def _summary(source: FileSource, rows: int, skipped: int) -> dict[str, Any]:
    return {"source": source.label, "rows": rows, "skipped": skipped}


def _require_rows(baseline: Values, b_label: str, current: Values, c_label: str) -> None:
    for values, label in ((baseline, b_label), (current, c_label)):
        if values.rows == 0:
            raise NothingToCompare(
                f"{label} has no rows to compare",
                hint="choose a window with traffic, or a file with model inputs",
            )


def _require_every_column_named(names: Sequence[str], inputs: Sequence[tuple[Values, str]]) -> None:
    """Positional inputs: --features names their columns in order, all of them (fewer would leave
    the rest out of the gate without a word)."""
    for values, label in inputs:
        if names and values.unnamed_width > len(names):
            raise UsageError(
                f"--features names {len(names)} columns but the input of {label} has "
                f"{values.unnamed_width} (by position)",
                hint=f"name all {values.unnamed_width} columns in order, e.g. --features "
                + ",".join([*names, *(f"col{i}" for i in range(len(names), values.unnamed_width))]),
            )


def _require_features(wanted: Sequence[str], found: Sequence[str], label: str) -> None:
    missing = [name for name in wanted if name not in found]
    if not found:
        raise NothingToCompare(
            f"{label} has no features", hint="check the file: no columns or inputs were found"
        )
    if missing:
        from amlmon.targets import suggest

        close = suggest(missing[0], found)
        raise UsageError(
            f"feature {missing[0]!r} is not in {label}",
            hint=f"did you mean {', '.join(close)}?" if close else f"its features: {', '.join(found[:20])}",
        )


def _require_categorical_compared(categorical: Sequence[str], columns: Sequence[str]) -> None:
    """A --categorical name that is no compared feature (a typo) would leave the feature it meant numerical
    without a word: refused, as --features is."""
    unknown = [name for name in categorical if name not in columns]
    if not unknown:
        return
    from amlmon.targets import suggest

    close = suggest(unknown[0], list(columns))
    raise UsageError(
        f"--categorical {unknown[0]!r} is not one of the features compared",
        hint=f"did you mean {', '.join(close)}?"
        if close
        else f"the features: {', '.join(list(columns)[:20])}",
    )


def _require_shared(wanted: Sequence[str], found: Sequence[str], label: str) -> None:
    """Current data with none of the compared features is two naming schemes (a training table's `a, b`
    against positional inputs' `0, 1`), not a feature that stopped arriving: every feature would fail
    null_value_rate and the gate would report a data quality fault that is not there."""
    if not wanted or not found or any(name in found for name in wanted):
        return
    shown = ", ".join(found[:20])
    named = list(found) if all(name.isdigit() for name in wanted) else list(wanted)
    raise UsageError(
        f"none of the features compared ({', '.join(wanted[:20])}) is in {label} (its features: {shown})",
        hint='positional inputs ({"data": [[…]]}) are named 0, 1, …: name their columns in order with '
        "--features, e.g. --features " + ",".join(named[:20]),
    )


def _feature(name: str, baseline: Values, current: Values, options: Options) -> dict[str, Any]:
    b = baseline.features.get(name) or FeatureValues(name)
    c = current.features.get(name) or FeatureValues(name)
    expected = b.main_type()
    kind = stats.CATEGORICAL if name in options.categorical or expected != NUMBER else stats.NUMERICAL
    drift: dict[str, float | None]
    if kind == stats.NUMERICAL:
        drift, histogram, out_of_bounds = _numerical(b, c)
    else:
        drift, histogram, out_of_bounds = _categorical(b, c, expected)
    rows = current.rows
    quality = {
        stats.NULL_RATE: (rows - c.present) / rows,
        stats.TYPE_ERROR_RATE: (c.present - c.types[expected]) / rows,
        stats.OUT_OF_BOUNDS_RATE: out_of_bounds / rows,
    }
    drift_signal = "prediction_drift" if options.outputs else "data_drift"
    metrics = [_metric(drift_signal, kind, m, v, options.thresholds) for m, v in drift.items()]
    metrics += [_metric("data_quality", kind, m, v, options.thresholds) for m, v in quality.items()]
    return {"feature": name, "kind": kind, "type": expected, "metrics": metrics, "histogram": histogram}


def _metric(
    signal: str, kind: str, metric: str, value: float | None, thresholds: Thresholds
) -> dict[str, Any]:
    threshold = thresholds.get(kind, metric)
    return {
        "signal": signal,
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "breached": stats.breached(metric, value, threshold),
    }


def _numerical(b: FeatureValues, c: FeatureValues) -> tuple[dict[str, float | None], dict[str, Any], int]:
    import numpy as np

    base, cur = b.numbers(), c.numbers()
    if not base.size or not cur.size:
        return dict.fromkeys(stats.DRIFT_METRICS[stats.NUMERICAL]), {}, 0
    base.sort()  # in place: the values are read for this comparison only
    cur.sort()
    _wait_for_scipy()
    result = stats.numerical_drift(base, cur, presorted=True)
    # both are sorted now: the bounds are the baseline's ends, the current values outside them its ends too
    low, high = float(base[0]), float(base[-1])
    out_of_bounds = int(
        np.searchsorted(cur, low, side="left") + cur.size - np.searchsorted(cur, high, side="right")
    )
    histogram = {
        "edges": result.edges,
        "baseline": result.baseline_counts,
        "current": result.current_counts,
        "bounds": [low, high],
    }
    return dict(result.values), histogram, out_of_bounds


def _categorical(
    b: FeatureValues, c: FeatureValues, expected: str
) -> tuple[dict[str, float | None], dict[str, Any], int]:
    base, cur = b.category_counts(expected), c.category_counts(expected)
    _wait_for_scipy()
    out_of_bounds = sum(count for text, count in cur.items() if text not in base)
    if not base or not cur:
        return dict.fromkeys(stats.DRIFT_METRICS[stats.CATEGORICAL]), {}, out_of_bounds
    categories, b_counts, c_counts = stats.aligned_counts(base, cur)
    shown = categories[:TOP_CATEGORIES]
    histogram = {
        "categories": shown,
        "baseline": [int(x) for x in b_counts[: len(shown)]],
        "current": [int(x) for x in c_counts[: len(shown)]],
        "other": [int(b_counts[len(shown) :].sum()), int(c_counts[len(shown) :].sum())],
    }
    return dict(stats.categorical_drift(base, cur)), histogram, out_of_bounds


def flat_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per feature and metric: what -o json/jsonl/tsv print."""
    return [
        {"feature": f["feature"], "kind": f["kind"], **metric}
        for f in report["features"]
        for metric in f["metrics"]
    ]
