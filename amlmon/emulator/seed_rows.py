"""The rows a seed writes, per kind and layout generation, exactly as the real inference server's
envelopes carry them; collected column-wise and turned into Arrow tables (seed.py drives it)."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable
from typing import Any

from amlmon.emulator.store import TABLES, arrow_table

VALUE_LIMIT = 8192
LARGE_INPUT_EVERY = 250  # one request in this many sends an input too large for 1.5.x's 8,192 characters


class SeedColumns:
    """Column lists per table, filled row by row, turned into Arrow tables at the end.

    Columns that are the same for every row of a target (keys, role, SDK) are not appended per row:
    each table keeps segments of (row count, constant values) and repeats them when building Arrow —
    the per-row loop is where seeding spends its time.
    """

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {}
        self.data: dict[str, dict[str, list[Any]]] = {table: {} for table in TABLES}
        self.segments: dict[str, list[tuple[int, dict[str, Any]]]] = {table: [] for table in TABLES}
        self.counts: dict[str, int] = dict.fromkeys(TABLES, 0)

    def begin(self, constants: dict[str, Any]) -> None:
        """Rows added from now on share these column values."""
        self._close_segments()
        self.constants = dict(constants)
        for table, columns in TABLES.items():
            self.data[table].update(
                {n: [] for n, _ in columns if n not in constants and n not in self.data[table]}
            )

    def _close_segments(self) -> None:
        for table in TABLES:
            done = sum(n for n, _ in self.segments[table])
            if self.counts[table] > done:
                self.segments[table].append((self.counts[table] - done, self.constants))

    def add(self, table: str, row: dict[str, Any]) -> None:
        for name, values in self.data[table].items():
            values.append(row.get(name))
        self.counts[table] += 1

    def count(self, table: str) -> int:
        return self.counts[table]

    def arrow(self, table: str, between: Callable[[], None] | None = None) -> Any:
        """The table's rows as Arrow; `between` is called before each column (it may raise to stop)."""
        self._close_segments()
        columns: dict[str, list[Any]] = {}
        for name, _ in TABLES[table]:
            if between is not None:
                between()
            if name in self.data[table] and not any(name in c for _, c in self.segments[table]):
                columns[name] = self.data[table][name]
                continue
            values: list[Any] = []
            position = 0
            for count, constants in self.segments[table]:
                if name in constants:
                    values.extend([constants[name]] * count)
                else:  # the list holds rows of the segments where this column varies, only
                    values.extend(self.data[table][name][position : position + count])
                    position += count
            columns[name] = values
        return arrow_table(table, columns, between)


_ITEM_IDS = random.Random()


def guid(bits: int) -> str:
    """A GUID string from 128 random bits (uuid.UUID costs more than the rest of a row)."""
    digits = f"{bits:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _item(base: dict[str, Any]) -> dict[str, Any]:
    return {**base, "_ItemId": guid(_ITEM_IDS.getrandbits(128))}


# --- What the real server writes, per kind and generation ---------------------------------------------
# Every key below is a key of the real envelope of that kind in the reference examples
# (inference-server-telemetry/); tests/e2e/test_emulator_fidelity.py holds the seeder to exactly them.
_APP_DIR = {"1.5": "/azureml-envs/azureml_151", "1.4": "/azureml-envs/azureml_141"}
_SERVER = "lib/python3.11/site-packages/azureml_inference_server_http"
# 1.5.x (OpenTelemetry) marks where a log call came from; 1.4.x (OpenCensus) sends its logging record.
_CODE_15 = {
    "print": ("print_log_hook.py", "print_to_logger", "27"),
    "modelData": ("server/appinsights_client.py", "send_model_data_log", "125"),
    "exception": ("server/appinsights_client.py", "send_exception_log", "194"),
}
_RECORD_14 = {
    "print": ("print_log_hook", "print_log_hook.py", 27, "INFO"),
    "modelData": ("appinsights_client", "server/appinsights_client.py", 89, "INFO"),
    "exception": ("appinsights_client", "server/appinsights_client.py", 160, "ERROR"),
}
# ai.operation.parentId of a log record (requests have none): the exporter's and OpenCensus' zero ids.
_LOG_PARENT = {"1.5": "0" * 16, "1.4": "|" + "0" * 32 + "." + "0" * 16 + "."}


def _log_source(layout: str, kind: str) -> dict[str, Any]:
    if layout == "1.5":
        file, function, line = _CODE_15[kind]
        return {
            "code.file.path": f"{_APP_DIR['1.5']}/{_SERVER}/{file}",
            "code.function.name": function,
            "code.line.number": line,
        }
    module, file, line_number, level = _RECORD_14[kind]
    return {
        "process": "MainProcess",
        "module": module,
        "fileName": f"{_APP_DIR['1.4']}/{_SERVER}/{file}",
        "lineNumber": line_number,
        "level": level,
    }


def _log_item(base: dict[str, Any], layout: str) -> dict[str, Any]:
    row = _item(base)
    row["OperationId"] = "0" * 32
    row["ParentId"] = _LOG_PARENT[layout]
    return row


def request_row(
    columns: SeedColumns,
    base: dict[str, Any],
    layout: str,
    labels: dict[str, str],
    request_id: str,
    duration: float,
    failed: bool,
) -> None:
    code = "500" if failed else "200"
    row = _item(base)
    at = base["TimeGenerated"].isoformat() + "Z"
    url = "http://127.0.0.1:5001/score"
    if layout == "1.5":
        # The exporter's own span: operation name and a span id; the standard fields are placeholders.
        row.update({"Id": request_id.replace("-", "")[:16], "Name": "/score", "OperationName": "/score"})
        row.update({"Success": True, "ResultCode": "0", "DurationMs": 0.0})
        answer = (
            '{"message": "An unexpected error occurred in scoring script. Check the logs for more info."}'
        )
    else:
        # OpenCensus: the request id as id, an empty name, result code and success placeholders too.
        row.update({"Id": request_id, "Name": "", "Success": True, "ResultCode": "0", "DurationMs": duration})
        answer = json.dumps(
            '{"message": "An unexpected error occurred in scoring script. Check the logs for more info."}'
        )
    row["Url"] = url if layout == "1.4" else None
    props: dict[str, Any] = {
        "Container Id": "ctr-" + request_id[:8],
        "Request Id": request_id,
        "Client Request Id": "",
        "Response Value": answer if failed else ("[0.31]" if layout == "1.5" else json.dumps("[0.31]")),
        "name": "/score",
        "url": url,
        "start_time": at,
        "duration": _timespan(duration),
        "resultCode": code,
        # 1.5.x turns every property into a string; 1.4.x keeps the JSON boolean.
        "success": ("False" if failed else "True") if layout == "1.5" else not failed,
        "http_method": "POST",
        "Workspace Name": labels["Workspace Name"],
        "Service Name": labels["Service Name"],
    }
    row["Properties"] = json.dumps(props)
    row["Measurements"] = "{}"
    columns.add("AppRequests", row)


def print_row(
    columns: SeedColumns, base: dict[str, Any], layout: str, labels: dict[str, str], request_id: str
) -> None:
    # A print() line names no service and no request: the role (1.5.x) or the host (1.4.x) says whose.
    row = _log_item(base, layout)
    row.update({"Message": f"scoring request {request_id[:8]}: 4 features", "SeverityLevel": 1})
    row["Properties"] = json.dumps(_log_source(layout, "print"))
    row["Measurements"] = "{}"
    columns.add("AppTraces", row)


_USER_ERROR = "ValueError: bad input: expected 4 features"
_WRAPPER = "azureml_inference_server_http.server.user_script.UserScriptException"


def _traceback(layout: str) -> str:
    server = f"{_APP_DIR[layout]}/{_SERVER}/server"
    return (
        "Traceback (most recent call last):\n"
        f'  File "{server}/user_script.py", line 132, in invoke_run\n'
        "    run_output = self._wrapped_user_run(**run_parameters, request_headers=dict(request.headers))\n"
        '  File "/var/azureml-app/score.py", line 21, in run\n'
        '    raise ValueError("bad input: expected 4 features")\n'
        f"{_USER_ERROR}\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        f'  File "{server}/routes.py", line 222, in handle_score\n'
        "    timed_result = main_blueprint.user_script.invoke_run(request, timeout_ms=config.scoring_timeout)\n"
        f'  File "{server}/user_script.py", line 139, in invoke_run\n'
        "    raise UserScriptException(ex) from ex\n"
        f"{_WRAPPER}: Caught an unhandled exception from the user script"
    )


def exception_row(
    columns: SeedColumns, base: dict[str, Any], layout: str, labels: dict[str, str], request_id: str
) -> None:
    row = _log_item(base, layout)
    kind = "UserScriptException"
    exc_info = (
        f"(<class '{_WRAPPER}'>, UserScriptException('Caught an unhandled exception from the user script'), "
        "<traceback object at 0x7f68b1335e40>)"
    )
    ids = {"Container Id": "ctr-" + request_id[:8], "Request Id": request_id, "Client Request Id": ""}
    if layout == "1.5":
        # The stack is its own field; the ids only inside one Python-literal property.
        message = exc_info
        detail: dict[str, Any] = {"typeName": kind, "message": message, "hasFullStack": True}
        detail["stack"] = _traceback(layout) + "\n"
        props: dict[str, Any] = {"custom_dimensions": repr(ids), **_log_source(layout, "exception")}
    else:
        # OpenCensus: the traceback is the message; the ids are separate properties.
        message = exc_info + "\n" + _traceback(layout)
        detail = {"id": 1, "outerId": 0, "typeName": kind, "message": message, "hasFullStack": True}
        detail["parsedStack"] = [
            {"level": 1, "method": "invoke_run", "fileName": "user_script.py", "line": 139},
            {"level": 0, "method": "handle_score", "fileName": "routes.py", "line": 222},
        ]
        props = {**_log_source(layout, "exception"), **ids}
    row.update(
        {
            "ProblemId": kind,
            "ExceptionType": kind,
            "OuterType": kind,
            "OuterMessage": message,
            "InnermostType": kind,
            "InnermostMessage": message,
            "Message": message,
            "SeverityLevel": 3,
            "Details": json.dumps([detail]),
            "Properties": json.dumps(props),
            "Measurements": "{}",
        }
    )
    columns.add("AppExceptions", row)


def model_data_row(
    columns: SeedColumns,
    base: dict[str, Any],
    layout: str,
    labels: dict[str, str],
    request_id: str,
    rng: random.Random,
    service: str,
) -> str:
    large = rng.randrange(LARGE_INPUT_EVERY) == 0
    width = 2000 if large else 4
    features = [[round(rng.uniform(0, 10), 3) for _ in range(width)]]
    model_input = {"data": features}
    prediction = [round(rng.random(), 4)]
    row = _log_item(base, layout)
    row.update({"Message": "model_data_collection", "SeverityLevel": 1, "Measurements": "{}"})
    fields = {
        "Container Id": "ctr-" + request_id[:8],
        "Request Id": request_id,
        "Client Request Id": "",
        "Workspace Name": labels["Workspace Name"],
        "Service Name": labels["Service Name"],
        "Models": (f"{service}-model:1",),
        "Input": json.dumps(json.dumps(model_input)),
        "Prediction": json.dumps(prediction),
    }
    packed = repr(fields)
    truncated = layout == "1.5" and len(packed) > VALUE_LIMIT
    if layout == "1.5":
        props: dict[str, Any] = {
            "custom_dimensions": packed[:VALUE_LIMIT],
            **_log_source(layout, "modelData"),
        }
    else:
        props = {**_log_source(layout, "modelData"), **fields, "Models": list(fields["Models"])}
    row["Properties"] = json.dumps(props)
    columns.add("AppTraces", row)
    return digest_line(request_id, model_input, prediction, truncated)


def dependency_row(columns: SeedColumns, base: dict[str, Any], rng: random.Random) -> None:
    failed = rng.random() < 0.01
    row = _item(base)
    row.update(
        {
            "Id": f"{rng.getrandbits(64):016x}",
            "Name": "GET /features",
            "Target": "feature-store.internal",
            "DependencyType": "HTTP",
            "Data": "https://feature-store.internal/features",
            "Success": not failed,
            "ResultCode": "503" if failed else "200",
            "DurationMs": 5 * math.exp(rng.gauss(0, 0.4)),
            "Properties": "{}",
            "Measurements": "{}",
        }
    )
    columns.add("AppDependencies", row)


def model_data_digest(lines: list[str]) -> str:
    """One hash of every model data record's `request id, input, prediction` (see digest_line), in any
    order: a test that pulled the records back compares contents without shipping them."""
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def digest_line(request_id: str, model_input: Any, prediction: Any, truncated: bool) -> str:
    """A record as the digest sees it: JSON canonical (sorted keys, no spaces); a cut record by its id."""
    if truncated:
        return f"{request_id}\ttruncated"
    canonical = json.dumps([model_input, prediction], sort_keys=True, separators=(",", ":"))
    return f"{request_id}\t{canonical}"


def _timespan(ms: float) -> str:
    seconds = ms / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"
