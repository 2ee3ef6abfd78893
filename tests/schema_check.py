"""A JSON Schema (draft-07) validator for the keywords tests/data/*.schema.json use: type, enum, pattern,
minimum, properties, required, additionalProperties, items, anyOf, oneOf. (jsonschema is not a
dependency of this project; this is the subset our schema copies need, nothing more.)"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every violation as `path: what`; an empty list means valid."""
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        names = kind if isinstance(kind, list) else [kind]
        if not any(_is_type(value, name) for name in names):
            return [f"{path}: {value!r} is not of type {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and _is_type(value, "number") and value < schema["minimum"]:
        errors.append(f"{path}: {value!r} is less than {schema['minimum']}")
    if isinstance(value, dict):
        errors += _object(value, schema, path)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{index}]")
    if "anyOf" in schema and all(validate(value, option, path) for option in schema["anyOf"]):
        errors.append(f"{path}: matches none of anyOf")
    if "oneOf" in schema:
        matching = sum(not validate(value, option, path) for option in schema["oneOf"])
        if matching != 1:
            errors.append(f"{path}: matches {matching} of oneOf, not exactly one")
    return errors


def _object(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    errors = [f"{path}: {name!r} is required" for name in schema.get("required", []) if name not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            errors += validate(item, properties[key], f"{path}.{key}")
        elif extra is False:
            errors.append(f"{path}: {key!r} is not allowed")
        elif isinstance(extra, dict):
            errors += validate(item, extra, f"{path}.{key}")
    return errors
