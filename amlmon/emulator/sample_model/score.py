"""Scoring script of the emulator's sample service, run by the real azureml-inference-server-http.

It behaves like a user's script in the field: init() loads the model from AZUREML_MODEL_DIR, run()
print()s one line per request (the server turns print into an App Insights trace), raises on bad
input (the server answers 500 and sends an exception), and returns the prediction (which the
server sends as a `model_data_collection` trace when model data collection is on).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# The server loads this file by path, not as a package: make its sibling module importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from churn_model import ChurnModel

model: ChurnModel | None = None


def init() -> None:
    global model
    model = ChurnModel.load(os.environ.get("AZUREML_MODEL_DIR") or None)
    print(f"sample-churn loaded: features {', '.join(model.features)}")


def run(raw_data: str) -> dict[str, list[float]]:
    assert model is not None, "init() was not called"
    rows = model.rows(json.loads(raw_data))  # raises on bad input: the server answers 500
    predictions = model.predict(rows)
    print(f"scored {len(rows)} row(s)")
    return {"predictions": predictions}
