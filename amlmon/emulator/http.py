"""A tiny request/response/router layer over http.server, shared by every emulated service."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str  # percent-decoded path, no query string
    raw_path: str  # as sent, with the query string
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups captured by the route pattern

    def q(self, name: str, default: str | None = None) -> str | None:
        """A query-string value, matched case-insensitively like Azure does."""
        for key, values in self.query.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return default

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return value if value is not None else default

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Set by fault injection: drop the TCP connection instead of answering.
    reset_connection: bool = False


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    body = b"" if obj is None else json.dumps(obj).encode("utf-8")
    merged = {"Content-Type": "application/json; charset=utf-8"}
    merged.update(headers or {})
    return Response(status, body, merged)


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """ARM's error envelope: {"error": {"code", "message"}}."""
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


def request_id() -> str:
    return str(uuid.uuid4())


Handler = Callable[[Request], Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a handler. `pattern` is a regex matched against the whole path, case-insensitively."""
        self._routes.append((method.upper(), re.compile(pattern + r"/?$", re.IGNORECASE), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return decorate

    def dispatch(self, request: Request) -> Response:
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if not match:
                continue
            path_matched = True
            if method != request.method:
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            return handler(request)
        if path_matched:
            return arm_error(
                405, "MethodNotAllowed", f"The requested method {request.method} is not allowed."
            )
        return arm_error(404, "NotFound", f"No route for {request.method} {request.path}")


def parse_query(query_string: str) -> dict[str, list[str]]:
    return parse_qs(query_string, keep_blank_values=True)
