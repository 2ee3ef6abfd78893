"""Validate a document against one of the JSON Schema copies in tests/data (jsonschema, draft-07)."""

from __future__ import annotations

from typing import Any


def validate(document: Any, schema: dict[str, Any]) -> list[str]:
    """Every violation as `path: message` (empty when the document is valid)."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
