"""Reading exported telemetry from a storage container (azure-storage-blob, imported lazily).

Credentials, in order: a connection string the user supplies (AZURE_STORAGE_CONNECTION_STRING or
--connection-string; never printed), a SAS token already in the URL, else the shared Entra ID
credential. Retries are linear and short so a dead endpoint fails in seconds, not minutes, and stay
within --timeout (amlmon.azure.storage_retry).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from amlmon.errors import AuthError, NotFound, OperationFailed, UsageError
from amlmon.redact import redact

if TYPE_CHECKING:
    from amlmon.azure.session import Session

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


def _retry(session: Session | None) -> Any:
    """Storage's linear retries; with a session, within its --timeout deadline (waits and each attempt's
    connect and read timeouts: amlmon.azure.storage_retry)."""
    from azure.storage.blob import LinearRetry

    try:
        backoff = int(os.environ.get("AMLMON_STORAGE_BACKOFF", "2"))
    except ValueError:
        backoff = 2
    settings: dict[str, Any] = {"backoff": backoff, "random_jitter_range": 0, "retry_total": 3}
    if session is None:
        return LinearRetry(**settings)
    from amlmon.azure.storage_retry import BoundedLinearRetry

    return BoundedLinearRetry(session.deadline(), **settings)


def split_container_url(url: str) -> tuple[str, str | None, str]:
    """(account URL, container or None, prefix) from a blob URL; handles path-style hosts (Azurite)."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    path_style = parts.hostname in ("127.0.0.1", "localhost", "::1") or (
        parts.port is not None and ".blob." not in (parts.hostname or "")
    )
    account_segments = 1 if path_style and segments else 0
    account = "/".join(segments[:account_segments])
    base = f"{parts.scheme}://{parts.netloc}" + (f"/{account}" if account else "")
    rest = segments[account_segments:]
    container = rest[0] if rest else None
    prefix = "/".join(rest[1:])
    if parts.query:
        base += "?" + parts.query
    return base, container, prefix


def url_account(url: str) -> str | None:
    """The storage account a blob URL names: the first host label (ACCOUNT.blob.core.windows.net), or
    the first path segment of a path-style URL (Azurite: https://127.0.0.1:10000/ACCOUNT/container)."""
    account_url, _container, _prefix = split_container_url(url)
    parts = urlsplit(account_url)
    segments = [s for s in parts.path.split("/") if s]
    if segments:
        return segments[0]
    host = parts.hostname or ""
    return host.split(".")[0] if ".blob." in host else None


def _connection_string_parts(connection_string: str | None) -> dict[str, str]:
    text = connection_string or os.environ.get(CONNECTION_STRING_ENV) or ""
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)


def connection_string_account(connection_string: str | None) -> str | None:
    """The AccountName of a connection string (given, else $AZURE_STORAGE_CONNECTION_STRING); never the key."""
    return _connection_string_parts(connection_string).get("AccountName") or None


def connection_string_port(connection_string: str | None) -> int | None:
    """The port of a connection string's BlobEndpoint (its scheme's default when it names none); None
    without a BlobEndpoint (the cloud's endpoint: HTTPS on 443)."""
    endpoint = _connection_string_parts(connection_string).get("BlobEndpoint")
    return url_port(endpoint) if endpoint else None


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (80 if parts.scheme.lower() == "http" else 443)


def connection_string_host(connection_string: str | None) -> str | None:
    """The blob host a connection string sends every call to (its BlobEndpoint, else
    ACCOUNT.blob.SUFFIX): the SDK uses it, not the host of the URL amlmon was given."""
    parts = _connection_string_parts(connection_string)
    if parts.get("BlobEndpoint"):
        return urlsplit(parts["BlobEndpoint"]).hostname
    if parts.get("AccountName"):
        return f"{parts['AccountName']}.blob.{parts.get('EndpointSuffix') or 'core.windows.net'}".lower()
    return None


def blob_endpoint(client: Any) -> str:
    """The blob endpoint a BlobServiceClient calls: scheme, host, port and (path-style, as Azurite) the
    account, e.g. https://ACCOUNT.blob.core.windows.net. Never its credential: no SAS query, no user info
    (it may be saved to a file and shown)."""
    parts = urlsplit(f"{client.scheme}://{client.primary_hostname}")
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


FIRST_GET_BYTES = 16 * 1024 * 1024


def service_client(session: Session | None, account_url: str, connection_string: str | None) -> Any:
    """A BlobServiceClient for `account_url`; `session` (None: none) gives the Entra ID credential and the
    local cloud's CA bundle."""
    from azure.storage.blob import BlobServiceClient

    debug = session is not None and session.debug
    kwargs: dict[str, Any] = {
        "retry_policy": _retry(session),
        # a download's first answer holds up to this much (the SDK's default: 32 MB, later ones 4 MB):
        # two downloads at a time held ~70 MB more while a collector pull staged blobs of 86 MB
        # (bench_collector's day folder); an hour's collector blob is usually smaller: still one request
        "max_single_get_size": FIRST_GET_BYTES,
        **(_debug_hooks() if debug else {}),
    }
    if session is not None and session.cloud.ca_bundle and account_url.startswith("https://127.0.0.1"):
        kwargs["connection_verify"] = session.cloud.ca_bundle
    conn = connection_string or os.environ.get(CONNECTION_STRING_ENV)
    if conn:
        try:
            return BlobServiceClient.from_connection_string(conn, **kwargs)
        except ValueError:
            raise UsageError(
                "the storage connection string is malformed",
                hint=f"copy it from the portal (storage account → Access keys) into {CONNECTION_STRING_ENV}",
            ) from None
    if "?" in account_url:  # a SAS token in the URL is the credential
        return BlobServiceClient(account_url, **kwargs)
    if session is None or not account_url.lower().startswith("https://"):
        raise UsageError(
            f"no credential for {account_url.split('?')[0]} (a token is only sent over HTTPS)",
            hint=f"set {CONNECTION_STRING_ENV} to the account's connection string, or use a SAS URL",
        )
    return BlobServiceClient(account_url, credential=session.credential, **kwargs)


def _debug_hooks() -> dict[str, Any]:
    """--debug: one line per storage request attempt (method, URL with SAS signatures scrubbed, status,
    duration), as the ARM requests are logged; no headers or bodies (they carry the SharedKey signature and
    the collected data). Nothing is hooked without --debug."""
    import logging
    import time

    logger = logging.getLogger("amlmon.storage")

    def on_request(pipeline_request: Any) -> None:
        pipeline_request.context["amlmon_started"] = time.perf_counter()

    def on_response(pipeline_response: Any) -> None:
        request, response = pipeline_response.http_request, pipeline_response.http_response
        started = pipeline_response.context.get("amlmon_started")
        took = f" ({(time.perf_counter() - started) * 1000:.0f} ms)" if started is not None else ""
        logger.debug("%s %s → %s%s", request.method, redact(str(request.url)), response.status_code, took)

    return {"raw_request_hook": on_request, "raw_response_hook": on_response}


def translate_storage_error(
    exc: BaseException, where: str, *, connection_string: str | None = None, account: str | None = None
) -> Exception:
    """`exc` as amlmon's error. `connection_string`: the --connection-string given (None: none; the
    environment's is looked up here, as service_client does); `account`: the blob endpoint the client
    called (blob_endpoint: no credential in it), named when it could not be reached."""
    from azure.core import exceptions as core

    if isinstance(exc, core.ResourceNotFoundError):
        return NotFound(
            f"{where} does not exist",
            hint="check the container URL (diagnostic settings write to insights-logs-<category>)",
        )
    if isinstance(exc, core.ClientAuthenticationError) or getattr(exc, "status_code", None) in (401, 403):
        if connection_string or os.environ.get(CONNECTION_STRING_ENV):
            return _connection_string_refused(where, connection_string)
        return AuthError(
            f"the storage account refused the credential for {where}",
            hint=f"set {CONNECTION_STRING_ENV} to a valid connection string, use a SAS URL, or get the "
            "Storage Blob Data Reader role",
        )
    if isinstance(exc, core.ServiceRequestError | core.ServiceResponseError):
        reason = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        called = f" {account}" if account else ""
        return OperationFailed(
            f"could not reach the storage account{called} for {where} (after retries): {reason}",
            hint="check the URL and the network, then run again",
        )
    hint = (
        "check the URL (https://ACCOUNT.blob.core.windows.net/CONTAINER; Azurite: "
        "https://HOST:PORT/ACCOUNT/CONTAINER) and that the account and container exist"
    )
    if isinstance(exc, core.HttpResponseError):
        return OperationFailed(f"storage error on {where}: {redact(str(exc).splitlines()[0])}", hint=hint)
    return OperationFailed(f"storage error on {where}: {type(exc).__name__}", hint=hint)


def _connection_string_refused(where: str, given: str | None) -> AuthError:
    """A connection string is the credential of every call it is given for (service_client): a 401/403
    is its key or SAS refused, not a missing role (no Entra ID token was sent). Neither the string nor
    its secret is shown: only which setting held it."""
    secret = "SAS token" if "SharedAccessSignature" in _connection_string_parts(given) else "account key"
    # the option reads the environment variable too: the same text is the variable's
    typed = given and given != os.environ.get(CONNECTION_STRING_ENV)
    source = "--connection-string" if typed else CONNECTION_STRING_ENV
    return AuthError(
        f"the storage account refused the {secret} in the connection string ({source}) for {where}",
        hint=f"the {secret} is wrong, rotated or expired: copy the account's current connection string "
        f"(portal: storage account → Access keys) into {source}, or one with a SAS that allows read and list",
    )


class BlobSource:
    """One container (or every matching container of an account), listed and read line by line."""

    def __init__(
        self, session: Session | None, url: str, connection_string: str | None, containers: tuple[str, ...]
    ) -> None:
        self.url = url
        account_url, container, prefix = split_container_url(url)
        self.client = service_client(session, account_url, connection_string)
        self.connection_string = connection_string
        self.container = container
        self.prefix = prefix
        self.wanted = containers

    def _containers(self) -> list[str]:
        from azure.core.exceptions import AzureError

        if self.container:
            return [self.container]
        try:
            names = [c.name for c in self.client.list_containers()]
        except AzureError as exc:
            raise translate_storage_error(exc, "its container list", **self._called()) from None
        return [name for name in names if name.lower() in self.wanted]

    def blobs(self) -> Iterator[tuple[str, str]]:
        """(container, blob name) of every blob, listed (never guessed)."""
        from azure.core.exceptions import AzureError

        for name in self._containers():
            container = self.client.get_container_client(name)
            try:
                for blob in container.list_blobs(name_starts_with=self.prefix or None):
                    yield name, str(blob.name)
            except AzureError as exc:
                raise translate_storage_error(exc, f"container {name!r}", **self._called()) from None

    def lines(self, container: str, name: str) -> Iterator[str]:
        from azure.core.exceptions import AzureError

        try:
            downloader = self.client.get_blob_client(container, name).download_blob(max_concurrency=1)
            pending = b""
            for chunk in downloader.chunks():
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", errors="replace")
            if pending:
                yield pending.decode("utf-8", errors="replace")
        except AzureError as exc:
            raise translate_storage_error(exc, f"blob {container}/{name}", **self._called()) from None

    def _called(self) -> dict[str, Any]:
        """What translate_storage_error needs to say whose credential was refused."""
        return {"connection_string": self.connection_string}

    def close(self) -> None:
        self.client.close()
