"""Where the v2 data collector writes: the workspace's `workspaceblobstore` datastore, read through ARM.

The collector's documented destination is `azureml://datastores/workspaceblobstore/paths/
modelDataCollector/…` (azure-ai-docs how-to-collect-production-data.md, "Store collected data in Blob
Storage") — the datastore of that *name*, which Azure ML creates with every workspace as its default.
So amlmon GETs it by name (`…/workspaces/{ws}/datastores/workspaceblobstore?api-version=2024-04-01`)
rather than listing `…/datastores?isDefault=true` (the real list API offers that filter too, but a
user may have made another datastore the default, and the collector does not follow that).

Answer shape (azure-rest-api-specs stable/2024-04-01 examples Datastore/get.json):
`properties.datastoreType` "AzureBlob", `accountName`, `containerName`, `endpoint` (the storage suffix:
"core.windows.net", or a sovereign cloud's), `protocol` "https", `isDefault`, and `credentials`
{credentialsType, secrets {secretsType}} — a GET carries no key, and amlmon reads none of the
credentials block: it reads the blobs with the user's own credential (or their connection string).
azure-mgmt-machinelearningservices 1.0.1 (api 2020-08-01) has no datastores operations, so the call
goes through the session's ARM pipeline (amlmon.azure.arm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlmon.azure import paths
from amlmon.errors import NotFound, OperationFailed, UsageError

if TYPE_CHECKING:
    from amlmon.azure.arm import ArmClient

API_VERSION = "2024-04-01"
COLLECTOR_DATASTORE = "workspaceblobstore"
HINT = "give the container in --datastore-url https://ACCOUNT.blob.core.windows.net/CONTAINER"


@dataclass(frozen=True)
class BlobDatastore:
    """An AzureBlob datastore's container, as the datastore names it."""

    name: str
    account_name: str
    container: str
    endpoint: str  # the storage suffix, e.g. core.windows.net
    protocol: str

    @property
    def url(self) -> str:
        """The container's URL: {protocol}://{account}.blob.{suffix}/{container}."""
        return f"{self.protocol}://{self.account_name}.blob.{self.endpoint}/{self.container}"


def blob_datastore(body: Any, name: str = COLLECTOR_DATASTORE) -> BlobDatastore:
    """The container of a datastore GET answer; UsageError when it is not a blob datastore."""
    props = body.get("properties") if isinstance(body, dict) else None
    props = props if isinstance(props, dict) else {}
    kind = str(props.get("datastoreType") or "")
    if kind != "AzureBlob":
        raise UsageError(
            f"the workspace's datastore {name!r} is {kind or 'of no known type'}, not an Azure Blob "
            "container: amlmon cannot find the data collector's blobs in it",
            hint=HINT,
        )
    fields = {key: props.get(key) for key in ("accountName", "containerName", "endpoint")}
    missing = [key for key, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise OperationFailed(f"the workspace's datastore {name!r} names no {', '.join(missing)}", hint=HINT)
    protocol = str(props.get("protocol") or "https").lower()
    return BlobDatastore(
        name,
        str(fields["accountName"]),
        str(fields["containerName"]),
        str(fields["endpoint"]).strip("."),
        protocol,
    )


def collector_datastore(arm: ArmClient, workspace_id: str) -> BlobDatastore:
    """The `workspaceblobstore` container of the workspace `workspace_id` (its ARM resource id): one ARM
    GET; NotFound / UsageError with a hint."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    from amlmon.azure.arm import raise_for_status
    from amlmon.azure.errors import translate

    path = workspace_id + paths.join("datastores", COLLECTOR_DATASTORE)
    response = arm.request("GET", path, API_VERSION)
    try:
        raise_for_status(response)
    except ResourceNotFoundError:
        raise NotFound(
            f"the workspace has no datastore {COLLECTOR_DATASTORE!r} (where the v2 data collector writes)",
            hint=HINT,
        ) from None
    except HttpResponseError as exc:
        error = translate(exc) or OperationFailed(f"reading the datastore failed: {type(exc).__name__}")
        error.hint = f"{error.hint}; or {HINT}" if error.hint else HINT
        raise error from None
    return blob_datastore(response.json())
