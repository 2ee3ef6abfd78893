"""Local authentication at the ingestion endpoint: a component with `DisableLocalAuth: true` accepts
only Microsoft Entra-authenticated telemetry (a bearer token for the Monitoring Metrics Publisher
role), so a batch that carries only the instrumentation key is refused as a whole with HTTP 401.

Sources of the answer: microsoft/ApplicationInsights-dotnet#2893 ("/v2/track fails with 401
Unauthorized if local authentication is disabled"); azure-monitor-opentelemetry-exporter (the
inference server's exporter) treats 401 as "Your Application Insights resource may be configured to use
entra ID authentication" (export/_base.py, 1.0.0b40); the Azure Monitor docs page "Microsoft Entra
authentication for Application Insights" (DisableLocalAuth, Monitoring Metrics Publisher). The body
keeps the track answer's shape ({itemsReceived, itemsAccepted, errors[]}); its message is the
emulator's own wording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, json_response

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

REFUSED = (
    "Unauthorized: the Application Insights resource has local authentication disabled and accepts "
    "only Microsoft Entra ID authenticated telemetry"
)


def _local_auth_disabled(component: dict[str, Any] | None) -> bool:
    value = ((component or {}).get("properties") or {}).get("DisableLocalAuth")
    return value is True or str(value).lower() == "true"


def _entra_token(state: EmulatorState, request: Request) -> bool:
    auth = request.header("Authorization") or ""
    return auth.lower().startswith("bearer ") and state.tokens.check(auth[7:].strip()) is None


def refusal(state: EmulatorState, request: Request, envelopes: list[Any]) -> Response | None:
    """The 401 answer when any envelope goes to a component that refuses key-only ingestion."""
    from amlmon.emulator.ingestion import component_for_key

    if _entra_token(state, request):
        return None
    refused = [
        index
        for index, envelope in enumerate(envelopes)
        if isinstance(envelope, dict)
        and envelope.get("iKey")
        and _local_auth_disabled(component_for_key(state, str(envelope["iKey"])))
    ]
    if not refused:
        return None
    return json_response(
        401,
        {
            "itemsReceived": len(envelopes),
            "itemsAccepted": 0,
            "errors": [{"index": i, "statusCode": 401, "message": REFUSED} for i in range(len(envelopes))],
        },
    )
