"""Azure SDK exceptions → amlmon errors with an exit code and a one-line hint."""

from __future__ import annotations

from typing import Any

from amlmon.azure.session import AUTH_HINT, ROLE_HINT, status_error
from amlmon.errors import AmlmonError, AuthError, OperationFailed, QueryTimedOut, Throttled
from amlmon.redact import redact


def response_json(response: Any) -> Any:
    """A response's body as JSON, or None (no response, no body, or not JSON)."""
    if response is None:
        return None
    try:
        return response.json()
    except Exception:
        return None


def error_fields(body: Any) -> tuple[str | None, str | None]:
    """(code, message) of an error body: ARM's `{"error": {…}}` or model management's flat one."""
    if not isinstance(body, dict):
        return None, None
    inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
    return inner.get("code"), inner.get("message")


def _service_error(exc: Any) -> tuple[str | None, str]:
    """(code, message) from an HttpResponseError, whatever the error body's flavour."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    message = getattr(error, "message", None) if error is not None else None
    if not message:
        body_code, message = error_fields(response_json(getattr(exc, "response", None)))
        code = code or body_code
    if not message:
        message = str(getattr(exc, "message", "") or exc)
    first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    if first.startswith("(") and ") " in first:  # azure-core prefixes "(Code) message"
        first = first.split(") ", 1)[1]
    return code, redact(first)


def translate(exc: BaseException) -> AmlmonError | None:
    """An AmlmonError for a known Azure SDK exception, else None."""
    try:
        from azure.core import exceptions as core
    except ImportError:  # pragma: no cover - the SDK is a dependency
        return None
    if type(exc).__name__ == "CredentialUnavailableError" or isinstance(exc, core.ClientAuthenticationError):
        if isinstance(exc, core.HttpResponseError) and getattr(exc, "status_code", None) == 403:
            code, message = _service_error(exc)
            return AuthError(f"not authorized ({code}): {message}", hint=ROLE_HINT)
        code, message = _service_error(exc) if isinstance(exc, core.HttpResponseError) else (None, str(exc))
        from amlmon.azure.credentials import chain_failure

        first = redact(
            chain_failure(str(exc)) or (message.strip().splitlines() or ["no credential available"])[0]
        )
        return AuthError(f"authentication failed: {first}", hint=AUTH_HINT)
    if isinstance(exc, core.ServiceResponseTimeoutError | core.ServiceRequestTimeoutError):
        return Throttled(
            f"the service did not answer in time: {redact(str(exc).splitlines()[0])}", hint="retry later"
        )
    if isinstance(exc, core.ServiceRequestError | core.ServiceResponseError):
        return OperationFailed(
            f"could not reach the service: {redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}",
            hint="check the network, or with --cloud local that the emulator runs (`amlmon emulator status`)",
        )
    if isinstance(exc, core.HttpResponseError):
        status = getattr(exc, "status_code", None)
        code, message = _service_error(exc)
        text = f"{code}: {message}" if code else message
        if status == 504:
            # Not retried (amlmon.azure.logs.FINAL_STATUSES): asking again would time out the same way.
            return QueryTimedOut(
                f"{text}: the query outlived the server timeout",
                hint="raise --server-timeout (up to 600 s), or narrow the time range or the query",
            )
        return status_error(status, text) if status else OperationFailed(text)
    return None
