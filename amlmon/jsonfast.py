"""JSON lines parsed and rows encoded with orjson when it is installed (several times faster than the
standard library on the collector's records, issue 16), with exactly the standard library's results.

- `loads_line`: orjson reads only strict UTF-8 JSON, and where it reads a line it gives the value
  `json.loads` gives (floats correctly rounded, the last of duplicate keys) but for integers past 64 bits
  (floats to orjson): lines with a number that long, and anything orjson refuses (NaN, lone surrogates,
  bytes that are not UTF-8, …) are read by `json.loads` of the line decoded with replacement characters,
  as before; a lone surrogate (`\ud800` escaped alone) is replaced too, as no UTF-8 text can hold it.
- `compact_text`: the text `json.dumps(value, separators=(",", ":"), ensure_ascii=False)` writes. orjson
  writes the same text except for floats below 1e-4 (`0.00001` for `1e-05`), floats past 1e16 in some
  forms, and NaN/Infinity (as `null`): an answer holding an exponent, `0.0000` or `null` is encoded again
  by the standard library. tests/unit/test_jsonfast.py compares the two on generated values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

orjson: Any
try:  # a dependency (pyproject.toml); the standard library alone gives the same results, slower
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_MAYBE_OTHER = re.compile(rb"[0-9][eE]|0\.0000|null")
_DIGITS = bytes.maketrans(b"012345678", b"999999999")
_LONG_NUMBER = b"9" * 19  # -9223372036854775808 and 18446744073709551615 have 19 and 20 digits


def json_object(line: Any, loads: Callable[[Any], Any]) -> dict[str, Any] | None:
    """The JSON object a line holds (read by `loads`), or None when it is not JSON or not an object: what
    the readers of JSON lines count as malformed."""
    try:
        value = loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def loads_line(line: bytes) -> Any:
    """The JSON value of one line (json.loads' value; ValueError when it is not JSON)."""
    return line_loader(line)(line)


def line_loader(piece: bytes) -> Callable[[bytes], Any]:
    """loads_line for the lines of `piece`, chosen once for them all: orjson reads integers past 64 bits
    as floats, so a piece with a run of 19 digits or more is read by the standard library."""
    if orjson is None or _LONG_NUMBER in piece.translate(_DIGITS):
        return _stdlib_loads
    return _orjson_loads


def _orjson_loads(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:  # what it refuses, the standard library may read (NaN, …)
        return _stdlib_loads(line)


def _stdlib_loads(line: bytes) -> Any:
    value = json.loads(line.decode("utf-8", errors="replace"))
    # A `\ud800` escape alone is valid JSON but no character: UTF-8 cannot write it, so no dataset could
    # hold it. It becomes U+FFFD, as bytes that are not UTF-8 do (orjson refuses such lines: only here).
    return _without_lone_surrogates(value) if _SURROGATE_ESCAPE.search(line) else value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item) for key, item in value.items()}
    return value


def compact_text(value: Any) -> str:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False)` of a decoded JSON value."""
    if orjson is not None:
        try:
            text = orjson.dumps(value)
        except TypeError:  # integers past 64 bits, keys that are not strings: the standard library's way
            return _ENCODER.encode(value)
        if _MAYBE_OTHER.search(text) is None:
            return text.decode("utf-8")
    return _ENCODER.encode(value)
