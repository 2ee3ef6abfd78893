"""Error types. Each carries the exit code the CLI returns and a one-line hint that says what to do.

Exit codes (documented in README.md):
    0  success
    1  operation failed (a write failed, a check breached, a partial result)
    2  usage / invalid input
    3  resource not found
    4  authentication / authorization
    5  throttled or timed out after retries
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_THROTTLED = 5
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


class Interrupted(AmlmonError):
    """Ctrl-C while waiting: amlmon stops; what it already sent may go on server-side."""

    exit_code = EXIT_INTERRUPTED
