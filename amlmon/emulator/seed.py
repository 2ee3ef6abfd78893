"""Bulk synthetic telemetry with the real inference server's layouts, and its ground truth.

`POST /_emulator/telemetry/seed` {"subscription","resourceGroup","workspace","services":[name | "ep/dep"],
"hours","ratePerMinute","generation":"1.5"|"1.4"|"mixed","seed"?,"failureRate"?:{name: rate},
"latencyMs"?:{name: median},"kinds"?:[requests|prints|exceptions|modelData|dependencies],"digest"?:bool,
"roles"?:{name: SERVICE_NAME}}
→ {"rows":{table: n},"truth":{name:{requests, failures, p50, p95, p99, exceptions, modelData}},
"modelDataDigest"?, "seconds"}.

Every row has exactly the tags and property keys of the real server's envelope of its kind and
generation (reference/inference-server-telemetry/); a v2 deployment writes what the same server writes
with SERVICE_NAME = `roles[target]` (the platform's value is undocumented; default: the deployment name).
Layouts (AZURE-FACTS.md): 1.5.x requests carry placeholders (success true, duration 0, resultCode "0")
and the real values in properties; model data is one `custom_dimensions` Python-literal string (Input
JSON-encoded twice, cut at 8,192 characters). 1.4.x sends role `azmlinfsrv`, result code and success
placeholders too (its duration is real), and separate model-data properties. Percentiles in the truth are nearest-rank over the real durations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import time
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.mms import workspace_resource_id
from amlmon.emulator.resources import normalize_id
from amlmon.emulator.store import TABLES, arrow_table, utcnow

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

VALUE_LIMIT = 8192
# What a seed writes per simulated request (the body's `kinds` picks some; default all).
ROW_KINDS = frozenset({"requests", "prints", "exceptions", "modelData", "dependencies"})
LARGE_INPUT_EVERY = 250  # one request in this many sends an input too large for 1.5.x's 8,192 characters


def register(router: Router, state: EmulatorState) -> None:
    router.add("POST", r"/_emulator/telemetry/seed", lambda r: _seed(state, r))


def _bad(status: int, message: str) -> Response:
    return json_response(
        status, {"error": {"code": "BadRequest" if status == 400 else "NotFound", "message": message}}
    )


def nearest_rank(sorted_values: list[float], percent: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _timespan(ms: float) -> str:
    seconds = ms / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


class _Columns:
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

    def arrow(self, table: str) -> Any:
        self._close_segments()
        columns: dict[str, list[Any]] = {}
        for name, _ in TABLES[table]:
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
        return arrow_table(table, columns)


def _seed_problem(hours: float, rate: float, targets: list[str], generation: str) -> str | None:
    """What makes a seed request meaningless, or None."""
    if not 0 < hours < float("inf"):
        return f"hours {hours} must be more than 0"
    if not 0 < rate < float("inf"):
        return f"ratePerMinute {rate} must be more than 0"
    if not targets:
        return "services is empty: name at least one service or endpoint/deployment"
    if generation not in ("1.4", "1.5", "mixed"):
        return f"generation {generation!r} is not one of 1.4, 1.5, mixed"
    return None


def _seed(state: EmulatorState, request: Request) -> Response:
    started = time.perf_counter()
    body = request.json() or {}
    try:
        ws_id = workspace_resource_id(body["subscription"], body["resourceGroup"], body["workspace"])
        targets = [str(t) for t in body.get("services") or []]
        hours = float(body.get("hours", 24))
        rate = float(body.get("ratePerMinute", 10))
        kinds = frozenset(body.get("kinds") or ROW_KINDS)
        roles = {str(k): str(v) for k, v in (body.get("roles") or {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        return _bad(400, f"bad seed request: {exc}")
    problem = _seed_problem(hours, rate, targets, str(body.get("generation", "mixed")))
    if problem:
        return _bad(400, f"bad seed request: {problem}")
    if not kinds <= ROW_KINDS:
        return _bad(400, f"bad seed request: kinds must be among {', '.join(sorted(ROW_KINDS))}")
    workspace = state.resources.get(ws_id)
    if workspace is None:
        return _bad(404, f"workspace {ws_id} does not exist")
    component_id = workspace.get("properties", {}).get("applicationInsights")
    component = state.resources.get(component_id) if component_id else None
    if component is None:
        return _bad(400, f"workspace {body['workspace']} has no Application Insights resource")
    rng = random.Random(body.get("seed", 1))
    digest_lines: list[str] | None = [] if body.get("digest") else None
    columns = _Columns()
    truth: dict[str, Any] = {}
    generation = str(body.get("generation", "mixed"))
    for index, target in enumerate(targets):
        layout = generation if generation in ("1.4", "1.5") else ("1.5" if index % 2 == 0 else "1.4")
        truth[target] = _seed_target(
            columns,
            rng,
            target=target,
            layout=layout,
            workspace=str(body["workspace"]),
            component=component,
            hours=hours,
            rate=rate,
            failure_rate=float((body.get("failureRate") or {}).get(target, 0.02)),
            median_ms=float((body.get("latencyMs") or {}).get(target, rng.uniform(40, 200))),
            kinds=kinds,
            digest_lines=digest_lines,
            role_name=roles.get(target),
        )
    store = state.telemetry
    counts = {}
    for table in TABLES:
        counts[table] = columns.count(table)
        if counts[table]:
            store.insert_arrow(table, columns.arrow(table))
    answer: dict[str, Any] = {"rows": counts, "truth": truth}
    if digest_lines is not None:
        answer["modelDataDigest"] = model_data_digest(digest_lines)
    return json_response(200, {**answer, "seconds": round(time.perf_counter() - started, 3)})


def _seed_target(
    columns: _Columns,
    rng: random.Random,
    *,
    target: str,
    layout: str,
    workspace: str,
    component: dict[str, Any],
    hours: float,
    rate: float,
    failure_rate: float,
    median_ms: float,
    kinds: frozenset[str] = ROW_KINDS,
    digest_lines: list[str] | None = None,
    role_name: str | None = None,
) -> dict[str, Any]:
    service, _, deployment = target.partition("/")
    # The server labels its telemetry with SERVICE_NAME: a v1 service's name; on a v2 deployment the
    # platform's value is not documented (AZURE-FACTS.md), so the seed body says it (`roles`).
    service = role_name or (deployment or service)
    now = utcnow()
    total = max(0, int(hours * 60 * rate))
    span = hours * 3600
    ikey = str(component.get("properties", {}).get("InstrumentationKey", "")).lower()
    common = {
        "IKey": ikey,
        "_ResourceId": normalize_id(component["id"]),
        "AppRoleName": service if layout == "1.5" else "azmlinfsrv",
        "AppRoleInstance": f"{service}-{rng.randrange(16**6):06x}",
        "SDKVersion": "ulm_py3.11.7:otel1.33.0:ext1.0.0b40"
        if layout == "1.5"
        else "py3.11.7:oc0.11.4:ext1.1.15",
        "ClientType": "PC",
        "ItemCount": 1,
    }
    columns.begin({**common, "Measurements": "{}"})
    labels = {"Service Name": service, "Workspace Name": workspace}
    # Request ids are unique like the server's uuid4s, also between seeds of the same `seed` number:
    # a 1.4.x exception is attributed through its request id.
    id_salt = int(hashlib.sha256(target.encode()).hexdigest()[:32], 16)
    durations: list[float] = []
    failures = model_data = 0
    sigma = 0.5
    for _ in range(total):
        at = now - dt.timedelta(seconds=rng.uniform(0, span))
        ingested = min(now, at + dt.timedelta(seconds=rng.uniform(2, 40)))
        duration = median_ms * math.exp(rng.gauss(0, sigma))
        failed = rng.random() < failure_rate
        durations.append(duration)
        request_id = _guid(rng.getrandbits(128) ^ id_salt)
        base = {
            "TimeGenerated": at,
            "_IngestionTime": ingested,
            "OperationId": request_id.replace("-", ""),
        }
        if "requests" in kinds:
            _request_row(columns, base, layout, labels, request_id, duration, failed)
        if "prints" in kinds:
            _print_row(columns, base, layout, labels, request_id)
        if failed:
            failures += 1
            if "exceptions" in kinds:
                _exception_row(columns, base, layout, labels, request_id)
        elif "modelData" in kinds:
            model_data += 1
            line = _model_data_row(columns, base, layout, labels, request_id, rng, service)
            if digest_lines is not None:
                digest_lines.append(line)
        if rng.random() < 0.2 and "dependencies" in kinds:
            _dependency_row(columns, base, rng)
    ordered = sorted(durations)
    return {
        "requests": total,
        "failures": failures,
        "p50": nearest_rank(ordered, 50),
        "p95": nearest_rank(ordered, 95),
        "p99": nearest_rank(ordered, 99),
        "exceptions": failures,
        "modelData": model_data,
        "generation": layout,
    }


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


_ITEM_IDS = random.Random()


def _guid(bits: int) -> str:
    """A GUID string from 128 random bits (uuid.UUID costs more than the rest of a row)."""
    digits = f"{bits:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _item(base: dict[str, Any]) -> dict[str, Any]:
    return {**base, "_ItemId": _guid(_ITEM_IDS.getrandbits(128))}


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


def _request_row(
    columns: _Columns,
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


def _print_row(
    columns: _Columns, base: dict[str, Any], layout: str, labels: dict[str, str], request_id: str
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


def _exception_row(
    columns: _Columns, base: dict[str, Any], layout: str, labels: dict[str, str], request_id: str
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


def _model_data_row(
    columns: _Columns,
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


def _dependency_row(columns: _Columns, base: dict[str, Any], rng: random.Random) -> None:
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
