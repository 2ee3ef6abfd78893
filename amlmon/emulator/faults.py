"""Fault injection: per route, for a count of requests or at a rate.

Kinds:
  status  answer `status` (429 adds Retry-After) with the route family's error body
  slow    wait `delay` seconds, then answer normally
  reset   drop the TCP connection without answering
  expire  answer 401 as if the bearer token had expired
  revoke  revoke every token issued so far: requests carrying one get Azure's CAE claims challenge
          (401, error="insufficient_claims"), which azure-core answers with a fresh token
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from amlmon.emulator.http import Request, Response, json_response

KINDS = ("status", "slow", "reset", "expire", "revoke")


@dataclass
class FaultRule:
    kind: str
    path: str = ".*"  # regex searched in the request path
    method: str | None = None
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    count: int | None = 1  # how many matching requests it hits; None = unlimited
    rate: float = 1.0  # probability that a matching request is hit
    id: int = 0
    hits: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        if self._pattern is None:
            self._pattern = re.compile(self.path, re.IGNORECASE)
        return bool(self._pattern.search(request.path))

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "retryAfter": self.retry_after,
            "delay": self.delay,
            "count": self.count,
            "rate": self.rate,
            "hits": self.hits,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultRule:
        kind = body.get("kind", "status")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(KINDS)}")
        re.compile(body.get("path", ".*"))
        rule = cls(
            kind=kind,
            path=body.get("path", ".*"),
            method=body.get("method"),
            status=int(body.get("status", 429 if body.get("retryAfter") is not None else 503)),
            retry_after=body.get("retryAfter"),
            delay=float(body.get("delay", 0.0)),
            count=body.get("count", 1),
            rate=float(body.get("rate", 1.0)),
        )
        rule.validate()
        return rule

    def validate(self) -> None:
        """Refuse a rule that could never mean what it says (ValueError → the admin API's 400)."""
        if not 0.0 < self.rate <= 1.0:  # also refuses NaN
            raise ValueError(f"rate {self.rate} is a probability: above 0 and at most 1")
        if not 0.0 <= self.delay < float("inf"):
            raise ValueError(f"delay {self.delay} must be 0 or more seconds")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise ValueError(f"count {self.count!r} must be a whole number of at least 1 (null: unlimited)")
        if not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status")
        if self.retry_after is not None and not 0.0 <= float(self.retry_after) < float("inf"):
            raise ValueError(f"retryAfter {self.retry_after} must be 0 or more seconds")


class FaultInjector:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self._random = random.Random(7)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, request: Request) -> FaultRule | None:
        """The first live rule that hits this request (and count it)."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(request):
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                rule.hits += 1
                return rule
        return None


def fault_response(rule: FaultRule, error_body: dict[str, Any]) -> Response | None:
    """What to answer for a fault; None means 'continue normally' (after a slow delay)."""
    if rule.kind == "slow":
        time.sleep(rule.delay)
        return None
    if rule.kind == "reset":
        return Response(0, reset_connection=True)
    if rule.kind == "expire":
        return json_response(
            401,
            {
                "error": {
                    "code": "ExpiredAuthenticationToken",
                    "message": "The access token expiry UTC time is earlier than current UTC time.",
                }
            },
            {
                "WWW-Authenticate": 'Bearer error="invalid_token", error_description="The access token has expired"'
            },
        )
    headers = {}
    if rule.retry_after is not None:
        headers["Retry-After"] = (
            str(int(rule.retry_after)) if float(rule.retry_after).is_integer() else str(rule.retry_after)
        )
    return json_response(rule.status, error_body, headers)
