"""Delivering telemetry to storage the way a diagnostic setting does (emulator side).

`POST /_emulator/export/deliver` body (all optional):
  {"subscription", "resourceGroup", "workspace"   — only that workspace's component (else every one),
   "since", "until"                                — ISO times, since < until (default: the last 30 days),
   "accountKey" | "connectionString"               — how to write to the storage account's blob endpoint
                                                     (e.g. Azurite's), never stored or logged,
   "directory"                                     — write files under this local folder instead}
→ 200 {"records": n, "blobs": [{"container", "name", "records"}]}

For every component with a diagnostic setting that has a storageAccountId, each enabled category's
rows (read through this emulator's own Log Analytics query route, so the data is exactly what the
query API answers) are written as Azure does: container `insights-logs-<category lower-case>`, blob
`resourceId=/SUBSCRIPTIONS/…/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`, one JSON record per line with
`time`, `resourceId`, `ResourceGUID`, `Type` and the table's columns (dynamic columns as objects).
Each run rewrites whole hour blobs, so delivering twice gives the same blobs.

A diagnostic setting never back-fills: Azure streams a resource's data to a setting's destinations as
it arrives, from the setting's creation on (learn.microsoft.com, "Diagnostic settings in Azure
Monitor": resource logs are not collected until they are routed to a destination; after a setting is
made, data starts flowing within up to 90 minutes — the emulator delivers when asked, without that
delay). So a category's rows are exported only when they were ingested at or after the moment the
setting began exporting that category. Every stored row has its ingestion time (the store's hidden
`_IngestionTime`, what KQL's `ingestion_time()` answers; never returned as a column), and the emulator
keeps, privately (the ARM GET has no creation time), when each setting began exporting each category
(state.DiagnosticSettings: at creation, when an update enables a category or changes the storage
account; a deleted setting exports nothing). Seeded telemetry is history, ingested in the past: a
setting created after it exports none of it. To build a world where the setting was there first,
`POST /_emulator/export/started` {"resourceId", "name", "since"} moves that setting's start back to
`since` (ISO) → 200 {"categories": {category: since}}; 400 for a malformed time, 404 when there is no
such setting.
Known limit: a setting deleted and made again rewrites an hour blob with only the rows since the new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.message
import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, arm_error, json_response

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

LA_API_PREFIX = "/v1/workspaces/"
# Columns the query API adds that an exported record does not carry (it has time/resourceId instead).
_NOT_EXPORTED = {"TimeGenerated", "_ResourceId", "TenantId", "SourceSystem", "Type", "_SubscriptionId"}


def register(router: Router, state: EmulatorState) -> None:
    def deliver(request: Request) -> Response:
        body = request.json() or {}
        try:
            report = deliver_all(router, state, body)
        except DeliveryError as exc:
            return arm_error(exc.status, exc.code, str(exc))
        return json_response(200, report)

    def started(request: Request) -> Response:
        body = request.json() or {}
        try:
            since = dt.datetime.fromisoformat(str(body.get("since") or "").replace("Z", "+00:00"))
        except ValueError:
            return arm_error(400, "BadRequest", "give since as an ISO time, e.g. 2026-11-30T08:00:00Z")
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
        categories = state.diagnostic_settings.backdate(
            str(body.get("resourceId") or ""), str(body.get("name") or ""), since
        )
        if categories is None:
            return arm_error(
                404, "ResourceNotFound", f"no diagnostic setting {body.get('name')!r} on that resource"
            )
        return json_response(200, {"categories": categories})

    router.add("POST", r"/_emulator/export/deliver", deliver)
    router.add("POST", r"/_emulator/export/started", started)


class DeliveryError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _components(state: EmulatorState, body: dict[str, Any]) -> list[dict[str, Any]]:
    store = state.resources
    found = store.list(type="microsoft.insights/components")
    if body.get("workspace"):
        workspace_id = (
            f"/subscriptions/{body.get('subscription')}/resourceGroups/{body.get('resourceGroup')}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{body['workspace']}"
        )
        workspace = store.get(workspace_id)
        if workspace is None:
            raise DeliveryError(404, "ResourceNotFound", f"workspace {workspace_id} not found")
        linked = str((workspace.get("properties") or {}).get("applicationInsights") or "").lower()
        found = [c for c in found if str(c.get("id", "")).lower() == linked]
    return found


def _settings(state: EmulatorState, component_id: str) -> list[dict[str, Any]]:
    """The component's diagnostic settings with a storage destination."""
    found = state.diagnostic_settings.settings(component_id)
    return [body for body in found if (body.get("properties") or {}).get("storageAccountId")]


def _categories(setting: dict[str, Any]) -> list[str]:
    logs = (setting.get("properties") or {}).get("logs") or []
    names: list[str] = []
    for log in logs:
        if not log.get("enabled"):
            continue
        if log.get("categoryGroup") in ("allLogs", "audit"):
            names.extend(["AppTraces", "AppRequests", "AppDependencies", "AppExceptions"])
        elif log.get("category"):
            names.append(str(log["category"]))
    return list(dict.fromkeys(names))


def _query(router: Router, state: EmulatorState, customer_id: str, kql: str, timespan: str) -> dict[str, Any]:
    """Run KQL through this emulator's own query route, in process (no faults, a fresh token)."""
    token, _ = state.tokens.issue()
    headers = email.message.Message()
    headers["Authorization"] = f"Bearer {token}"
    headers["Content-Type"] = "application/json"
    path = f"{LA_API_PREFIX}{customer_id}/query"
    payload = json.dumps({"query": kql, "timespan": timespan}).encode()
    response = router.dispatch(Request("POST", path, path, {}, headers, payload))
    if response.status != 200:
        raise DeliveryError(
            502, "QueryFailed", f"reading telemetry failed: HTTP {response.status} {response.body[:300]!r}"
        )
    return dict(json.loads(response.body))


def _records(answer: dict[str, Any], category: str, component: dict[str, Any]) -> list[dict[str, Any]]:
    table = (answer.get("tables") or [{}])[0]
    columns = [(c["name"], c.get("type")) for c in table.get("columns") or []]
    resource_id = str(component["id"]).upper()
    guid = (component.get("properties") or {}).get("AppId")
    records = []
    for row in table.get("rows") or []:
        record: dict[str, Any] = {}
        for (name, kind), value in zip(columns, row, strict=False):
            if name == "TimeGenerated":
                record["time"] = _export_time(value)
            elif name in _NOT_EXPORTED or value is None or value == "":
                continue
            elif kind == "dynamic" and isinstance(value, str):
                try:
                    record[name] = json.loads(value)
                except ValueError:
                    record[name] = value
            else:
                record[name] = value
        records.append(
            {
                "time": record.pop("time", None),
                "resourceId": resource_id,
                "ResourceGUID": guid,
                "Type": category,
                **record,
            }
        )
    return records


def _kql_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _export_time(value: Any) -> str:
    """Azure writes seven fractional digits: 2026-11-25T10:00:00.1234560Z."""
    text = str(value).replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text) if "." not in text else _parse_fraction(text)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _parse_fraction(text: str) -> dt.datetime:
    head, rest = text.split(".", 1)
    digits = "".join(ch for ch in rest if ch.isdigit())
    zone = rest[len(digits) :] or "+00:00"
    parsed = dt.datetime.fromisoformat(f"{head}.{(digits + '000000')[:6]}{zone}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def blob_name(resource_id: str, hour: dt.datetime) -> str:
    return f"resourceId={resource_id.upper()}/y={hour:%Y}/m={hour:%m}/d={hour:%d}/h={hour:%H}/m=00/PT1H.json"


def _moment(body: dict[str, Any], key: str, default: dt.datetime) -> str:
    """`body[key]` as the ISO time it must be (it goes into KQL: anything else is refused), else
    `default`."""
    value = body.get(key)
    if value is None:
        return default.isoformat()
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise DeliveryError(400, "BadRequest", f"{key} must be an ISO 8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).isoformat()


def deliver_all(router: Router, state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    since = _moment(body, "since", now - dt.timedelta(days=30))
    until = _moment(body, "until", now + dt.timedelta(minutes=1))
    if dt.datetime.fromisoformat(since) >= dt.datetime.fromisoformat(until):
        raise DeliveryError(400, "BadRequest", "since must be before until")
    report: dict[str, Any] = {"records": 0, "blobs": []}
    for component in _components(state, body):
        la_id = (component.get("properties") or {}).get("WorkspaceResourceId")
        la = state.resources.get(str(la_id)) if la_id else None
        customer_id = (la or {}).get("properties", {}).get("customerId")
        if not customer_id:
            continue
        for setting in _settings(state, str(component["id"])):
            writer = _writer(state, setting, body)
            for category in _categories(setting):
                started = state.diagnostic_settings.exporting_since(
                    str(component["id"]), str(setting["name"]), category
                )
                kql = (
                    f"{category} | where _ResourceId =~ '{str(component['id']).lower()}'"
                    f" | where TimeGenerated >= datetime({since}) and TimeGenerated < datetime({until})"
                    # Only what arrived after the setting began exporting this category: no back-fill.
                    f" | where ingestion_time() >= datetime({_kql_time(started)})"
                    " | order by TimeGenerated asc"
                )
                answer = _query(router, state, str(customer_id), kql, f"{since}/{until}")
                by_hour: dict[dt.datetime, list[str]] = defaultdict(list)
                for record in _records(answer, category, component):
                    when = _parse_fraction(record["time"].replace("Z", "+00:00"))
                    by_hour[when.replace(minute=0, second=0, microsecond=0)].append(json.dumps(record))
                container = f"insights-logs-{category.lower()}"
                for hour, lines in sorted(by_hour.items()):
                    name = blob_name(str(component["id"]), hour)
                    writer(container, name, ("\n".join(lines) + "\n").encode())
                    report["blobs"].append({"container": container, "name": name, "records": len(lines)})
                    report["records"] += len(lines)
    return report


def _writer(state: EmulatorState, setting: dict[str, Any], body: dict[str, Any]) -> Any:
    """A function writing one blob: into a local folder, or to the storage account's blob endpoint."""
    if body.get("directory"):
        if not isinstance(body["directory"], str):  # a number would be a folder in the emulator's cwd
            raise DeliveryError(400, "BadRequest", "give directory as a path (a string)")
        return _folder_writer(Path(body["directory"]))
    return _storage_writer(state, setting, body)


def _folder_writer(root: Path) -> Any:
    """Blobs as files under `root` (container/name), each written whole then renamed."""

    def to_folder(container: str, name: str, data: bytes) -> None:
        path = root / container / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:  # the caller's folder, not the emulator, is at fault
            raise DeliveryError(400, "DirectoryNotWritable", f"cannot write under directory: {exc}") from None

    return to_folder


def _storage_writer(state: EmulatorState, setting: dict[str, Any], body: dict[str, Any]) -> Any:
    """Blobs uploaded to the setting's storage account, with the credential the body gives."""
    account = state.resources.get(str(setting["properties"]["storageAccountId"]))
    if account is None:
        raise DeliveryError(
            404,
            "StorageAccountNotFound",
            f"storage account {setting['properties']['storageAccountId']} not found",
        )
    endpoint = ((account.get("properties") or {}).get("primaryEndpoints") or {}).get("blob")
    if not endpoint:
        raise DeliveryError(
            409, "NoBlobEndpoint", f"storage account {account.get('name')} has no blob endpoint"
        )
    from azure.storage.blob import BlobServiceClient

    if body.get("connectionString"):
        try:
            service = BlobServiceClient.from_connection_string(str(body["connectionString"]))
        except ValueError:  # the SDK's reason is not shown: it can quote the account key
            raise DeliveryError(400, "InvalidConnectionString", "connectionString does not parse") from None
    elif body.get("accountKey"):
        account_name = (
            str(endpoint).rstrip("/").rsplit("/", 1)[-1]
            if "127.0.0.1" in endpoint or "localhost" in endpoint
            else str(account.get("name"))
        )
        service = BlobServiceClient(
            str(endpoint), credential={"account_name": account_name, "account_key": str(body["accountKey"])}
        )
    else:
        raise DeliveryError(400, "NoStorageCredential", "give accountKey or connectionString (or directory)")
    _check_account_key(service)
    created: set[str] = set()

    def to_blob(container: str, name: str, data: bytes) -> None:
        from azure.core.exceptions import ResourceExistsError

        if container not in created:
            with contextlib.suppress(ResourceExistsError):
                service.create_container(container)
            created.add(container)
        service.get_blob_client(container, name).upload_blob(data, overwrite=True)

    return to_blob


def _check_account_key(service: Any) -> None:
    """A shared key that is not base64 fails only when the first request is signed, as a ValueError
    quoting the key's length: refuse it first (400), in words that quote nothing of it."""
    import base64
    import binascii

    key = getattr(service.credential, "account_key", None)
    if key is None:  # no shared key (a SAS or anonymous endpoint): nothing to decode
        return
    try:
        base64.b64decode(key, validate=True)
    except binascii.Error:
        raise DeliveryError(400, "InvalidConnectionString", "the account key is not base64") from None
