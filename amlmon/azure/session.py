"""One session per command: the credential, the cloud, the retry policy bounded by --timeout, the
--debug / --verbose hooks, and the one pipeline factory every hand-built client goes through.

Also the one rule for which HTTP answers are worth asking again (`is_transient`) and the one table
from an HTTP status to an amlmon error (`status_error`). Imports no Azure SDK at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from amlmon.errors import AmlmonError, AuthError, NotFound, OperationFailed, Throttled

if TYPE_CHECKING:
    from amlmon.azure.retry import Deadline
    from amlmon.clouds import Cloud

USER_AGENT = "amlmon/0.1.0"
# Fewer, shorter retries than azure-core's default (10, up to 2 minutes apart) where a command-line
# user waits on the answer: the model-management API and v2 deployment reads and writes. Retry-After
# is honoured up to 60 s a wait, within --timeout (amlmon.azure.retry).
COMMAND_RETRY: dict[str, Any] = {"retry_total": 4, "retry_backoff_factor": 0.5, "retry_backoff_max": 8}
AUTH_HINT = (
    "sign in with `az login`, set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET (--auth env), "
    "or use a managed identity (--auth msi)"
)
ROLE_HINT = "ask for a role assignment on the resource"

Auth = Literal["arm", "bearer"] | None


def is_transient(status: int | None) -> bool:
    """Whether an HTTP status is worth asking again: timeouts, throttling and server errors other than
    501 / 505 (azure-core's retry policy's own rule; the follow loop and the --verbose notes use it)."""
    if status is None:
        return False
    return status in (408, 429) or (500 <= status < 600 and status not in (501, 505))


def status_error(
    status: int,
    text: str,
    *,
    service: str = "",
    not_found_hint: str = "check the name, -g/-w and --subscription",
    forbidden_hint: str = ROLE_HINT,
    server_hint: str | None = None,
) -> AmlmonError:
    """The amlmon error for an HTTP error status (after the retries); `service` prefixes the message of
    throttling and other failures, `server_hint` is the hint for a 5xx."""
    prefix = f"{service}: " if service else ""
    if status == 404:
        return NotFound(text, hint=not_found_hint)
    if status in (401, 403):
        return AuthError(text, hint=AUTH_HINT if status == 401 else forbidden_hint)
    if status == 429:
        return Throttled(f"{prefix}{text} (throttled after retries)", hint="wait a minute and retry")
    if status >= 500:  # the retries are spent: every error line has its hint (README), a 5xx too
        hint = (
            server_hint
            or "the service kept failing after amlmon's retries: retry later (--debug shows each request)"
        )
        return OperationFailed(f"{prefix}{text} (HTTP {status})", hint=hint)
    return OperationFailed(f"{prefix}{text} (HTTP {status})")


class Session:
    """What every Azure client is built from; the context makes one per command."""

    def __init__(
        self,
        cloud: Cloud,
        credential: Callable[[], Any],
        deadline: Callable[[], Deadline],
        *,
        debug: bool = False,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.cloud = cloud
        self._credential, self._deadline = credential, deadline
        self.debug = debug
        self._note = note  # --verbose: a line per answer the retry policy asks again

    @cached_property
    def credential(self) -> Any:
        return self._credential()

    def deadline(self) -> Deadline:
        """The command's --timeout deadline (amlmon.azure.retry), for a client's own retry policy."""
        return self._deadline()

    def retry_policy(self, **kwargs: Any) -> Any:
        """azure-core's RetryPolicy with every wait capped and bounded by the --timeout deadline."""
        from amlmon.azure.retry import BoundedRetryPolicy

        return BoundedRetryPolicy(self._deadline(), **kwargs)

    @cached_property
    def _pool(self) -> Any:
        """The command's one HTTPS connection pool (requests' HTTPAdapter, mounted as azure-core mounts its
        own: no retries below azure-core's). A connection one client opened, TLS handshake and all, then
        serves the next request of any client to that host: ARM's ML, App Insights, Log Analytics and
        generic reads share management.azure.com."""
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        return HTTPAdapter(max_retries=Retry(total=False, redirect=False, raise_on_status=False))

    def transport(self) -> Any:
        """A transport for one client over the shared pool: its own requests.Session (a Session is not
        meant to be used from several threads; the pool beneath it is), closed with the pool, not with it."""
        import requests
        from azure.core.pipeline.transport import RequestsTransport

        session = requests.Session()
        for prefix in ("https://", "http://"):
            session.mount(prefix, self._pool)
        verify = {"connection_verify": self.cloud.ca_bundle} if self.cloud.ca_bundle else {}
        return RequestsTransport(session=session, session_owner=False, **verify)

    def close(self) -> None:
        """Close the connections of every client built from this session."""
        pool = self.__dict__.pop("_pool", None)
        if pool is not None:
            pool.close()

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments every SDK client gets: TLS trust, user agent, logging, retries, the transport
        over the command's shared connection pool."""
        kwargs: dict[str, Any] = {
            "user_agent": USER_AGENT,
            "retry_policy": self.retry_policy(),
            "transport": self.transport(),
        }
        if self.cloud.ca_bundle:
            kwargs["connection_verify"] = self.cloud.ca_bundle
        if self.debug:
            kwargs["logging_enable"] = True
        if self._note is not None:
            kwargs["raw_response_hook"] = self._note_retryable
        return kwargs

    def pipeline(self, base_url: str, *, auth: Auth, retry: dict[str, Any] | None = None) -> Any:
        """An azure-core pipeline client for `base_url`: ARM's challenge-aware auth (`arm`), a plain
        bearer token for the ARM scope (`bearer`), or none; `retry` overrides azure-core's defaults."""
        from azure.core import PipelineClient
        from azure.core.pipeline import policies
        from azure.mgmt.core import ARMPipelineClient
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy, ARMHttpLoggingPolicy

        kwargs = self.client_kwargs()
        kwargs.pop("retry_policy")
        transport = kwargs.pop("transport")
        chain: list[Any] = [
            policies.RequestIdPolicy(),
            policies.HeadersPolicy(),
            policies.UserAgentPolicy(kwargs.pop("user_agent")),
            policies.ContentDecodePolicy(),
            self.retry_policy(**(retry or {})),
        ]
        if auth == "arm":
            chain.append(ARMChallengeAuthenticationPolicy(self.credential, self.cloud.arm_scope))
        elif auth == "bearer":
            chain.append(policies.BearerTokenCredentialPolicy(self.credential, self.cloud.arm_scope))
        chain += [
            policies.CustomHookPolicy(**kwargs),  # --verbose notes retried answers
            policies.NetworkTraceLoggingPolicy(**kwargs),
            ARMHttpLoggingPolicy() if auth == "arm" else policies.HttpLoggingPolicy(),
        ]
        client_class = ARMPipelineClient if auth == "arm" else PipelineClient
        verify = {k: v for k, v in kwargs.items() if k == "connection_verify"}
        return client_class(base_url=base_url, policies=chain, transport=transport, **verify)

    def _note_retryable(self, pipeline_response: Any) -> None:
        """An answer the SDK's retry policy will ask again (throttling, 5xx), as az's INFO lines show it."""
        response = pipeline_response.http_response
        if self._note is not None and is_transient(response.status_code):
            request = response.request
            after = response.headers.get("Retry-After")
            wait = f", Retry-After {after}s" if after else ""
            url = str(request.url).split("?", 1)[0]
            self._note(
                f"{request.method} {url} answered {response.status_code}{wait}; retryable: the SDK asks again while attempts remain"
            )
