"""Scoring script of the emulator's v2 sample deployment: the sample churn model with the data collector.

It does what the Azure ML docs tell a v2 user to do (how-to-collect-production-data): one
`azureml.ai.monitoring.Collector` per collection (`model_inputs`, `model_outputs`) created in init(),
each request's inputs and outputs logged as pandas DataFrames, the outputs with the context the
inputs call returned so both carry the same correlation id. That id is the request's `x-request-id`
(passed in a BasicCorrelationContext), so collected rows join the endpoint's traffic log; without
it the Collector would make a fresh id per call. A disabled collection is reported on stdout (the
Collector's on_error), not raised, so scoring keeps working with the collector off.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

# The server loads this file by path, not as a package: make its sibling module importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from azureml_inference_server_http.api.aml_request import rawhttp
from churn_model import ChurnModel

model: ChurnModel | None = None
inputs_collector: Any = None
outputs_collector: Any = None


def _collector_error(error: Exception) -> None:
    print(f"data collector: {error}")


def init() -> None:
    global model, inputs_collector, outputs_collector
    from azureml.ai.monitoring import Collector

    model = ChurnModel.load(os.environ.get("AZUREML_MODEL_DIR") or None)
    inputs_collector = Collector(name="model_inputs", on_error=_collector_error)
    outputs_collector = Collector(name="model_outputs", on_error=_collector_error)
    print(f"sample-churn loaded: features {', '.join(model.features)}")


@rawhttp
def run(request: Any) -> dict[str, list[float]]:
    import pandas as pd
    from azureml.ai.monitoring.context import BasicCorrelationContext

    assert model is not None, "init() was not called"
    rows = model.rows(json.loads(request.get_data(as_text=True)))  # raises on bad input: 500
    inputs = pd.DataFrame(rows, columns=list(model.features))
    request_id = request.headers.get("x-request-id") or None
    context = inputs_collector.collect(inputs, BasicCorrelationContext(id=request_id))
    predictions = model.predict(rows)
    outputs_collector.collect(pd.DataFrame({"churn_probability": predictions}), context)
    print(f"scored {len(rows)} row(s)")
    return {"predictions": predictions}
