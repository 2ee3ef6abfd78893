"""The telemetry sources amlmon reads: their tables, their columns, and how a target's rows are matched.

This is the one place that names a telemetry column. Query builders and decoders take a `Source` and
read the names from here, so a source (or a renamed column) is one entry, not five.

- `app-insights`: the App Insights component, classic schema (`traces`, `requests`, …;
  `customDimensions`, `cloud_RoleName`), through the resource-centric query route.
- `log-analytics`: the component's Log Analytics workspace, workspace schema (`AppTraces`,
  `AppRequests`, …; `Properties`, `AppRoleName`). The same rows, other names.
- The v2 endpoint tables (`AmlOnlineEndpointConsoleLog`, `…TrafficLog`, `…EventLog`) live in a Log
  Analytics workspace when a diagnostic setting on the online endpoint sends them there
  (AZURE-FACTS.md, "Endpoint logs"); `ENDPOINT_LOGS` names them. `traces` (and `logs`) read the console
  and event tables projected onto TRACE_ROW, so the one tail engine follows them; `stats`/`check`
  and `traces --request` read the traffic table.

How a target is matched: the inference server puts the service's name in the role name column and/or
the `Service Name` custom dimension (`SERVICE_DIMENSION`); 1.4.x servers use the role `GENERIC_ROLE`
for every service, and their exceptions carry only the `Request Id` of the request that failed
(targets.py builds the predicates from these names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from amlmon import kql

# The one name of the choice between the two App Insights schemas, as the query API routes it.
Source = Literal["app-insights", "log-analytics"]
SOURCES: tuple[Source, ...] = ("app-insights", "log-analytics")

# Target matching: what the inference server writes (reference/inference-server-telemetry/).
SERVICE_DIMENSION = "Service Name"
REQUEST_ID_DIMENSION = "Request Id"
GENERIC_ROLE = "azmlinfsrv"  # the 1.4.x server's role name for every service
MODEL_DATA_MESSAGE = "model_data_collection"  # the trace message of a model-data record
# 1.5.x sends placeholder request columns and the real values as these custom dimensions.
DURATION_DIMENSION = "duration"  # "HH:MM:SS.mmm"
RESULT_CODE_DIMENSION = "resultCode"
# A diagnostic setting's export writes the workspace schema's records with their time as `time`.
EXPORTED_TIME = "time"
# Inside an exception's details column (`details` / `Details`, an array): the stack as App Insights
# shows it, and as the OpenTelemetry exporter sends it.
RAW_STACK = "rawStack"
SENT_STACK = "stack"
# 1.5.x model data: one custom dimension holding the record's fields as a Python-literal dict.
PACKED_DIMENSION = "custom_dimensions"


@dataclass(frozen=True)
class ModelDataFields:
    """The fields of an inference server's model-data record: 1.4.x sends each as a custom dimension of
    a `model_data_collection` trace, 1.5.x packs them in this order into PACKED_DIMENSION."""

    container_id: str = "Container Id"
    request_id: str = REQUEST_ID_DIMENSION
    client_request_id: str = "Client Request Id"
    workspace: str = "Workspace Name"
    service: str = SERVICE_DIMENSION
    models: str = "Models"
    input: str = "Input"
    prediction: str = "Prediction"

    def packed_order(self) -> tuple[str, ...]:
        """The keys in the order 1.5.x writes them."""
        return (
            self.container_id,
            self.request_id,
            self.client_request_id,
            self.workspace,
            self.service,
            self.models,
            self.input,
            self.prediction,
        )


MODEL_DATA = ModelDataFields()


def source_of(log_analytics: bool) -> Source:
    """The source a `--log-analytics` flag chooses."""
    return "log-analytics" if log_analytics else "app-insights"


@dataclass(frozen=True)
class AppTelemetry:
    """Table and column names of one App Insights schema."""

    # tables
    traces: str
    requests: str
    dependencies: str
    exceptions: str
    # columns every table has
    time: str
    role: str
    instance: str
    properties: str
    operation: str
    item_id: str
    # traces
    message: str
    severity: str
    # requests and dependencies
    success: str
    duration: str
    result_code: str
    # dependencies
    dep_type: str
    dep_target: str
    # exceptions
    ex_type: str
    ex_message: str
    ex_details: str

    def dimension(self, key: str) -> str:
        """`tostring(customDimensions["Service Name"])`: one custom dimension as a string."""
        return f"tostring({self.properties}[{kql.string(key)}])"


APP: dict[Source, AppTelemetry] = {
    "app-insights": AppTelemetry(
        traces="traces",
        requests="requests",
        dependencies="dependencies",
        exceptions="exceptions",
        time="timestamp",
        role="cloud_RoleName",
        instance="cloud_RoleInstance",
        properties="customDimensions",
        operation="operation_Id",
        item_id="itemId",
        message="message",
        severity="severityLevel",
        success="success",
        duration="duration",
        result_code="resultCode",
        dep_type="type",
        dep_target="target",
        ex_type="type",
        ex_message="outerMessage",
        ex_details="details",
    ),
    "log-analytics": AppTelemetry(
        traces="AppTraces",
        requests="AppRequests",
        dependencies="AppDependencies",
        exceptions="AppExceptions",
        time="TimeGenerated",
        role="AppRoleName",
        instance="AppRoleInstance",
        properties="Properties",
        operation="OperationId",
        item_id="_ItemId",
        message="Message",
        severity="SeverityLevel",
        success="Success",
        duration="DurationMs",
        result_code="ResultCode",
        dep_type="DependencyType",
        dep_target="Target",
        ex_type="ExceptionType",
        ex_message="OuterMessage",
        ex_details="Details",
    ),
}


def record_field(record: Mapping[str, Any], name: str) -> Any:
    """A field of an exported or downloaded record under either schema's column `name` (e.g.
    "message": `Message` or `message`), workspace first; None when neither is there."""
    for source in ("log-analytics", "app-insights"):
        column = getattr(APP[source], name)
        if column in record:
            return record[column]
    return None


@dataclass(frozen=True)
class TraceRow:
    """The columns every traces query projects either schema onto (amlmon's names, not a source's),
    so what reads the answer is blind to the source."""

    time: str = "timestamp"
    ingested: str = "ingested"  # ingestion_time(): when the row became queryable
    item_id: str = "itemId"
    message: str = "message"
    severity: str = "severityLevel"
    role: str = "role"
    instance: str = "instance"
    operation: str = "operationId"
    properties: str = "properties"
    target: str = "targetName"  # with targets: the one whose filter matched the row

    def columns(self) -> tuple[str, ...]:
        """The projected columns in query order (`target` only with targets, last)."""
        return (
            self.time,
            self.ingested,
            self.item_id,
            self.message,
            self.severity,
            self.role,
            self.instance,
            self.operation,
            self.properties,
        )

    def sources(self, source: Source) -> tuple[str, ...]:
        """What each of `columns()` is read from in `source`."""
        c = APP[source]
        return (
            c.time,
            "ingestion_time()",
            c.item_id,
            c.message,
            c.severity,
            c.role,
            c.instance,
            c.operation,
            c.properties,
        )


TRACE_ROW = TraceRow()


# ---------------------------------------------------------------------------------------------------
# v2 online endpoint tables (Log Analytics workspace, via a diagnostic setting on the endpoint)
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndpointLog:
    """One AmlOnlineEndpoint* table. The endpoint is only in `_ResourceId` (…/onlineEndpoints/NAME);
    the deployment is a column."""

    table: str
    time: str = "TimeGenerated"
    item_id: str = "_ItemId"
    resource: str = "_ResourceId"
    deployment: str = "DeploymentName"
    instance: str = "InstanceId"
    message: str = "Message"


@dataclass(frozen=True)
class TrafficLog(EndpointLog):
    """One row per request, with the real status and durations (integers, milliseconds)."""

    endpoint: str = "EndpointName"
    method: str = "Method"
    path: str = "Path"
    response_code: str = "ResponseCode"
    model_status_code: str = "ModelStatusCode"
    total_duration_ms: str = "TotalDurationMs"
    request_duration_ms: str = "RequestDurationMs"
    response_duration_ms: str = "ResponseDurationMs"
    request_id: str = "XRequestId"
    client_request_id: str = "XMSClientRequestId"
    request_throttle_ms: str = "RequestThrottlingDelayMs"
    response_throttle_ms: str = "ResponseThrottlingDelayMs"
    request_bytes: str = "RequestPayloadSize"
    response_bytes: str = "ResponsePayloadSize"


@dataclass(frozen=True)
class EndpointLogs:
    console: EndpointLog  # container stdout: score.py print and logging >= INFO
    traffic: TrafficLog
    events: EndpointLog  # container events (BackOff, Pulled, Killing, …), `Name` the event

    container: str = "ContainerName"
    event_name: str = "Name"

    def endpoint_match(self, endpoint: str, deployment: str | None = None) -> str:
        """A predicate for the rows of one endpoint (its name is only in the resource id; `endswith`
        ignores case, and Azure writes the id upper-case), optionally of one deployment."""
        match = f"{self.console.resource} endswith {kql.string('/onlineendpoints/' + endpoint.lower())}"
        if deployment:
            match += f" and {self.console.deployment} == {kql.string(deployment)}"
        return match

    def tables(self) -> tuple[str, ...]:
        """The three table names, which are also the endpoint's diagnostic-setting categories."""
        return (self.console.table, self.traffic.table, self.events.table)

    def table(self, events: bool) -> EndpointLog:
        """The console log, or with `events` the event log."""
        return self.events if events else self.console

    def detail(self, events: bool) -> tuple[str, str]:
        """(amlmon's name, the column) of what a row adds to its message: the container of a console
        line, the name of an event."""
        return ("name", self.event_name) if events else ("container", self.container)


ENDPOINT_LOGS = EndpointLogs(
    console=EndpointLog("AmlOnlineEndpointConsoleLog"),
    traffic=TrafficLog("AmlOnlineEndpointTrafficLog"),
    events=EndpointLog("AmlOnlineEndpointEventLog"),
)


# ---------------------------------------------------------------------------------------------------
# v2 data collector records (JSON lines in modelDataCollector/… blobs; CloudEvents-shaped)
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CollectorRecord:
    """The fields of one record the collector's sidecar writes."""

    time: str = "time"
    type: str = "type"  # azureml.inference.<collection>
    data: str = "data"
    id: str = "id"
    source: str = "source"  # the deployment's resource id
    request_id: str = "xrequestid"  # the front door's x-request-id
    correlation_id: str = "correlationid"  # score.py's correlation id, when it passes one on

    def request_ids(self) -> tuple[str, str]:
        """The fields that name the request (the real collector writes both)."""
        return (self.request_id, self.correlation_id)


COLLECTOR_RECORD = CollectorRecord()
