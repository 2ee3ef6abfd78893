"""The sample model's arithmetic, shared by score.py and the emulator's canned answers.

A logistic regression over four features, in plain Python (no numpy) so the scoring app starts
fast and the emulator can answer with the same prediction for services that have no real
inference server behind them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "model.json"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "azureml-models" / "sample-churn" / "1"
SERVER_ERROR = "An unexpected error occurred in scoring script. Check the logs for more info."


class BadModelInput(ValueError):
    """The request body is not {"data": [[number, ...], ...]} with one value per feature."""


@dataclass(frozen=True)
class ChurnModel:
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> ChurnModel:
        spec = json.loads((Path(model_dir or DEFAULT_MODEL_DIR) / MODEL_FILE).read_text())
        return cls(
            tuple(spec["features"]), tuple(float(c) for c in spec["coefficients"]), float(spec["intercept"])
        )

    def rows(self, payload: Any) -> list[list[float]]:
        """The feature rows of a request body, or BadModelInput naming what is wrong."""
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise BadModelInput('expected a JSON object {"data": [[...], ...]}')
        rows = payload["data"]
        for index, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(self.features):
                raise BadModelInput(
                    f"row {index} must hold {len(self.features)} numbers ({', '.join(self.features)})"
                )
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row):
                raise BadModelInput(f"row {index} holds a value that is not a number")
        return [[float(v) for v in row] for row in rows]

    def predict(self, rows: list[list[float]]) -> list[float]:
        """The churn probability of each row, rounded to 4 decimals."""
        scores = (
            self.intercept + sum(c * x for c, x in zip(self.coefficients, row, strict=True)) for row in rows
        )
        return [round(1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, s)))), 4) for s in scores]


def canned_prediction(body: bytes) -> tuple[int, dict[str, Any]]:
    """The sample model's answer computed in-process: (status, JSON body) as the real server answers."""
    model = ChurnModel.load()
    try:
        payload = json.loads(body.decode("utf-8")) if body else None
        return 200, {"predictions": model.predict(model.rows(payload))}
    except (ValueError, UnicodeDecodeError):
        return 500, {"message": SERVER_ERROR}
