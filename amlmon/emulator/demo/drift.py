"""The story's drift step: an hour of churn-aci's model inputs against the hour before, one feature
shifted on purpose, as v1 model-data traces the inference server would have sent."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from amlmon.emulator.demo.shell import amlmon, banner
from amlmon.emulator.demo.world import RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, Demo


def drift_story(demo: Demo) -> None:
    """churn-aci's model inputs of 3h..2h ago vs 2h..1h ago, where monthly_charges moved up by 25 on
    purpose: `drift` names exactly that feature and exits 1, as a pipeline gate would."""
    import random

    admin, env = demo.admin, demo.env
    banner("11. Did the model's inputs drift? An hour of churn-aci's inputs vs the hour before")
    status, answer = admin.call(  # the existing workspace's answer: its App Insights key
        "POST",
        "/_emulator/workspaces",
        {"subscription": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "name": WORKSPACE},
    )
    if status >= 400:
        raise SystemExit(f"could not read the demo workspace (HTTP {status}): {answer}")
    ikey = answer["instrumentationKey"]
    rng = random.Random(18)
    now = time.time()
    envelopes = []
    for index in range(2000):
        recent = index % 2 == 1
        at = now - rng.uniform(65, 115) * 60 if recent else now - rng.uniform(125, 175) * 60
        features = [rng.randint(1, 72), round(rng.uniform(20, 120), 2), rng.randint(0, 6), rng.randint(0, 3)]
        if recent:
            features[1] = round(features[1] + 25, 2)  # the shift on purpose
        envelopes.append(model_data_trace(ikey, at, f"drift-{index}", features))
    status, answer = admin.call("POST", "/_emulator/telemetry/rows", {"envelopes": envelopes}, timeout=120)
    if status >= 400:
        raise SystemExit(f"could not post the demo's model data (HTTP {status}): {answer}")
    print("posted 1000 model-data records for each hour (monthly_charges +25 in the later one)")
    cache = {**env, "AMLMON_CACHE_DIR": str(Path(env["AMLMON_EMULATOR_DIR"]) / "drift-cache")}
    drifted = amlmon(
        "drift", "churn-aci", "--baseline", "3h..2h", "--current", "2h..1h",
        "--features", "tenure_months,monthly_charges,support_calls,contract_years",
        "--threshold", "out_of_bounds_rate=0.02", env=cache, check=False,
    )  # fmt: skip
    if drifted != 1:
        raise SystemExit(f"demo: drift exited {drifted}, not 1 (monthly_charges was shifted on purpose)")
    print(f"(drift exited {drifted}: monthly_charges drifted; a pipeline step would fail here)")


def model_data_trace(ikey: str, at: float, request_id: str, features: list[float]) -> dict[str, Any]:
    """A model_data_collection trace as azureml-inference-server-http 1.5 exports it (v1 model data)."""
    import datetime as dt

    inner = {
        "Container Id": "demo-container",
        "Request Id": request_id,
        "Client Request Id": "",
        "Workspace Name": WORKSPACE,
        "Service Name": "churn-aci",
        "Models": ("sample-churn:1",),
        "Input": json.dumps(json.dumps({"data": [features]})),
        "Prediction": json.dumps([0.5]),
    }
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "iKey": ikey,
        "tags": {
            "ai.cloud.role": "churn-aci",
            "ai.cloud.roleInstance": "demo-host",
            "ai.operation.id": "0" * 32,
        },
        "data": {
            "baseType": "MessageData",
            "baseData": {
                "ver": 2,
                "message": "model_data_collection",
                "properties": {"custom_dimensions": repr(inner)},
            },
        },
    }
