"""`amlmon logs ENDPOINT/DEPLOYMENT`: a v2 deployment's container log without any diagnostic setting.

The deployment's `POST …/deployments/{dep}/getLogs` with `{"containerType", "tail"}` answers
`{"content": "…"}`: the last lines of one container's stdout (the inference server, or the storage
initializer that downloaded the model) — what `az ml online-deployment get-logs` prints. It is a tail
of the running container, not the endpoint log tables: no time range, nothing from before a restart.
azure-mgmt-machinelearningservices 1.0.1 has no online-deployment operations, so the call goes through
the shared ARM pipeline (same credential, retries and challenge handling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from amlmon.errors import UsageError
from amlmon.redact import redact
from amlmon.targets import Target

if TYPE_CHECKING:
    from amlmon.context import AppContext

API_VERSION = "2023-10-01"
CONTAINERS = {"inference-server": "InferenceServer", "storage-initializer": "StorageInitializer"}


@dataclass(frozen=True)
class ContainerLog:
    target: str
    container: str
    tail: int
    content: str


def container_type(name: str) -> str:
    found = CONTAINERS.get(name.strip().lower())
    if found is None:
        raise UsageError(f"--container {name!r} is not a container", hint="use " + " or ".join(CONTAINERS))
    return found


def deployment_target(target: Target) -> Target:
    if not target.deployment:
        raise UsageError(
            f"{target.name!r} names an endpoint; getLogs reads one deployment's container",
            hint=f"give endpoint/deployment, e.g. {target.name}/blue (`amlmon services list` shows them)",
        )
    return target


def get_logs(ctx: AppContext, target: Target, container: str, tail: int) -> ContainerLog:
    from amlmon.azure import deployments_v2
    from amlmon.azure.arm import raise_for_status

    assert target.deployment is not None
    path = deployments_v2.deployment_path(ctx.v2_scope, target.name, target.deployment) + "/getLogs"
    kind = container_type(container)
    response = ctx.arm.request("POST", path, API_VERSION, body={"containerType": kind, "tail": tail})
    raise_for_status(response)
    content = (response.json() or {}).get("content") or ""
    # A container log can carry a connection string or token a script printed: never echo those.
    return ContainerLog(str(target), container, tail, redact(str(content)))
