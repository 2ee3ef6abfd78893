"""`--emit-monitor monitor.yml`: the same check as an Azure ML model-monitor schedule.

The CLI (v2) schedule YAML for model monitoring (learn.microsoft.com, reference-yaml-monitor; JSON
schema at https://azuremlschemas.azureedge.net/latest/monitorSchedule.schema.json; examples in
Azure/azureml-examples cli/monitoring/): `monitoring_target.endpoint_deployment_id` names the
deployment, each signal lists its features and `metric_thresholds.numerical|categorical`, and the
production/reference windows are `data_window.lookback_window_offset|size` in ISO 8601 days. Create it
with `az ml schedule create -f monitor.yml`; it runs on Azure ML's serverless Spark.
"""

from __future__ import annotations

import re
from typing import Any

from amlmon.drift import stats
from amlmon.drift.compare import Thresholds
from amlmon.drift.windows import Window

SCHEMA_URL = "https://azuremlschemas.azureedge.net/latest/monitorSchedule.schema.json"
INSTANCE_TYPE = "standard_e4s_v3"
RUNTIME_VERSION = "3.3"


def _thresholds(
    thresholds: Thresholds, metrics_of: dict[str, tuple[str, ...]], kinds: set[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in (stats.NUMERICAL, stats.CATEGORICAL):
        if kind not in kinds:
            continue
        chosen = {m: thresholds.get(kind, m) for m in metrics_of[kind] if thresholds.get(kind, m) is not None}
        if chosen:
            out[kind] = chosen
    return out


def _days(count: int) -> str:
    return f"P{count}D"


def _window(window: Window, now_end: Any) -> dict[str, str]:
    """A rolling window: `size` days ending `offset` days before each run."""
    import datetime as dt

    offset = max(0, round((now_end - window.end) / dt.timedelta(days=1)))
    return {"lookback_window_offset": _days(offset), "lookback_window_size": _days(window.production_days)}


def _production(context: str, current: Window | str, now: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"data_context": context}
    if isinstance(current, Window):
        data["data_window"] = _window(current, now)
    else:  # a local file stands for the production data; the deployment's collected data replaces it
        data["data_window"] = {"lookback_window_offset": "P0D", "lookback_window_size": "P1D"}
    return data


def _reference(context: str, baseline: Window | str, now: Any) -> dict[str, Any]:
    """The baseline window of the same collection, or the file the user gave as training data."""
    if isinstance(baseline, Window):
        return {"data_context": context, "data_window": _window(baseline, now)}
    return {"input_data": {"path": baseline, "type": "uri_file"}, "data_context": "training"}


def _signals(
    report: dict[str, Any],
    thresholds: Thresholds,
    current: Window | str,
    baseline: Window | str,
    outputs: bool,
) -> dict[str, Any]:
    """The drift signal (data or prediction drift) and the data-quality signal, over the same windows."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    kinds = {f["kind"] for f in report["features"]}
    features = [f["feature"] for f in report["features"]]
    context = "model_outputs" if outputs else "model_inputs"
    quality_metrics: dict[str, tuple[str, ...]] = dict.fromkeys(
        (stats.NUMERICAL, stats.CATEGORICAL), stats.QUALITY_METRICS
    )
    drift_signal = "prediction_drift" if outputs else "data_drift"
    signals: dict[str, Any] = {}
    for signal, metrics in ((drift_signal, stats.DRIFT_METRICS), ("data_quality", quality_metrics)):
        signals[signal] = {
            "type": signal,
            "production_data": _production(context, current, now),
            "reference_data": _reference(context, baseline, now),
            "features": list(features),
            "alert_enabled": True,
            "metric_thresholds": _thresholds(thresholds, metrics, kinds),
        }
    if outputs:  # prediction drift has no feature list in the schema: it watches the outputs
        del signals[drift_signal]["features"]
    return signals


def monitor_schedule(
    report: dict[str, Any],
    *,
    endpoint: str | None,
    deployment: str | None,
    thresholds: Thresholds,
    current: Window | str,
    baseline: Window | str,
    outputs: bool,
) -> dict[str, Any]:
    """The schedule as a dict (YAML-ready). `current`/`baseline`: a window, or the file the user gave."""
    target: dict[str, Any] = {}
    if endpoint and deployment:
        target["endpoint_deployment_id"] = f"azureml:{endpoint}:{deployment}"
    return {
        "$schema": SCHEMA_URL,
        "name": _schedule_name(endpoint, deployment),
        "display_name": f"amlmon drift: {endpoint or 'model'}{'/' + deployment if deployment else ''}",
        "description": "Written by amlmon drift --emit-monitor: the same signals, metrics and thresholds.",
        "trigger": {"type": "recurrence", "frequency": "day", "interval": 1},
        "create_monitor": {
            "compute": {"instance_type": INSTANCE_TYPE, "runtime_version": RUNTIME_VERSION},
            "monitoring_target": target,
            "monitoring_signals": _signals(report, thresholds, current, baseline, outputs),
        },
    }


def _schedule_name(endpoint: str | None, deployment: str | None) -> str:
    raw = "-".join(part for part in (endpoint, deployment, "drift") if part)
    return re.sub(r"[^A-Za-z0-9_-]", "-", raw)[:255]


def to_yaml(schedule: dict[str, Any]) -> str:
    import yaml

    header = "# az ml schedule create -f THIS_FILE  (written by amlmon drift --emit-monitor)\n"
    return header + str(yaml.safe_dump(schedule, sort_keys=False, default_flow_style=False))
