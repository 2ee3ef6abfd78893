"""What a user means by TARGET, and how a target's telemetry is recognised.

A target is a v1 web service (`churn-aci`), a v2 online endpoint (`credit-ep`: all its deployments) or
one v2 deployment (`credit-ep/blue`). A bare name cannot say whether it is a service or an endpoint;
telemetry doesn't need to know, because both label their telemetry with the same name:

- the 1.5.x inference server sets the role name (`cloud_RoleName` / `AppRoleName`) to the service name;
- the 1.4.x server sends the role `azmlinfsrv` and names the service only in the `Service Name`
  custom dimension;
- a v2 deployment's telemetry also carries `Deployment Name`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from amlmon import kql
from amlmon.errors import UsageError

Schema = Literal["classic", "workspace"]

# Azure ML service, endpoint and deployment names: letters, digits, '-', '_' and '.', at most 64.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Column names of the two query schemas: App Insights classic (resource-centric) and Log Analytics.
_ROLE = {"classic": "cloud_RoleName", "workspace": "AppRoleName"}
_DIMENSIONS = {"classic": "customDimensions", "workspace": "Properties"}


@dataclass(frozen=True, order=True)
class Target:
    name: str  # v1 service name or v2 endpoint name
    deployment: str | None = None  # v2 deployment name; None means the service or the whole endpoint

    def __str__(self) -> str:
        return f"{self.name}/{self.deployment}" if self.deployment else self.name


def parse_target(text: str) -> Target:
    """`svc`, `endpoint` or `endpoint/deployment`; anything else is a usage error."""
    parts = text.strip().split("/")
    if len(parts) > 2 or not all(_NAME.match(part) for part in parts):
        raise UsageError(
            f"{text!r} is not a target",
            hint="give a service name (my-svc), an endpoint (my-endpoint) or endpoint/deployment (my-endpoint/blue)",
        )
    return Target(parts[0], parts[1] if len(parts) == 2 else None)


def parse_targets(texts: Iterable[str]) -> list[Target]:
    """Parsed and de-duplicated, in the order given."""
    seen: dict[Target, None] = {}
    for text in texts:
        seen.setdefault(parse_target(text), None)
    return list(seen)


def dimension(schema: Schema, key: str) -> str:
    """`tostring(customDimensions["Service Name"])` for the schema's property bag."""
    return f"tostring({_DIMENSIONS[schema]}[{kql.string(key)}])"


def role_column(schema: Schema) -> str:
    return _ROLE[schema]


def telemetry_filter(targets: Sequence[Target], schema: Schema = "classic") -> str:
    """A KQL predicate true for the telemetry of any of `targets` ("true" when there are none)."""
    if not targets:
        return "true"
    return " or ".join(f"({_one_target(target, schema)})" for target in targets)


def _one_target(target: Target, schema: Schema) -> str:
    name = kql.string(target.name)
    service = f"{role_column(schema)} == {name} or {dimension(schema, 'Service Name')} == {name}"
    if target.deployment is None:
        return service
    return f"({service}) and {dimension(schema, 'Deployment Name')} == {kql.string(target.deployment)}"


def suggest(text: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Names close to `text` (did-you-mean), closest first; case-insensitive."""
    import difflib

    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=limit, cutoff=0.6)
    return [by_lower[name] for name in close]
