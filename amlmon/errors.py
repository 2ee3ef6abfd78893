"""Error types. Each carries the exit code the CLI returns and a one-line hint that says what to do.

Exit codes (documented in README.md):
    0  success
    1  operation failed (a write failed, a check breached, a partial result)
    2  usage / invalid input
    3  resource not found
    4  authentication / authorization
    5  throttled or timed out after retries
    6  `amlmon check`: the gate could not be evaluated (service error, partial result, rejected query)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_THROTTLED = 5
EXIT_GATE_ERROR = 6
EXIT_INTERRUPTED = 130


class AmlmonError(Exception):
    """Base error: `message` says what went wrong, `hint` says how to fix it."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class OperationFailed(AmlmonError):
    exit_code = EXIT_FAILED


class UsageError(AmlmonError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A setting is missing or a configuration file is malformed."""


class NotFound(AmlmonError):
    exit_code = EXIT_NOT_FOUND


class WorkspaceNotFound(NotFound):
    """The workspace itself is not there (not a resource in it)."""


class AuthError(AmlmonError):
    exit_code = EXIT_AUTH


class Throttled(AmlmonError):
    exit_code = EXIT_THROTTLED


class QueryTimedOut(Throttled):
    """The query outlived the time the service was asked to wait (`Prefer: wait`, HTTP 504)."""


class QueryError(OperationFailed):
    """The query service rejected a query (syntax or semantic error)."""


class PartialResult(OperationFailed):
    """The service returned part of the result and an error."""


class RejectedQuery(QueryError):
    """A syntax or semantic error, with where the service says it is (line 1-based, pos 0-based)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        line: int | None = None,
        pos: int | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.line, self.pos, self.token = line, pos, token


class GateError(AmlmonError):
    """`amlmon check` could not evaluate the gate: never a pass, and not confused with a breached
    threshold (EXIT_FAILED)."""

    exit_code = EXIT_GATE_ERROR


class Interrupted(AmlmonError):
    """Ctrl-C during a long operation, after what it had done was reported."""

    exit_code = EXIT_INTERRUPTED
