"""--flatten: input/prediction shapes that are the same in every record, as extra columns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amlmon.datasets.rows import format_time

MAX_LEAVES = 256
MAX_DEPTH = 4


def leaf_paths(value: Any, prefix: str, depth: int = 0) -> dict[str, Any] | None:
    """`{"input.data[0][1]": 4.0, ...}` for the scalars inside `value`; None when too big or too deep."""
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return None
        items: Iterable[tuple[str, Any]] = ((f"{prefix}.{key}", item) for key, item in value.items())
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            return None
        items = ((f"{prefix}[{index}]", item) for index, item in enumerate(value))
    else:
        return {prefix: value}
    leaves: dict[str, Any] = {}
    for path, item in items:
        inner = leaf_paths(item, path, depth + 1)
        if inner is None or len(leaves) + len(inner) > MAX_LEAVES:
            return None
        leaves.update(inner)
    return leaves


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "string"


@dataclass
class _Records:
    """How many records, and the first few by name: memory stays flat however many there are."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, label: str, keep: int = 5) -> None:
        self.count += 1
        if len(self.first) < keep:
            self.first.append(label)

    def __str__(self) -> str:
        more = f" and {self.count - len(self.first)} more" if self.count > len(self.first) else ""
        return ", ".join(self.first) + more


@dataclass
class FlattenNotes:
    """What --flatten left as JSON only, and which records, for the user to be told."""

    varied: dict[str, _Records] = field(default_factory=dict)  # field → records shaped unlike its first
    truncated: _Records = field(default_factory=_Records)  # records App Insights cut: no flattened values

    def lines(self) -> list[str]:
        def have(n: int) -> str:
            return "record has" if n == 1 else "records have"

        out = [
            f"--flatten: {field_name} was not flattened in any record: {records.count} {have(records.count)} "
            f"another shape than the first ({records})"
            for field_name, records in self.varied.items()
        ]
        if self.truncated.count:
            out.append(
                f"--flatten: {self.truncated.count} truncated {have(self.truncated.count)} no flattened "
                f"values ({self.truncated})"
            )
        return out


def _record_label(row: Mapping[str, Any]) -> str:
    when = row.get("time")
    text = when if isinstance(when, str) else format_time(when)
    return f"request {row['request_id']}" if row.get("request_id") else f"record at {text}"


def flatten_spec(
    rows: Iterable[Mapping[str, Any]], notes: FlattenNotes | None = None
) -> dict[str, tuple[str, str, str]]:
    """Columns for fields whose every whole record has the same leaf paths: name → (field, path, kind).

    Truncated and empty records do not vote; a field whose shape varies is not flattened (`notes`, when
    given, collects the records that made it vary and the truncated ones).
    """
    shapes: dict[str, list[str] | None] = {}
    first_paths: dict[str, list[str] | None] = {}
    kinds: dict[str, dict[str, set[str]]] = {"input": {}, "prediction": {}}
    for row in rows:
        if row.get("truncated"):
            if notes is not None:
                notes.truncated.add(_record_label(row))
            continue
        for field_name in ("input", "prediction"):
            value = row.get(field_name)
            if value is None:
                continue
            leaves = leaf_paths(value, field_name) if isinstance(value, dict | list) else None
            paths = list(leaves) if leaves else None
            if field_name not in first_paths:
                first_paths[field_name] = paths
            elif first_paths[field_name] != paths and notes is not None:
                notes.varied.setdefault(field_name, _Records()).add(_record_label(row))
            if shapes.get(field_name, []) is None:
                continue
            if field_name not in shapes:
                shapes[field_name] = paths
            elif shapes[field_name] != paths:
                shapes[field_name] = None
            for path, leaf in (leaves or {}).items():
                if leaf is not None:
                    kinds[field_name].setdefault(path, set()).add(_kind(leaf))
    spec: dict[str, tuple[str, str, str]] = {}
    for field_name, paths in shapes.items():
        for path in paths or []:
            seen = kinds[field_name].get(path, set())
            kind = (
                "bool"
                if seen == {"bool"}
                else "int"
                if seen == {"int"}
                else "float"
                if seen <= {"int", "float"} and seen
                else "string"
            )
            spec[path] = (field_name, path, kind)
    return spec


def flatten_row(row: Mapping[str, Any], spec: Mapping[str, tuple[str, str, str]]) -> dict[str, Any]:
    out = dict(row)
    cache: dict[str, dict[str, Any]] = {}
    for column, (field_name, path, kind) in spec.items():
        if field_name not in cache:
            value = row.get(field_name)
            cache[field_name] = (
                (leaf_paths(value, field_name) or {})
                if isinstance(value, dict | list) and not row.get("truncated")
                else {}
            )
        leaf = cache[field_name].get(path)
        if leaf is not None:
            leaf = (
                float(leaf)
                if kind == "float" and not isinstance(leaf, bool) and isinstance(leaf, int | float)
                else leaf
            )
            leaf = str(leaf) if kind == "string" and not isinstance(leaf, str) else leaf
        out[column] = leaf
    return out
