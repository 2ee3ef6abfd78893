"""Which inventory items the user's TARGETs name, and the not-found error with did-you-mean (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from amlmon.diagnostics.inventory import Item, matches
from amlmon.errors import NotFound
from amlmon.targets import Target, suggest


@dataclass
class Resolution:
    items: list[Item]
    unknown: list[tuple[str, list[str]]] = field(default_factory=list)  # (target, suggestions)


def resolve(
    targets: Sequence[Target], inventory: Sequence[Item], *, kinds: set[str], name_glob: str | None
) -> Resolution:
    """The items the user named (a bare name: a v1 service or every deployment of a v2 endpoint)."""
    if not targets:
        return Resolution([item for item in inventory if matches(item, kinds, name_glob)])
    chosen: dict[str, Item] = {}
    unknown: list[tuple[str, list[str]]] = []
    for target in targets:
        found = [item for item in inventory if is_named(item, target)]
        if not found:
            unknown.append((str(target), suggest(str(target), candidates(inventory))))
            continue
        for item in found:
            if matches(item, kinds, name_glob):
                chosen.setdefault(item.target.lower(), item)
    return Resolution(list(chosen.values()), unknown)


def is_named(item: Item, target: Target) -> bool:
    """Whether `target` names `item`: a v1 service by name, a v2 deployment as ep/dep or by its endpoint."""
    if target.deployment is not None:
        return item.api == "v2" and item.target.lower() == str(target).lower()
    if item.api == "v1":
        return item.target.lower() == target.name.lower()
    return (item.endpoint or "").lower() == target.name.lower()


def candidates(inventory: Sequence[Item]) -> list[str]:
    """Every name a TARGET may use: services, ep/dep and endpoints."""
    found = {item.target for item in inventory}
    found |= {item.endpoint for item in inventory if item.endpoint}
    return sorted(found)


def not_found_error(unknown: list[tuple[str, list[str]]]) -> NotFound:
    text, suggestions = unknown[0]
    more = f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
    hint = (
        f"did you mean {' or '.join(suggestions)}?"
        if suggestions
        else "list the workspace's services and deployments with `amlmon services list`"
    )
    return NotFound(f"no service, endpoint or deployment named {text!r} in the workspace{more}", hint=hint)
