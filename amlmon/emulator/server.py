"""The emulator's HTTPS server: loopback only, bearer tokens like Entra ID, fault injection, request log.

Only HTTP, the bearer check (auth.py) and faults live here; the shared state is state.py's EmulatorState. Route families
live in their own modules, each with `register(router, state)`:
  arm/              Azure Resource Manager (workspaces, components, Log Analytics workspaces,
                    diagnostic settings, online endpoints/deployments with async LROs)
  mms.py            AML discovery document + v1 model-management API (services, operations)
  logs_api.py       Log Analytics query API (workspace and resource-centric routes)
  ingestion.py      Application Insights ingestion (/v2.1/track)
  platform_metrics.py  Azure Monitor metrics of online endpoints and deployments
  v1_scoring.py / online_scoring.py  scoring URIs of v1 services and v2 endpoints
  deployment_logs.py / export_delivery.py  getLogs; diagnostic-setting export to storage
  seed.py, admin.py, admin_resources.py  /_emulator/* (no auth, loopback only)
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from amlmon.emulator.auth import check_bearer
from amlmon.emulator.faults import fault_response
from amlmon.emulator.http import Request, Response, Router, json_response, parse_query, request_id
from amlmon.emulator.state import EmulatorState
from amlmon.emulator.tls import ensure_certificates

STATE_FILE = "state.json"
# At shutdown, how long requests in progress get to send their answer (a seed answers 503 at once).
ANSWER_SECONDS = 2.0


def error_body_for(path: str, status: int) -> dict[str, Any]:
    """The error body a route family answers with (model management's is flat, the others wrapped)."""
    code = {
        429: "TooManyRequests",
        500: "InternalServerError",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status, "Error")
    message = {
        429: "Rate limit exceeded. Retry after the interval in the Retry-After header.",
        500: "An internal server error occurred.",
        503: "The service is temporarily unavailable.",
        504: "Gateway timeout",
    }.get(status, "Injected fault")
    if path.lower().startswith("/modelmanagement/"):
        return {"code": code, "statusCode": status, "message": message, "details": []}
    return {"error": {"code": code, "message": message}}


def build_router(state: EmulatorState) -> Router:
    from amlmon.emulator import (
        admin,
        arm,
        deployment_logs,
        endpoint_seed,
        export_delivery,
        inference,
        ingestion,
        logs_api,
        mms,
        online_inference,
        online_scoring,
        platform_metrics,
        seed,
        v1_scoring,
    )
    from amlmon.emulator import admin_resources as resources_admin

    router = Router()
    _register_identity(router, state)
    modules = (
        admin,
        resources_admin,
        platform_metrics,
        arm,
        mms,
        logs_api,
        ingestion,
        seed,
        endpoint_seed,
        inference,
        v1_scoring,
        online_inference,
        online_scoring,
    )
    for module in (*modules, deployment_logs, export_delivery):
        module.register(router, state)
    return router


def _register_identity(router: Router, state: EmulatorState) -> None:
    """Just enough of Entra ID's v2 endpoints for a client-credentials token."""

    def token(request: Request) -> Response:
        issued, lifetime = state.tokens.issue()
        return json_response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": issued,
            },
        )

    router.add("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", token)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: an answer is written as headers, then body; with Nagle's algorithm the body waits
    # for the client's (delayed, ~40 ms) ACK of the headers on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log replaces access logging; nothing may print tokens

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        if body and self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _handle(self) -> None:
        with self.server.answering():
            self._answer()

    def _answer(self) -> None:
        state = self.server.state
        # Not urlsplit: a path starting with "//" (an exporter whose endpoint ends in "/" posts to
        # //v2.1/track) would be read as a network location.
        raw_path, _, query_string = self.path.partition("?")
        request = Request(
            method=self.command,
            path=unquote(raw_path),
            raw_path=self.path,
            query=parse_query(query_string),
            headers=self.headers,
            body=self._read_body(),
        )
        response = self._respond(state, request)
        state.log_request(request, response.status if not response.reset_connection else 0)
        if response.reset_connection:
            self._reset()
            return
        self.send_response(response.status)
        headers = {
            "x-ms-request-id": request_id(),
            "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        }
        headers.update(response.headers)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _respond(self, state: EmulatorState, request: Request) -> Response:
        fault = None if request.path.startswith("/_emulator/") else state.faults.pick(request)
        if fault is not None and fault.kind == "revoke":
            state.tokens.revoke_all()  # then the auth check below answers with the claims challenge
        elif fault is not None:
            answer = fault_response(fault, error_body_for(request.path, fault.status))
            if answer is not None:
                return answer
        denied = check_bearer(state, request)
        if denied is not None:
            return denied
        try:
            return self.server.router.dispatch(request)
        except json.JSONDecodeError as exc:
            return json_response(
                400,
                {
                    "error": {
                        "code": "InvalidRequestContent",
                        "message": f"The request content was invalid: {exc}",
                    }
                },
            )
        except Exception as exc:  # an emulator bug must answer 500 like a service, not hang the client
            print(f"emulator: {request.method} {request.path} failed: {exc!r}", file=sys.stderr)
            return json_response(500, {"error": {"code": "InternalServerError", "message": str(exc)}})

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST: the client sees a connection reset.
        import struct

        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: EmulatorState, router: Router, family: int) -> None:
        self.address_family = family
        super().__init__(address, _Handler)
        self.state = state
        self.router = router
        self._answers = 0  # requests read and not yet answered
        self._answered = threading.Condition()

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        with self._answered:
            self._answers += 1
        try:
            yield
        finally:
            with self._answered:
                self._answers -= 1
                self._answered.notify_all()

    def wait_answered(self, timeout: float) -> None:
        """Until every request read so far has its answer (a seed stopping says so), at most `timeout`."""
        with self._answered:
            self._answered.wait_for(lambda: self._answers == 0, timeout=timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | ssl.SSLError | TimeoutError):
            return  # clients hang up; that is not the emulator's problem
        super().handle_error(request, client_address)


def check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"--host {host!r} is not an IP address; the emulator binds loopback only") from None
    if not address.is_loopback:
        raise ValueError(f"refusing to bind {host}: the emulator listens on loopback only (127.0.0.1 or ::1)")


class EmulatorServer:
    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        check_loopback(host)
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.state = EmulatorState(data_dir)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        bind_host = "127.0.0.1" if host == "localhost" else host
        self.httpd = _Server((bind_host, port), self.state, Router(), family)
        self.port = self.httpd.server_address[1]
        shown = f"[{bind_host}]" if family == socket.AF_INET6 else bind_host
        self.state.endpoint = f"https://{shown}:{self.port}"
        self.httpd.router = build_router(self.state)
        ca, cert, key = ensure_certificates(data_dir)
        self.ca_path = ca
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def write_state_file(self) -> None:
        state = {
            "endpoint": self.state.endpoint,
            "port": self.port,
            "pid": os.getpid(),
            "ca_path": str(self.ca_path),
            "tenant_id": self.state.tenant_id,
            "data_dir": str(self.data_dir),
            "started": datetime.now(UTC).isoformat(),
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)

    def serve_forever(self) -> None:
        """Serve until SIGTERM/SIGINT; the state file exists exactly while serving."""

        def stop(signum: int, frame: Any) -> None:
            self.state.stopping.set()  # before the loop ends: a seed in progress gives up at once
            threading.Thread(target=self.httpd.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.write_state_file()
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.close()

    def start_in_thread(self) -> threading.Thread:
        self.write_state_file()
        thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.state.stopping.set()
        for hook in reversed(self.state.shutdown_hooks):
            try:
                hook()
            except Exception as exc:  # keep closing the rest
                print(f"emulator: shutdown hook failed: {exc!r}", file=sys.stderr)
        self.state.shutdown_hooks.clear()
        self.httpd.wait_answered(timeout=ANSWER_SECONDS)
        self.httpd.server_close()
        try:
            state = json.loads(self.state_path.read_text())
            if state.get("pid") == os.getpid():
                self.state_path.unlink()
        except (OSError, ValueError):
            pass
