"""A workspace's datastores (Microsoft.MachineLearningServices/workspaces/datastores, api 2024-04-01).

Shapes from azure-rest-api-specs stable/2024-04-01 examples Datastore/get.json and list.json: `id`,
`name`, `type`, `properties` {`description`, `tags`, `properties`, `isDefault`, `credentials`
{`credentialsType`, `secrets` {`secretsType`}}, `datastoreType`, then per type: AzureBlob `accountName`,
`containerName`, `endpoint` (the storage suffix, "core.windows.net"), `protocol`; AzureFile
`fileShareName` instead of the container}, `systemData`. A GET never carries a secret (keys come from
the separate listSecrets call, which the emulator does not offer). The list takes `isDefault` as a
query filter. A PUT (createOrUpdate, examples Datastore/*/createOrUpdate.json) stores the body's
properties and answers them without the secret (201 when new, 200 when replaced); the emulator never
keeps the secret.

Every workspace gets the two Azure ML creates: `workspaceblobstore` (AzureBlob, the default, container
`azureml-blobstore-{workspace guid}` — where the v2 data collector writes) and `workspacefilestore`
(AzureFile). Their storage account is the workspace's; once a test has given the emulator a storage
account for model data (`POST /_emulator/modeldata/storage`, Azurite in tests), that account's name is
answered, so the datastore names the account the collector's blobs are really in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlmon.emulator.arm.common import ML, not_found, now_text, paged
from amlmon.emulator.http import Request, Response, arm_error, json_response

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

TYPE = f"{ML}/workspaces/datastores"
BLOB_STORE = "workspaceblobstore"
FILE_STORE = "workspacefilestore"
STORAGE_SUFFIX = "core.windows.net"


def default_datastores(ws_id: str, workspace: dict[str, Any]) -> list[dict[str, Any]]:
    """The datastores Azure ML creates with a workspace (stored at creation)."""
    props = workspace.get("properties") or {}
    account = str(props.get("storageAccount") or "").rsplit("/", 1)[-1]
    guid = props.get("workspaceId") or "unknown"
    common = {
        "description": None,
        "tags": {},
        "properties": {},
        "credentials": {"credentialsType": "AccountKey", "secrets": {"secretsType": "AccountKey"}},
        "accountName": account,
        "endpoint": STORAGE_SUFFIX,
        "protocol": "https",
    }
    blob = {
        **common,
        "isDefault": True,
        "datastoreType": "AzureBlob",
        "containerName": f"azureml-blobstore-{guid}",
    }
    share = {**common, "isDefault": False, "datastoreType": "AzureFile", "fileShareName": f"code-{guid}"}
    return [_body(ws_id, BLOB_STORE, blob), _body(ws_id, FILE_STORE, share)]


def _body(ws_id: str, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    stamp = now_text()
    return {
        "id": f"{ws_id}/datastores/{name}",
        "name": name,
        "type": TYPE,
        "properties": properties,
        "systemData": {
            "createdAt": stamp,
            "createdBy": "amlmon-emulator",
            "createdByType": "Application",
            "lastModifiedAt": stamp,
            "lastModifiedBy": "amlmon-emulator",
            "lastModifiedByType": "Application",
        },
    }


def _shown(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """The stored body; one in the workspace's own storage account names the account the emulator
    really writes model data to (Azurite in tests)."""
    account = _configured_account(state)
    workspace = state.resources.get(str(body["id"]).split("/datastores/", 1)[0]) or {}
    own = str((workspace.get("properties") or {}).get("storageAccount") or "").rsplit("/", 1)[-1]
    if account and own and body["properties"].get("accountName") == own:
        body["properties"]["accountName"] = account
    return body


def _configured_account(state: EmulatorState) -> str | None:
    connection = state.online.connection_string
    if not connection:
        return None
    parts = dict(part.split("=", 1) for part in connection.split(";") if "=" in part)
    return parts.get("AccountName")


def _workspace_or_404(state: EmulatorState, request: Request) -> Response | None:
    ws_id = request.path.split("/datastores", 1)[0]
    return None if state.resources.get(ws_id) is not None else not_found(ws_id)


def get_datastore(state: EmulatorState, request: Request) -> Response:
    missing = _workspace_or_404(state, request)
    if missing is not None:
        return missing
    body = state.resources.get(request.path)
    if body is None:
        return not_found(request.path)
    return json_response(200, _shown(state, body))


def list_datastores(state: EmulatorState, request: Request) -> Response:
    missing = _workspace_or_404(state, request)
    if missing is not None:
        return missing
    found = [_shown(state, body) for body in state.resources.list(prefix=request.path.rstrip("/"), type=TYPE)]
    wanted = (request.q("isDefault") or "").lower()
    if wanted in ("true", "false"):
        found = [body for body in found if bool(body["properties"].get("isDefault")) == (wanted == "true")]
    return paged(state, request, found)


def put_datastore(state: EmulatorState, request: Request) -> Response:
    missing = _workspace_or_404(state, request)
    if missing is not None:
        return missing
    try:
        sent = request.json()
    except ValueError:
        sent = None
    props = sent.get("properties") if isinstance(sent, dict) else None
    if (
        not isinstance(props, dict)
        or not props.get("datastoreType")
        or not isinstance(props.get("credentials"), dict)
    ):
        return arm_error(400, "UserError", "A datastore needs properties with datastoreType and credentials.")
    props = dict(props)
    credentials = dict(props["credentials"])
    secrets = credentials.get("secrets")
    if isinstance(secrets, dict):  # answered (and kept) without the secret itself
        credentials["secrets"] = {"secretsType": secrets.get("secretsType")}
    props["credentials"] = credentials
    ws_id = request.path.split("/datastores", 1)[0]
    existed = state.resources.get(request.path) is not None
    body = _body(ws_id, request.params["name"], props)
    state.resources.put(body["id"], body)
    return json_response(200 if existed else 201, _shown(state, body))


def delete_datastore(state: EmulatorState, request: Request) -> Response:
    """ARM's delete: 200 when it existed, 204 when not."""
    missing = _workspace_or_404(state, request)
    if missing is not None:
        return missing
    return Response(200 if state.resources.delete(request.path) else 204)
