"""Every value that lands in an ARM URL path goes through here: checked against Azure's naming rule for
its resource type, then percent-encoded as exactly one path segment.

Why: a name is a path segment. `amlmon-export/../foreign` resolves to another setting, `rg?x=1` cuts the
path, and the ownership check (the `amlmon` prefix) sees none of it. Rules are Azure's own ("Naming rules
and restrictions for Azure resources", the Azure ML endpoint/deployment limits); a value that breaks
one is a usage error (exit 2) with the rule as the hint, before any request is sent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from amlmon.errors import UsageError


@dataclass(frozen=True)
class NameRule:
    """One resource type's naming rule: a full-match pattern and the rule in Azure's words."""

    kind: str
    pattern: re.Pattern[str]
    rule: str
    max_length: int

    def check(self, value: str, option: str | None = None) -> str:
        """`value` unchanged when it follows the rule, else a UsageError naming the option and the rule."""
        if len(value) <= self.max_length and self.pattern.fullmatch(value) and not _has_control(value):
            return value
        where = f"{option} " if option else ""
        raise UsageError(f"{where}{value!r} is not a valid {self.kind}", hint=f"Azure's rule: {self.rule}")


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in value)


def _rule(kind: str, pattern: str, rule: str, max_length: int, flags: int = 0) -> NameRule:
    return NameRule(kind, re.compile(pattern, flags), rule, max_length)


SUBSCRIPTION = _rule(
    "subscription ID",
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "a subscription ID is a GUID, e.g. 00000000-0000-0000-0000-000000000000",
    36,
)
# Letters and digits here are Unicode ones (Azure: "as defined by Char.IsLetterOrDigit"): \w minus nothing.
RESOURCE_GROUP = _rule(
    "resource group name",
    r"[\w\-.()]*[\w\-()]",
    "1-90 characters: letters, digits, underscores, hyphens, periods and parentheses; not ending with a period",
    90,
    re.UNICODE,
)
WORKSPACE = _rule(
    "Azure ML workspace name",
    r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}",
    "3-33 characters: letters, digits, hyphens and underscores, starting with a letter or digit",
    33,
)
ONLINE_ENDPOINT = _rule(
    "online endpoint name",
    r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]",
    "3-32 characters: letters, digits and hyphens, starting with a letter and ending with a letter or digit",
    32,
)
ONLINE_DEPLOYMENT = _rule(
    "online deployment name",
    r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]",
    "3-32 characters: letters, digits and hyphens, starting with a letter and ending with a letter or digit",
    32,
)
DIAGNOSTIC_SETTING = _rule(
    "diagnostic setting name",
    r"[^*<>%&:\\?+/#]*[^*<>%&:\\?+/#. ]",
    "1-260 characters, none of * < > % & : \\ ? + / # or control characters, not ending with a space or "
    "period",
    260,
)
COMPONENT = _rule(
    "Application Insights component name",
    r"[^%&\\?/#]*[^%&\\?/#. ]",
    "1-260 characters, none of % & \\ ? / # or control characters, not ending with a space or period",
    260,
)
STORAGE_ACCOUNT = _rule(
    "storage account name", r"[a-z0-9]{3,24}", "3-24 characters: lower-case letters and digits only", 24
)
# A blob container ("Naming and referencing containers, blobs, and metadata"); `$root`, `$logs` and
# `$web` are the service's own containers.
BLOB_CONTAINER = _rule(
    "blob container name",
    r"(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*|\$root|\$logs|\$web",
    "3-63 characters: lower-case letters, digits and hyphens, starting and ending with a letter or digit, "
    "no two hyphens in a row",
    63,
)
LOG_ANALYTICS_WORKSPACE = _rule(
    "Log Analytics workspace name",
    r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]",
    "4-63 characters: letters, digits and hyphens, starting and ending with a letter or digit",
    63,
)
# Any other segment of a resource ID (provider namespaces, types, names of resources amlmon only points
# at, such as Event Hub authorization rules): nothing that changes how a URL path is read.
GENERIC = _rule(
    "resource name",
    r"[^%&\\?/#]*[^%&\\?/#. ]",
    "1-260 characters, none of % & \\ ? / # or control characters, not ending with a space or period",
    260,
)

# Resource types amlmon puts into URLs, by their lower-case ARM type, with the rule for their names.
RULES_BY_TYPE = {
    "microsoft.machinelearningservices/workspaces": WORKSPACE,
    "microsoft.machinelearningservices/workspaces/onlineendpoints": ONLINE_ENDPOINT,
    "microsoft.machinelearningservices/workspaces/onlineendpoints/deployments": ONLINE_DEPLOYMENT,
    "microsoft.insights/components": COMPONENT,
    "microsoft.insights/diagnosticsettings": DIAGNOSTIC_SETTING,
    "microsoft.storage/storageaccounts": STORAGE_ACCOUNT,
    "microsoft.operationalinsights/workspaces": LOG_ANALYTICS_WORKSPACE,
}


def segment(value: str) -> str:
    """One path segment, percent-encoded so that no character of it can end or climb out of the segment.

    `.` and `..` are refused: RFC 3986 clients and servers resolve them even when encoded.
    """
    if value in ("", ".", ".."):
        raise UsageError(
            f"{value!r} cannot be a name in a URL path",
            hint="Azure's rule: a name is not empty and is not `.` or `..`",
        )
    return quote(value, safe="-_.~()")


def join(*segments: str) -> str:
    """`/a/b/c` from already-checked values, each encoded as one segment."""
    return "".join("/" + segment(value) for value in segments)


def workspace_path(subscription: str, resource_group: str, workspace: str) -> str:
    """The ARM path of an Azure ML workspace (names checked against their rules)."""
    return join(
        "subscriptions",
        SUBSCRIPTION.check(subscription, "--subscription"),
        "resourceGroups",
        RESOURCE_GROUP.check(resource_group, "-g/--resource-group"),
        "providers",
        "Microsoft.MachineLearningServices",
        "workspaces",
        WORKSPACE.check(workspace, "-w/--workspace-name"),
    )


def child(
    parent_path: str, collection: str, name: str | None, rule: NameRule, option: str | None = None
) -> str:
    """`{parent}/{collection}[/{name}]` with `name` checked against `rule` and encoded."""
    base = parent_path.rstrip("/") + join(collection)
    return base if name is None else base + join(rule.check(name, option))


@dataclass(frozen=True)
class ResourceId:
    """A resource ID split into its segments: subscription, resource group, provider, type/name pairs."""

    subscription: str
    resource_group: str
    provider: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def type(self) -> str:
        return self.provider + "/" + "/".join(self.types)

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def path(self) -> str:
        """The encoded ARM path (each segment encoded once)."""
        pairs = [part for pair in zip(self.types, self.names, strict=True) for part in pair]
        return join(
            "subscriptions", self.subscription, "resourceGroups", self.resource_group, "providers",
            self.provider, *pairs,
        )  # fmt: skip


_PROVIDER = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)+")
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def parse_resource_id(
    text: str, *, option: str, expect_type: str | None = None, strict: bool = True
) -> ResourceId:
    """A resource ID with every segment checked.

    /subscriptions/{guid}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{type}/{name}…]
    `strict` applies each resource type's own naming rule (for IDs a user typed); IDs the service
    returned only have to be well-formed, so a rule amlmon knows less precisely than Azure never
    blocks a resource that exists.
    """
    example = "/subscriptions/<guid>/resourceGroups/<rg>/providers/<Namespace>/<type>/<name>"
    parts = text[:-1].split("/") if text.endswith("/") else text.split("/")
    shaped = (
        len(parts) >= 9
        and len(parts) % 2 == 1
        and parts[0] == ""
        and parts[1].lower() == "subscriptions"
        and parts[3].lower() == "resourcegroups"
        and parts[5].lower() == "providers"
    )
    if not shaped:
        raise UsageError(f"{option} {text!r} is not a resource ID", hint=f"give {example}")
    subscription = (SUBSCRIPTION if strict else GENERIC).check(parts[2], option)
    resource_group = (RESOURCE_GROUP if strict else GENERIC).check(parts[4], option)
    provider = parts[6]
    types, names = tuple(parts[7::2]), tuple(parts[8::2])
    if not _PROVIDER.fullmatch(provider) or not all(_TYPE.fullmatch(t) for t in types):
        raise UsageError(f"{option} {text!r} is not a resource ID", hint=f"give {example}")
    resource = ResourceId(subscription, resource_group, provider, types, names)
    if expect_type is not None and resource.type.lower() != expect_type.lower():
        raise UsageError(
            f"{option} {text!r} is a {resource.type} resource ID, not a {expect_type} one",
            hint=f"give /subscriptions/<guid>/resourceGroups/<rg>/providers/{expect_type.split('/')[0]}/"
            + "/".join(f"{t}/<name>" for t in expect_type.split("/")[1:]),
        )
    prefix = provider
    for kind, name in zip(types, names, strict=True):
        prefix = f"{prefix}/{kind}"
        (RULES_BY_TYPE.get(prefix.lower(), GENERIC) if strict else GENERIC).check(name, option)
    return resource


def resource_path(
    resource_id: str, *, option: str = "resource ID", expect_type: str | None = None, strict: bool = False
) -> str:
    """The encoded ARM path of a resource ID (checked segment by segment; see parse_resource_id)."""
    return parse_resource_id(resource_id, option=option, expect_type=expect_type, strict=strict).path
