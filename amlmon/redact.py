"""Scrubbing secrets out of any text amlmon writes: logs (--debug), errors, files.

Bearer tokens, SAS signatures, account keys, instrumentation keys inside connection strings, service
keys and client secrets are replaced by `***`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|accessToken)[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
    ),
    re.compile(r"(?i)((?:[?&]|\b)sig=)[^&\"'\s]+"),
    re.compile(r"(?i)((?:AccountKey|SharedAccessKey|InstrumentationKey)=)[^;\"'\s]+"),
    re.compile(
        r"(?i)([\"'](?:ConnectionString|primaryKey|secondaryKey|InstrumentationKey)[\"']\s*:\s*[\"'])[^\"']*"
    ),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message with secrets removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is still worth logging, redacted
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        return True


class _DebugHandler(logging.StreamHandler):
    """--debug's handler: writes to the sys.stderr of the moment (so a captured stderr gets it), and is
    told apart from a user's handlers when replaced."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def enable_debug_logging() -> None:
    """HTTP-level logging of the Azure SDK to stderr, secrets redacted."""
    handler = _DebugHandler()
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    for name in ("azure", "amlmon"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        for old in [h for h in logger.handlers if isinstance(h, _DebugHandler)]:  # a second run in-process
            logger.removeHandler(old)
        logger.addHandler(handler)
    # Each request once: the network trace (logging_enable, with bodies) already logs it; azure-core's
    # HttpLoggingPolicy would log the same request and response again, headers only.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    logging.getLogger("azure.mgmt.core.policies").setLevel(logging.WARNING)


def silence_sdk_logging() -> None:
    """Without --debug the SDK's own warnings (e.g. each failed credential) stay quiet: amlmon reports
    the failure itself, in one line with a fix. A handler on "azure" keeps logging's last-resort
    handler from printing them to stderr. A --debug run earlier in the same process (tests, embedding)
    leaves nothing behind: its handlers go and the levels return to the default."""
    for name in ("azure", "amlmon"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, _DebugHandler)]:
            logger.removeHandler(old)
        logger.setLevel(logging.NOTSET)
    azure = logging.getLogger("azure")
    if not any(isinstance(h, logging.NullHandler) for h in azure.handlers):  # one, however many runs
        azure.addHandler(logging.NullHandler())
