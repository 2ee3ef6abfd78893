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

from amlmon.errors import AmlmonError, NotFound, UsageError
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


def deployment_target(target: Target, ctx: AppContext | None = None) -> Target:
    """`target` when it names a deployment; otherwise the error, said from the workspace (with `ctx`):
    an endpoint with its deployments, a v1 web service, or an unknown name with did-you-mean."""
    if not target.deployment:
        error = unknown_target(ctx, target) if ctx is not None else None
        if error is not None:
            raise error
        names = _deployments_of(ctx, target.name) if ctx is not None else []
        raise UsageError(
            f"{target.name!r} names an endpoint; getLogs reads one deployment's container",
            hint=f"give endpoint/deployment, e.g. {' or '.join(names)}"
            if names
            else f"give endpoint/deployment, e.g. {target.name}/blue (`amlmon services list` shows them)",
        )
    return target


def require_target(ctx: AppContext, target: Target) -> None:
    """The endpoint (and deployment) exist: an unknown one is exit 3 with did-you-mean, a v1 web
    service exit 2, never an empty log or ARM's raw ResourceNotFound."""
    from amlmon.azure import deployments_v2

    try:
        if target.deployment:
            deployments_v2.get_deployment(ctx.v2_scope, target.name, target.deployment)
        else:
            deployments_v2.list_deployments(ctx.v2_scope, target.name)
    except Exception as exc:
        error = unknown_target(ctx, target) if _not_found(exc) else None
        if error is None:
            raise
        raise error from None


def _not_found(exc: Exception) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    return isinstance(exc, ResourceNotFoundError) or getattr(exc, "status_code", None) == 404


def unknown_target(ctx: AppContext, target: Target) -> AmlmonError | None:
    """Why `target` is no v2 deployment or endpoint, from the workspace's own names (read on this error
    path only): a v1 web service, or an unknown endpoint or deployment with did-you-mean. None when
    the workspace has what it names (nothing to explain)."""
    from amlmon.azure import deployments_v2
    from amlmon.targets import suggest

    endpoints = [str(e.get("name")) for e in deployments_v2.list_endpoints(ctx.v2_scope)]
    endpoint = next((name for name in endpoints if name.lower() == target.name.lower()), None)
    if endpoint is None:
        if target.name.lower() in (name.lower() for name in _v1_services(ctx)):
            return UsageError(
                f"{target.name!r} is a v1 web service; `amlmon logs` reads v2 online deployments",
                hint=f"read its Application Insights traces: amlmon traces {target.name}",
            )
        close = suggest(target.name, endpoints)
        listed = (
            f"its online endpoints: {', '.join(sorted(endpoints))}"
            if endpoints
            else "the workspace has no online endpoints"
        )
        return NotFound(
            f"no online endpoint named {target.name!r} in the workspace",
            hint=f"did you mean {' or '.join(close)}?"
            if close
            else f"{listed} (`amlmon services list` shows every deployment)",
        )
    if not target.deployment:
        return None
    names = _deployments_of(ctx, endpoint)
    if f"{endpoint}/{target.deployment}".lower() in (name.lower() for name in names):
        return None
    close = suggest(f"{endpoint}/{target.deployment}", names)
    return NotFound(
        f"endpoint {endpoint} has no deployment named {target.deployment!r}",
        hint=f"did you mean {' or '.join(close)}?"
        if close
        else (f"its deployments: {', '.join(names)}" if names else f"endpoint {endpoint} has no deployments"),
    )


def _deployments_of(ctx: AppContext, endpoint: str) -> list[str]:
    from amlmon.azure import deployments_v2

    return [f"{endpoint}/{d.get('name')}" for d in deployments_v2.list_deployments(ctx.v2_scope, endpoint)]


def _v1_services(ctx: AppContext) -> list[str]:
    """The workspace's v1 web service names; none when they cannot be listed (the error stands without)."""
    from amlmon.diagnostics import Workspace

    ws = Workspace(ctx)
    try:
        return [str(service.get("name")) for service in ws.mms.list_services()]
    except Exception:
        return []
    finally:
        ws.close()


def get_logs(ctx: AppContext, target: Target, container: str, tail: int) -> ContainerLog:
    from amlmon.azure import deployments_v2
    from amlmon.azure.arm import raise_for_status

    assert target.deployment is not None
    path = deployments_v2.deployment_path(ctx.v2_scope, target.name, target.deployment) + "/getLogs"
    kind = container_type(container)
    response = ctx.arm.request("POST", path, API_VERSION, body={"containerType": kind, "tail": tail})
    error = unknown_target(ctx, target) if response.status_code == 404 else None
    if error is not None:  # which name is wrong, with did-you-mean, not ARM's raw message
        raise error
    raise_for_status(response)
    content = (response.json() or {}).get("content") or ""
    # A container log can carry a connection string or token a script printed: never echo those.
    return ContainerLog(str(target), container, tail, redact(str(content)))
