"""Bearer tokens like Entra ID's: issued with an expiry, expirable and revocable (CAE claims challenge)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from typing import TYPE_CHECKING

from amlmon.emulator.http import Request, Response, json_response

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState


class TokenStore:
    """Bearer tokens the emulator issued, with their expiry; revoked ones are answered with a claims
    challenge, as Azure's continuous access evaluation (CAE) does."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.lifetime = lifetime
        self._tokens: dict[str, float] = {}
        self._revoked: set[str] = set()
        self.revoked_at = 0
        self._lock = threading.Lock()

    def issue(self) -> tuple[str, int]:
        token = "emu." + secrets.token_urlsafe(32)
        lifetime = int(self.lifetime)
        with self._lock:
            self._tokens[token] = time.time() + lifetime
        return token, lifetime

    def check(self, token: str) -> str | None:
        """None when valid, else the reason ('invalid', 'expired' or 'revoked')."""
        with self._lock:
            expiry = self._tokens.get(token)
            revoked = token in self._revoked
        if expiry is None:
            return "invalid"
        if time.time() >= expiry:
            return "expired"
        return "revoked" if revoked else None

    def expire_all(self) -> int:
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = 0.0
            return len(self._tokens)

    def revoke_all(self) -> int:
        """Revoke every token issued so far (a sign-out, a disabled account, a policy change)."""
        with self._lock:
            self._revoked.update(self._tokens)
            self.revoked_at = int(time.time())
            return len(self._tokens)


def claims_challenge(endpoint: str, tenant_id: str, revoked_at: int) -> str:
    """The WWW-Authenticate value Azure sends for a revoked token: error="insufficient_claims" and the
    claims a new token must satisfy (issued not before the revocation), base64-encoded JSON."""
    claims = json.dumps(
        {"access_token": {"nbf": {"essential": True, "value": str(revoked_at)}}}, separators=(",", ":")
    )
    encoded = base64.b64encode(claims.encode()).decode()
    return (
        f'Bearer realm="", authorization_uri="{endpoint}/{tenant_id}/oauth2/authorize", '
        f'error="insufficient_claims", claims="{encoded}"'
    )


# Paths reachable without a bearer token, as on Azure: sign-in, ingestion (the key is in each
# envelope), the discovery document, scoring (service keys), and the emulator's own admin API.
PUBLIC_PREFIXES = (
    "/_emulator/",
    "/v2/track",
    "/v2.1/track",
    "/discovery",
    "/api/v1/service/",
    "/api/v1/endpoint/",
)


def check_bearer(state: EmulatorState, request: Request) -> Response | None:
    """None when the request may pass; else the 401 Entra ID / ARM answer (missing, expired, invalid or
    revoked token — a revoked one with the CAE claims challenge)."""
    path = request.path
    if path.startswith(PUBLIC_PREFIXES) or "/oauth2/" in path:
        return None
    auth = request.header("Authorization") or ""
    if not auth.lower().startswith("bearer "):
        return json_response(
            401,
            {
                "error": {
                    "code": "AuthenticationFailed",
                    "message": "Authentication failed. The 'Authorization' header is missing.",
                }
            },
            {
                "WWW-Authenticate": f'Bearer authorization_uri="{state.endpoint}/{state.tenant_id}", error="invalid_token"'
            },
        )
    reason = state.tokens.check(auth[7:].strip())
    if reason is None:
        return None
    if reason == "revoked":
        return json_response(
            401,
            {
                "error": {
                    "code": "InvalidAuthenticationToken",
                    "message": "The access token has been revoked.",
                }
            },
            {"WWW-Authenticate": claims_challenge(state.endpoint, state.tenant_id, state.tokens.revoked_at)},
        )
    code = "ExpiredAuthenticationToken" if reason == "expired" else "InvalidAuthenticationToken"
    message = (
        "The access token expiry UTC time is earlier than current UTC time."
        if reason == "expired"
        else "The access token is invalid."
    )
    return json_response(
        401,
        {"error": {"code": code, "message": message}},
        {
            "WWW-Authenticate": f'Bearer authorization_uri="{state.endpoint}/{state.tenant_id}", error="invalid_token"'
        },
    )
