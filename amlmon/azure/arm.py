"""A generic ARM client for resources amlmon reads or writes without a modelled SDK operation.

azure-mgmt-machinelearningservices 1.0.1 has no v1 services or v2 online-deployment operations, and
no SDK here models Log Analytics workspaces; those go through this ARMPipelineClient, which carries
the same credential, retry policy and ARM challenge handling as the SDK clients.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlmon.azure.session import Session


class ArmClient:
    """Requests to ARM through the session's pipeline (ARM's challenge-aware auth, azure-core's retries)."""

    def __init__(self, session: Session) -> None:
        self.base_url = session.cloud.arm
        self._client: Any = session.pipeline(self.base_url, auth="arm")

    def request(
        self,
        method: str,
        path: str,
        api_version: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Send one request and return the azure-core HttpResponse (errors are not raised here)."""
        from azure.core.rest import HttpRequest

        url = path if path.startswith("http") else self.base_url + path
        query = {"api-version": api_version, **(params or {})}
        all_headers = {"Accept": "application/json", **(headers or {})}
        content = None
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
            content = json.dumps(body)
        request = HttpRequest(method, url, params=query, headers=all_headers, content=content)
        return self._client.send_request(request)

    def get_json(self, path: str, api_version: str) -> dict[str, Any]:
        """GET a resource; raise azure-core's HttpResponseError (or ResourceNotFoundError) on failure."""
        response = self.request("GET", path, api_version)
        raise_for_status(response)
        return dict(response.json())

    def send_request(self, request: Any, **kwargs: Any) -> Any:
        return self._client.send_request(request, **kwargs)

    @property
    def pipeline_client(self) -> Any:
        return self._client

    def close(self) -> None:
        self._client.close()


def raise_for_status(response: Any) -> None:
    """Turn an error response into azure-core's typed exceptions, with the ARM error parsed."""
    if response.status_code < 400:
        return
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        map_error,
    )
    from azure.mgmt.core.exceptions import ARMErrorFormat

    error_map = {401: ClientAuthenticationError, 404: ResourceNotFoundError, 409: ResourceExistsError}
    map_error(status_code=response.status_code, response=response, error_map=error_map)
    raise HttpResponseError(response=response, error_format=ARMErrorFormat)
