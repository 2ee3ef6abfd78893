"""What a user means by TARGET, and which telemetry is that target's — from evidence the records carry.

A target is a v1 web service (`churn-aci`), a v2 online endpoint (`credit-ep`) or one v2 deployment
(`credit-ep/blue`). What the real inference server writes (reference/inference-server-telemetry/):

- 1.5.x: the role name (`cloud_RoleName` / `AppRoleName`) is the service name on every record;
  requests (and model data, inside its literal) also carry a `Service Name` custom dimension.
- 1.4.x: the role is `azmlinfsrv` for every service. Requests and model data carry `Service Name`;
  an exception carries only the `Request Id` of the request that failed, so it belongs to the service
  of that request; a print() line carries nothing but its host (`cloud_RoleInstance`), so it belongs to
  the service whose requests or model data came from that host in the window — unless another service
  also did (then it is nobody's: `attribution_query` lets the command say so).
- v2: the server labels telemetry with SERVICE_NAME, whose platform value is not documented; the role
  name or `Service Name` is matched against the deployment and the endpoint name, and `--role NAME`
  says it explicitly. Nothing rests on a field the real server does not send.

The evidence is computed by the query service (`in` over the target's requests), never downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from amlmon import kql
from amlmon.errors import UsageError
from amlmon.schema import (
    APP,
    GENERIC_ROLE,
    MODEL_DATA_MESSAGE,
    REQUEST_ID_DIMENSION,
    SERVICE_DIMENSION,
    Source,
)

# Azure ML service, endpoint and deployment names: letters, digits, '-', '_' and '.', at most 64.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_NAME_RULE = (
    "a name is 1-64 characters (ASCII letters, digits, hyphens, underscores and periods), "
    "starting with a letter or digit"
)
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
Kind = Literal["requests", "dependencies", "exceptions", "traces", "modelData"]


@dataclass(frozen=True)
class Target:
    name: str  # v1 service name or v2 endpoint name
    deployment: str | None = None  # v2 deployment name; None means the service or the whole endpoint
    role: str | None = None  # --role: the role name / Service Name its telemetry carries, when known
    # A bare endpoint name: its deployments, as the workspace lists them (evidence.known_targets).
    deployments: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return f"{self.name}/{self.deployment}" if self.deployment else self.name

    def names(self) -> tuple[str, ...]:
        """The role names / `Service Name` values this target's telemetry may carry."""
        if self.role:
            return (self.role,)
        return (self.deployment, self.name) if self.deployment else (*self.deployments, self.name)


# All telemetry of the workspace, whoever sent it (`stats`/`check` show it beside each target).
ALL = Target("*")


def parse_target(text: str) -> Target:
    """`svc`, `endpoint` or `endpoint/deployment`; anything else is a usage error."""
    parts = text.strip().split("/")
    if len(parts) > 2 or not all(_NAME.fullmatch(part) for part in parts):
        raise UsageError(f"{text!r} is not a target", hint=_broken_rule(parts))
    return Target(parts[0], parts[1] if len(parts) == 2 else None)


def _broken_rule(parts: list[str]) -> str:
    """The hint: which part of the TARGET breaks which rule, then the rule itself."""
    if len(parts) > 2:
        return (
            f"a target has at most one '/' (it has {len(parts) - 1}): a service or endpoint name "
            "(my-svc), or endpoint/deployment (my-endpoint/blue)"
        )
    labels = ("name",) if len(parts) == 1 else ("endpoint name", "deployment name")
    for label, part in zip(labels, parts, strict=True):
        if not _NAME.fullmatch(part):
            return f"the {label} {_what_breaks(part)}; {_NAME_RULE}"
    return _NAME_RULE  # not reached: parse_target calls this only when a part breaks the rule


def _what_breaks(part: str) -> str:
    if not part:
        return "is empty"
    shown = part if len(part) <= 40 else part[:37] + "..."
    if len(part) > 64:
        return f"{shown!r} is {len(part)} characters long"
    bad = [ch for ch in dict.fromkeys(part) if ch not in _ALLOWED]
    if bad:
        listed = ", ".join(repr(ch) for ch in bad[:5])
        return f"{shown!r} has {listed}, which {'is' if len(bad) == 1 else 'are'} not allowed"
    return f"{shown!r} starts with {part[0]!r}"


def parse_targets(texts: Iterable[str]) -> list[Target]:
    """Parsed and de-duplicated, in the order given."""
    seen: dict[Target, None] = {}
    for text in texts:
        seen.setdefault(parse_target(text), None)
    return list(seen)


def with_role(targets: Sequence[Target], role: str | None) -> list[Target]:
    """`--role NAME` names the role of the one target (or is the target when none is given)."""
    if role is None:
        return list(targets)
    kql.string(role)  # control characters are refused with a clear message
    if len(targets) != 1:
        raise UsageError(
            "--role names the role of one target" + (", not of several" if targets else ": give the target"),
            hint="e.g. amlmon traces my-ep/blue --role my-role (one command per target)",
        )
    target = targets[0]
    return [Target(target.name, target.deployment, role)]


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(kql.string(v) for v in values) + ")"


def named(names: Sequence[str], source: Source) -> str:
    """Rows that name one of `names`: the role, or the `Service Name` custom dimension."""
    c = APP[source]
    return f"{c.role} in {_in(names)} or {c.dimension(SERVICE_DIMENSION)} in {_in(names)}"


def _generic(source: Source) -> str:
    return f"{APP[source].role} == {kql.string(GENERIC_ROLE)}"


def hosts_of(names: Sequence[str], source: Source, *, others: bool = False) -> str:
    """A tabular expression: the hosts (role instances) whose 1.4.x requests or model data named one of
    `names` in the query's timespan — or, with `others`, named any other service."""
    c = APP[source]
    service = c.dimension(SERVICE_DIMENSION)
    who = f"{_generic(source)} and " + (
        f"isnotempty({service}) and not({service} in {_in(names)})"
        if others
        else f"{service} in {_in(names)}"
    )
    model_data = f"{c.message} == {kql.string(MODEL_DATA_MESSAGE)}"
    return (
        f"union ({c.requests} | where {who} | project {c.instance}), "
        f"({c.traces} | where {model_data} and {who} | project {c.instance}) "
        f"| distinct {c.instance}"
    )


def _unnamed_print(source: Source) -> str:
    """A 1.4.x record that names no service (print lines)."""
    return f"{_generic(source)} and isempty({APP[source].dimension(SERVICE_DIMENSION)})"


def _one_target(target: Target, source: Source, kind: Kind) -> str:
    names = target.names()
    direct = named(names, source)
    c = APP[source]
    if kind == "exceptions":
        # 1.4.x: the exception names the request it failed; that request names the service.
        request_id = c.dimension(REQUEST_ID_DIMENSION)
        requests = f"{c.requests} | where {direct} | project {request_id}"
        return f"{direct} or ({_generic(source)} and {request_id} in ({requests}))"
    if kind == "traces":
        # 1.4.x print lines: the host served this target and no other 1.4.x service in the window.
        return (
            f"{direct} or ({_unnamed_print(source)} and {c.instance} in ({hosts_of(names, source)}) "
            f"and not({c.instance} in ({hosts_of(names, source, others=True)})))"
        )
    return direct


def telemetry_filter(
    targets: Sequence[Target], source: Source = "app-insights", kind: Kind = "traces"
) -> str:
    """A KQL predicate true for the telemetry of any of `targets` ("true" when there are none), for rows
    of the table `kind` (requests, dependencies, exceptions or traces)."""
    if not targets:
        return "true"
    return " or ".join(f"({_one_target(target, source, kind)})" for target in targets)


def attribution_query(target: Target, source: Source) -> str:
    """1.4.x print lines (no service named) in the timespan that amlmon cannot give to `target` or to
    anyone: on a host that served `target` and another service (`shared`), or on hosts that served
    nobody in the window (`unattributed`)."""
    c = APP[source]
    names = target.names()
    return (
        f"{c.traces}\n"
        f"| where {c.message} != {kql.string(MODEL_DATA_MESSAGE)} and {_unnamed_print(source)}\n"
        f"| extend mine = {c.instance} in ({hosts_of(names, source)}), "
        f"theirs = {c.instance} in ({hosts_of(names, source, others=True)})\n"
        "| summarize shared = countif(mine and theirs), unattributed = countif(not(mine) and not(theirs)), "
        f"sharedHosts = dcountif({c.instance}, mine and theirs)"
    )


def suggest(text: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Names close to `text` (did-you-mean), closest first; case-insensitive."""
    import difflib

    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=limit, cutoff=0.6)
    return [by_lower[name] for name in close]
