"""The 1.5.x inference server's `custom_dimensions` literal, read without evaluating anything.

azureml-inference-server-http 1.5.x logs repr() of one dict as ONE model-data property; App Insights
cuts it at 8,192 characters. `read_packed` reads the whole literal of the server's exact shape,
`read_packed_prefix` the pairs that survived a cut (amlmon.telemetry decodes the rest).
"""

from __future__ import annotations

import re
from typing import Any

from amlmon.schema import MODEL_DATA

# Read in C:
# azureml-inference-server-http 1.5.x logs repr() of one dict built in one order (Container Id, Request
# Id, Client Request Id, Workspace Name, Service Name, Models, Input, Prediction): strings, None, and a
# tuple of model ids. One regex matches that exact shape and captures the eight values; Python only
# unescapes them. ast.literal_eval stays the reference and reads anything of another shape (every
# truncated record among them): it compiles the text, ~45 µs a record; this takes ~10 µs.
# An escape is a backslash and an ASCII character: unescaping goes through Latin-1, where a backslash
# before anything wider would read differently from Python.
_STRING = (
    r"'[^'\\\n\r\x00]*(?:\\[\x01-\x09\x0b\x0c\x0e-\x7f][^'\\\n\r\x00]*)*'"
    r'|"[^"\\\n\r\x00]*(?:\\[\x01-\x09\x0b\x0c\x0e-\x7f][^"\\\n\r\x00]*)*"'
)
_TUPLE = rf"\(\)|\((?:{_STRING}),\)|\((?:{_STRING})(?:, (?:{_STRING}))+\)"
PACKED_KEYS = MODEL_DATA.packed_order()
_SERVER_KEYS = PACKED_KEYS[:5]  # the five strings (or None) before the models tuple
_SERVER_SHAPE = re.compile(
    r"\{"
    + "".join(f"'{key}': ({_STRING}|None), " for key in _SERVER_KEYS)
    + rf"'Models': ({_TUPLE}|None), 'Input': ({_STRING}|None), 'Prediction': ({_STRING}|None)"
    + r"\}"
)
_STRING_TOKEN = re.compile(_STRING)


def _literal_string(token: str) -> str | None:
    if token == "None":
        return None
    body = token[1:-1]
    if "\\" not in body:
        return body
    # Python's own escape rules (\\, \', \n, \xNN, \uNNNN …); characters beyond Latin-1 survive the
    # round trip as \u escapes. A malformed escape raises UnicodeDecodeError (the caller falls back).
    return body.encode("latin-1", "backslashreplace").decode("unicode_escape")


def read_packed(text: str) -> dict[str, Any] | None:
    """The dict of a 1.5.x `custom_dimensions` literal as the server writes it, or None for text of any
    other shape (ast.literal_eval then decides). Evaluates nothing."""
    match = _SERVER_SHAPE.fullmatch(text)
    if match is None:
        return None
    values = match.groups()
    try:
        fields: dict[str, Any] = {
            key: _literal_string(value) for key, value in zip(_SERVER_KEYS, values, strict=False)
        }
        models = values[5]
        fields[MODEL_DATA.models] = (
            None if models == "None" else tuple(map(_literal_string, _STRING_TOKEN.findall(models)))
        )
        fields[MODEL_DATA.input] = _literal_string(values[6])
        fields[MODEL_DATA.prediction] = _literal_string(values[7])
    except UnicodeDecodeError:
        return None
    return fields


_KEY_SEPARATOR = re.compile(r": ")
_NEXT_ITEM = re.compile(r", ")
_NONE = re.compile(r"None")
_WHOLE_TUPLE = re.compile(_TUPLE)


def read_packed_prefix(text: str) -> tuple[dict[str, Any], list[str]]:
    """The key/value pairs of a 1.5.x literal that are whole in `text` (a literal App Insights cut at
    8,192 characters), and the keys of the server's order that are not (cut or after the cut).

    A value is whole when its closing token lies inside the text: a string's closing quote (repr
    escapes every quote inside), `None`, a tuple's `)`. Evaluates nothing."""
    fields: dict[str, Any] = {}
    at = 1 if text.startswith("{") else len(text)
    while at < len(text):
        key = _STRING_TOKEN.match(text, at)
        separator = key and _KEY_SEPARATOR.match(text, key.end())
        if not key or not separator:
            break
        value_at = separator.end()
        value = _STRING_TOKEN.match(text, value_at) or _NONE.match(text, value_at)
        value = value or _WHOLE_TUPLE.match(text, value_at)
        if value is None:
            break
        try:
            name = _literal_string(key.group(0))
            token = value.group(0)
            decoded: Any = (
                tuple(map(_literal_string, _STRING_TOKEN.findall(token)))
                if token.startswith("(")
                else _literal_string(token)
            )
        except UnicodeDecodeError:
            break
        if name is not None:
            fields[name] = decoded
        following = _NEXT_ITEM.match(text, value.end())
        if following is None:
            break
        at = following.end()
    return fields, [key for key in PACKED_KEYS if key not in fields]
