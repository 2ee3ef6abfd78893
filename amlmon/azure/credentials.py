"""Credentials: one per process, built lazily, shared by every client (see amlmon.context)."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from amlmon.errors import AuthError

AUTH_CHOICES = ("default", "cli", "env", "msi", "workload", "device", "browser")


class EmulatorCredential:
    """Client-credentials sign-in against the local emulator's Entra-ID-shaped token endpoint.

    Implements azure-core's TokenCredential protocol (get_token / get_token_info), so every SDK
    client accepts it. Tokens are cached and renewed shortly before they expire, like MSAL does.
    """

    def __init__(self, token_url: str, ca_path: str | None) -> None:
        self._token_url = token_url
        self._context = ssl.create_default_context(cafile=ca_path) if ca_path else None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, int]] = {}

    def get_token(self, *scopes: str, claims: str | None = None, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        token, expires_on = self._token_for(" ".join(scopes), claims)
        return AccessToken(token, expires_on)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        claims = (options or {}).get("claims")
        token, expires_on = self._token_for(" ".join(scopes), claims)
        return AccessTokenInfo(token, expires_on)

    def _token_for(self, scope: str, claims: str | None = None) -> tuple[str, int]:
        """The cached token, or a new one. A request with claims comes from a claims challenge (the
        service revoked the token, continuous access evaluation): the cached token is what it refused,
        so a new one is fetched, as MSAL does."""
        with self._lock:
            cached = self._cache.get(scope)
            if cached and not claims and cached[1] - 30 > time.time():
                return cached
            form = {
                "grant_type": "client_credentials",
                "client_id": "amlmon",
                "client_secret": "local",
                "scope": scope,
            }
            if claims:
                form["claims"] = claims
            request = urllib.request.Request(
                self._token_url, data=urllib.parse.urlencode(form).encode(), method="POST"
            )
            try:
                with urllib.request.urlopen(request, context=self._context, timeout=30) as response:
                    answer = json.loads(response.read())
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise AuthError(
                    f"could not get a token from the local emulator: {exc}",
                    hint="is it running? `amlmon emulator status`",
                ) from None
            token = (str(answer["access_token"]), int(time.time()) + int(answer.get("expires_in", 3600)))
            self._cache[scope] = token
            return token

    def close(self) -> None:
        return None

    def __enter__(self) -> EmulatorCredential:
        return self

    def __exit__(self, *args: Any) -> None:
        return None


class TokenCache:
    """A credential asked once per scope for the whole command, whichever client asks.

    Why: azure-core's bearer-token policy keeps a token per client, and a command builds several (the ML
    client, the generic ARM client, Log Analytics, …), some on threads; AzureCliCredential keeps none,
    so each client ran `az account get-access-token` (about a second each) for the same token. Tokens stay
    in this process's memory only and are fetched again REFRESH_MARGIN seconds before they expire (or
    when the token's own refresh time passed), as the policy does. A request with claims comes from a
    claims challenge (the service revoked the token): it goes to the credential, and its answer replaces
    the cached token.
    """

    REFRESH_MARGIN = 300  # seconds; azure-core's BearerTokenCredentialPolicy renews this early too

    def __init__(self, credential: Any) -> None:
        self.credential = credential
        self._guard = threading.Lock()
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._tokens: dict[tuple[Any, ...], Any] = {}  # key → AccessTokenInfo

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        key = (scopes, kwargs.get("tenant_id"), bool(kwargs.get("enable_cae")))
        info = self._cached(
            key,
            lambda: _token_info(self.credential.get_token(*scopes, **kwargs)),
            renew=bool(kwargs.get("claims")),
        )
        return AccessToken(info.token, info.expires_on)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        options = options or {}
        key = (scopes, options.get("tenant_id"), bool(options.get("enable_cae")))
        renew = bool(options.get("claims"))
        if hasattr(self.credential, "get_token_info"):
            return self._cached(key, lambda: self.credential.get_token_info(*scopes, options=options), renew)
        kwargs = {name: options[name] for name in ("tenant_id", "enable_cae", "claims") if name in options}
        return self._cached(key, lambda: _token_info(self.credential.get_token(*scopes, **kwargs)), renew)

    def _cached(self, key: tuple[Any, ...], fetch: Callable[[], Any], renew: bool = False) -> Any:
        """The fresh cached token of `key`, else a new one (always a new one when `renew`: a claims
        challenge refused the cached one, which no client gets again). Threads asking for the same key
        wait for one fetch instead of each running their own; other keys are fetched alongside."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            info = self._tokens.get(key)
            if renew or info is None or not _fresh(info, self.REFRESH_MARGIN):
                self._tokens.pop(key, None)
                info = self._tokens[key] = fetch()
            return info

    def close(self) -> None:
        close = getattr(self.credential, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> TokenCache:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


def _token_info(token: Any) -> Any:
    """An AccessToken (get_token's answer) as an AccessTokenInfo, the one shape the cache keeps."""
    from azure.core.credentials import AccessTokenInfo

    return AccessTokenInfo(token.token, int(token.expires_on))


def _fresh(info: Any, margin: float) -> bool:
    now = time.time()
    refresh_on = getattr(info, "refresh_on", None)
    return info.expires_on - margin > now and (refresh_on is None or refresh_on > now)


def build_credential(auth: str, *, interactive: bool, authority: str | None = None) -> Any:
    """The azure-identity credential for an --auth choice, behind one TokenCache for the command.
    Nothing prompts unless `interactive`."""
    return TokenCache(_identity_credential(auth, interactive=interactive, authority=authority))


def _identity_credential(auth: str, *, interactive: bool, authority: str | None = None) -> Any:
    import azure.identity as identity

    kwargs: dict[str, Any] = {}
    if authority:
        kwargs["authority"] = authority
    if auth == "default":
        return identity.DefaultAzureCredential(exclude_interactive_browser_credential=True, **kwargs)
    if auth == "cli":
        return identity.AzureCliCredential()
    if auth == "env":
        return identity.EnvironmentCredential(**kwargs)
    if auth == "msi":
        return identity.ManagedIdentityCredential()
    if auth == "workload":
        _require_workload_variables()
        return identity.WorkloadIdentityCredential(**kwargs)
    if not interactive:
        raise AuthError(
            f"--auth {auth} needs an interactive terminal, and this session has none (CI or no TTY)",
            hint="use --auth env (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET), --auth msi, or --auth workload",
        )
    if auth == "device":
        return identity.DeviceCodeCredential(**kwargs)
    if auth == "browser":
        return identity.InteractiveBrowserCredential(**kwargs)
    raise AuthError(f"unknown --auth {auth!r}", hint=f"use one of {', '.join(AUTH_CHOICES)}")


# What WorkloadIdentityCredential reads; AKS workload identity and federated CI set them.
WORKLOAD_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE")


def _require_workload_variables() -> None:
    """--auth workload without its variables: say which to set (the SDK raises a bare ValueError)."""
    import os

    missing = [name for name in WORKLOAD_VARIABLES if not os.environ.get(name)]
    if missing:
        raise AuthError(
            f"--auth workload needs {', '.join(WORKLOAD_VARIABLES)}; not set: {', '.join(missing)}",
            hint="set them (AKS workload identity and GitHub OIDC federation provide them), "
            "or use --auth env, --auth msi or --auth cli",
        )


def chain_failure(message: str) -> str | None:
    """One line for DefaultAzureCredential's failure: every credential it tried, each with its reason
    (the SDK's text spans a dozen lines of which amlmon would otherwise show only the first)."""
    import re

    if "Attempted credentials:" not in message:
        return None
    tried = []
    for line in message.splitlines():
        match = re.match(r"^\s+(\w+Credential): (.*)$", line)
        if match:
            name, reason = match.groups()
            short = _short_reason(name, reason)
            tried.append(f"{name} ({short})" if short else name)
    if not tried:
        return None
    return "DefaultAzureCredential found no credential; it tried " + ", ".join(tried)


def _short_reason(name: str, reason: str) -> str:
    """`EnvironmentCredential authentication unavailable. Environment variables are not fully configured.`
    → `Environment variables are not fully configured`; links and "see the guide" sentences dropped."""
    text = reason.replace(f"{name} authentication unavailable.", "").strip()
    for sentence in text.split(". "):
        sentence = sentence.strip().rstrip(".")
        if (
            sentence
            and not sentence.lower().startswith(("see ", "visit ", "to mitigate"))
            and "://" not in sentence
        ):
            return sentence
    return "unavailable"
