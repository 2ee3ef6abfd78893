"""`data pull --datastore-url` over adjacent windows adds up (issue 16): pulls of [a,b) and [b,c) give the
rows of one pull of [a,c) and the same figures, summed — for a request whose input is before b and whose
output is after it, in the next hour's folder or in the same one. Blobs written here in the collector's
layout (Azurite), pulled through the CLI by both paths (Parquet: DuckDB; JSONL: record by record)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.azurite import Azurite, start_azurite, stop_azurite
from tests.conftest import run_cli
from tests.helpers import collector_record

pytestmark = pytest.mark.azurite

CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-0000000a0d0e"
SOURCE = (
    "/subscriptions/00000000-0000-0000-0000-0000000a0d0e/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws-win/onlineEndpoints/ep-win/deployments/blue"
)
# The figures that add up over adjacent windows; `blobs` does not (README: a folder a boundary cuts is
# read by both pulls, and a pull reads the next folder's outputs or the folder before's inputs).
ADDITIVE = ("rows", "records", "withoutOutput", "unmatchedOutputs")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    handle = start_azurite(tmp_path_factory.mktemp("azurite-collector-windows"))
    try:
        yield handle
    finally:
        stop_azurite(handle)


def _record(collection: str, when: dt.datetime, correlation: str, data: list[Any]) -> str:
    return collector_record(collection, when, correlation, data, SOURCE)


@pytest.fixture(scope="module")
def folders(azurite: Azurite) -> dict[str, Any]:
    """Three hours of one deployment's folders: requests answered in their hour, at an hour's end (input
    at :59:58, output in the next hour's folder), across the half hour (input at :29:59, output at
    :30:01, one folder), one never answered, outputs without input."""
    container = azurite.service().get_container_client(CONTAINER)
    container.create_container()
    h0 = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=5)
    h1, h2 = h0 + dt.timedelta(hours=1), h0 + dt.timedelta(hours=2)
    m, s = dt.timedelta(minutes=1), dt.timedelta(seconds=1)
    blobs = {
        ("model_inputs", h0): [
            _record("model_inputs", h0 + 10 * m, "a0", [{"x": 0}]),
            _record("model_inputs", h0 + 20 * m, "a3", [{"x": 3}]),  # never answered
            _record("model_inputs", h0 + 30 * m - s, "a2", [{"x": 2}]),  # answered after the half hour
            _record("model_inputs", h0 + 40 * m, "c", [{"x": 10}, {"x": 11}]),  # two requests
            _record("model_inputs", h0 + 60 * m - 2 * s, "a1", [{"x": 1}]),  # answered in the next hour
        ],
        ("model_outputs", h0): [
            _record("model_outputs", h0 + 10 * m, "a0", [{"p": 0}]),
            _record("model_outputs", h0 + 30 * m + s, "a2", [{"p": 2}]),
            _record("model_outputs", h0 + 40 * m, "c", [{"p": 10}, {"p": 11}]),
            _record("model_outputs", h0 + 45 * m, "o0", [{"p": -1}]),  # no input anywhere
        ],
        ("model_inputs", h1): [
            _record("model_inputs", h1 + 5 * m, "b0", [{"x": 4}]),
            _record("model_inputs", h1 + 60 * m - s, "b1", [{"x": 5}]),  # answered in the next hour
        ],
        ("model_outputs", h1): [
            _record("model_outputs", h1 + 2 * s, "a1", [{"p": 1}]),
            _record("model_outputs", h1 + 5 * m, "b0", [{"p": 4}]),
            _record("model_outputs", h1 + 15 * m, "o1", [{"p": -2}]),  # no input anywhere
        ],
        ("model_inputs", h2): [_record("model_inputs", h2 + m, "d0", [{"x": 6}])],
        ("model_outputs", h2): [
            _record("model_outputs", h2 + s, "b1", [{"p": 5}]),
            _record("model_outputs", h2 + m, "d0", [{"p": 6}]),
        ],
    }
    for (collection, hour), lines in blobs.items():
        blob = container.get_blob_client(
            f"modelDataCollector/ep-win/blue/{collection}/{hour:%Y/%m/%d/%H}/i.jsonl"
        )
        blob.create_append_blob()
        blob.append_block("".join(line + "\n" for line in lines).encode())
    return {
        "hours": (h0, h1, h2),
        "url": f"{azurite.blob_endpoint}/{CONTAINER}",
        "env": {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    }


def _pull(
    folders: dict[str, Any], start: dt.datetime, end: dt.datetime, out: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The window's summary and rows (request id → row); the fast path must take every folder."""
    from amlmon import datasets

    args = ["data", "pull", "ep-win/blue", "--datastore-url", folders["url"], "--out", str(out)]
    since, until = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (start, end))
    result = run_cli([*args, "--since", since, "--until", until, "-o", "json", "--verbose"], folders["env"])
    assert result.exit_code == 0, result.stderr
    assert "read record by record" not in result.stderr, result.stderr
    rows = {row["request_id"]: row for row in datasets.read_rows(out)} if out.exists() else {}
    return json.loads(result.stdout), rows


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_adjacent_windows_add_up_to_the_whole(folders: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    h0, h1, _h2 = folders["hours"]
    end = h0 + dt.timedelta(hours=3)
    whole, whole_rows = _pull(folders, h0, end, tmp_path / f"whole.{fmt}")
    # the control: what the whole window holds (a3 without output; o0 and o1 answer nothing)
    assert set(whole_rows) == {"a0_0", "a1_0", "a2_0", "a3_0", "c_0", "c_1", "b0_0", "b1_0", "d0_0"}
    assert whole_rows["a1_0"]["prediction"] == {"p": 1} and whole_rows["b1_0"]["prediction"] == {"p": 5}
    figures = ("rows", "records", "withoutOutput", "unmatchedOutputs", "blobs")
    assert tuple(whole[k] for k in figures) == (9, 8 + 9, 1, 2, 6), whole
    # boundaries: on the hour (a1's output is in the next hour's folder), at the half hour (a2's output
    # after it, in the same folder), a second after a1's input (its output in the next folder, its input
    # before the second window, in the folder that window starts in)
    half, late = h0 + dt.timedelta(minutes=30), h0 + dt.timedelta(minutes=59, seconds=59)
    # blobs read by each pair: the folders each window overlaps, the next hour's outputs the first reads
    # for its unanswered inputs, the folder before's inputs and outputs the second reads for a1's output
    blobs = {h1: (3, 6), half: (3, 6), late: (3, 6)}
    for boundary, (first_blobs, second_blobs) in blobs.items():
        name = boundary.strftime("%H%M%S")
        first, first_rows = _pull(folders, h0, boundary, tmp_path / f"first-{name}.{fmt}")
        second, second_rows = _pull(folders, boundary, end, tmp_path / f"second-{name}.{fmt}")
        assert not set(first_rows) & set(second_rows), boundary
        assert first_rows | second_rows == whole_rows, boundary
        for figure in ADDITIVE:
            assert first[figure] + second[figure] == whole[figure], (boundary, figure, first, second)
        assert (first["blobs"], second["blobs"]) == (first_blobs, second_blobs), (boundary, first, second)
