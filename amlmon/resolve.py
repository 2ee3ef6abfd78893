"""Where the subscription, resource group and workspace come from — a pure function with provenance.

Precedence, first hit wins for each value:
  1. command-line flags (--subscription, -g, -w; -w may be a full workspace resource ID)
  2. AMLMON_SUBSCRIPTION, AMLMON_RESOURCE_GROUP, AMLMON_WORKSPACE
  3. variables Azure ML sets inside its jobs: AZUREML_ARM_SUBSCRIPTION, AZUREML_ARM_RESOURCEGROUP,
     AZUREML_ARM_WORKSPACE_NAME
  4. an Azure ML config.json found the way the azureml SDKs' Workspace.from_config() finds it
  5. Azure CLI defaults: AZURE_DEFAULTS_GROUP / AZURE_DEFAULTS_WORKSPACE, then the `[defaults]` of
     $AZURE_CONFIG_DIR/config (or ~/.azure/config), and the default subscription of azureProfile.json
"""

from __future__ import annotations

import configparser
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from amlmon.errors import ConfigError

WORKSPACE_ID_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/?$",
    re.IGNORECASE,
)

# from_config() looks in these places at each directory level, in this order.
_CONFIG_SUBDIRS = (".azureml", "aml_config", "")
_CONFIG_NAMES = ("config.json", "project.json")


@dataclass(frozen=True)
class Setting:
    value: str | None
    source: str | None  # human-readable provenance, e.g. "--subscription" or "config.json (/a/b)"

    @property
    def found(self) -> bool:
        return bool(self.value)


NOT_SET = Setting(None, None)


@dataclass(frozen=True)
class WorkspaceRef:
    subscription: Setting
    resource_group: Setting
    workspace: Setting
    looked_at: tuple[str, ...] = field(default=())

    @property
    def resource_id(self) -> str:
        """The workspace's ARM path, every name checked against Azure's rule and percent-encoded."""
        from amlmon.azure.paths import workspace_path

        return workspace_path(
            str(self.subscription.value), str(self.resource_group.value), str(self.workspace.value)
        )

    def require(self) -> WorkspaceRef:
        """Raise a ConfigError naming every place looked at if any of the three values is missing."""
        missing = [
            name
            for name, setting in (
                ("subscription", self.subscription),
                ("resource group", self.resource_group),
                ("workspace", self.workspace),
            )
            if not setting.found
        ]
        if missing:
            places = "; ".join(self.looked_at)
            raise ConfigError(
                f"no {', '.join(missing)} given (looked at: {places})",
                hint="pass --subscription, -g/--resource-group and -w/--workspace-name, set "
                "AMLMON_SUBSCRIPTION / AMLMON_RESOURCE_GROUP / AMLMON_WORKSPACE, or put an Azure ML "
                "config.json in this directory",
            )
        self._check_names()
        return self

    def _check_names(self) -> None:
        """Each value follows Azure's naming rule: it becomes a URL path segment (exit 2 otherwise)."""
        from amlmon.azure import paths

        for setting, rule in (
            (self.subscription, paths.SUBSCRIPTION),
            (self.resource_group, paths.RESOURCE_GROUP),
            (self.workspace, paths.WORKSPACE),
        ):
            rule.check(str(setting.value), setting.source)


@dataclass(frozen=True)
class _Source:
    """One place values can come from: a partial triple with a label per value."""

    subscription: Setting = NOT_SET
    resource_group: Setting = NOT_SET
    workspace: Setting = NOT_SET


def _from_flags(subscription: str | None, resource_group: str | None, workspace: str | None) -> _Source:
    _refuse_empty(subscription, resource_group, workspace)
    if workspace and workspace.startswith("/"):
        match = WORKSPACE_ID_RE.match(workspace)
        if not match:
            raise ConfigError(
                f"-w/--workspace-name {workspace!r} is neither a name nor a workspace resource ID",
                hint="use a name like `my-ws`, or /subscriptions/<sub>/resourceGroups/<rg>/providers/"
                "Microsoft.MachineLearningServices/workspaces/<name>",
            )
        label = "--workspace-name (resource ID)"
        _agree_with_id("--subscription", subscription, match["sub"], workspace)
        _agree_with_id("-g/--resource-group", resource_group, match["rg"], workspace)
        return _Source(
            Setting(subscription or match["sub"], "--subscription" if subscription else label),
            Setting(resource_group or match["rg"], "--resource-group" if resource_group else label),
            Setting(match["ws"], label),
        )
    return _Source(
        Setting(subscription, "--subscription") if subscription else NOT_SET,
        Setting(resource_group, "--resource-group") if resource_group else NOT_SET,
        Setting(workspace, "--workspace-name") if workspace else NOT_SET,
    )


def _refuse_empty(subscription: str | None, resource_group: str | None, workspace: str | None) -> None:
    """A flag given with an empty value (`-w "$WS"`, WS unset) is refused: taking the next place instead
    would run on whatever workspace AMLMON_WORKSPACE or a config.json names — a write to the wrong one."""
    for option, value, variable in (
        ("--subscription", subscription, "AMLMON_SUBSCRIPTION"),
        ("-g/--resource-group", resource_group, "AMLMON_RESOURCE_GROUP"),
        ("-w/--workspace-name", workspace, "AMLMON_WORKSPACE"),
    ):
        if value is not None and not value.strip():
            raise ConfigError(
                f"{option} is empty",
                hint=f"give it a value, or leave {option.split('/')[-1]} out to use {variable}, config.json or "
                "the Azure CLI defaults",
            )


def _agree_with_id(option: str, given: str | None, in_id: str, workspace_id: str) -> None:
    """A flag beside a full workspace ID must name the same thing (Azure names compare case-insensitively);
    one that differs is a conflict, not a silent choice of either."""
    if given and given.lower() != in_id.lower():
        raise ConfigError(
            f"{option} {given!r} conflicts with -w {workspace_id!r}, which is in {in_id!r}",
            hint=f"drop {option} (the resource ID names it), or give -w the workspace name only",
        )


def _from_env(env: Mapping[str, str], names: tuple[str, str, str]) -> _Source:
    def pick(name: str) -> Setting:
        value = env.get(name)
        return Setting(value, name) if value else NOT_SET

    return _Source(pick(names[0]), pick(names[1]), pick(names[2]))


def find_config_file(start: Path) -> Path | None:
    """The first Azure ML config file from `start` up through its parents, as from_config() finds it."""
    for directory in (start, *start.parents):
        for sub in _CONFIG_SUBDIRS:
            for name in _CONFIG_NAMES:
                candidate = directory / sub / name if sub else directory / name
                if candidate.is_file():
                    return candidate
    return None


def _from_config_file(path: Path | None) -> _Source:
    if path is None:
        return _Source()
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(
            f"{path} is not valid JSON: {exc}",
            hint="fix or remove that file (download a fresh config.json from the workspace's portal page)",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a JSON object with subscription_id, resource_group, workspace_name"
        )
    label = f"config file {path}"

    def pick(key: str) -> Setting:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string, not {type(value).__name__}")
        return Setting(value, label) if value else NOT_SET

    return _Source(pick("subscription_id"), pick("resource_group"), pick("workspace_name"))


def _azure_config_dir(env: Mapping[str, str], home: Path) -> Path:
    return Path(env["AZURE_CONFIG_DIR"]) if env.get("AZURE_CONFIG_DIR") else home / ".azure"


def config_file_problem(exc: Exception) -> str:
    """What is wrong with an INI file, in one line: configparser's own text spans several and repeats
    the path (which the caller names)."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno} comes before any [section] header"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(lineno) for lineno, _text in exc.errors[:3])
        return (
            f"line {lines} is not `name = value`"
            if len(exc.errors) == 1
            else f"lines {lines} are not `name = value`"
        )
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _from_az_cli(env: Mapping[str, str], home: Path) -> _Source:
    config_dir = _azure_config_dir(env, home)
    group = (
        Setting(env["AZURE_DEFAULTS_GROUP"], "AZURE_DEFAULTS_GROUP")
        if env.get("AZURE_DEFAULTS_GROUP")
        else NOT_SET
    )
    workspace = (
        Setting(env["AZURE_DEFAULTS_WORKSPACE"], "AZURE_DEFAULTS_WORKSPACE")
        if env.get("AZURE_DEFAULTS_WORKSPACE")
        else NOT_SET
    )
    config_path = config_dir / "config"
    if config_path.is_file() and not (group.found and workspace.found):
        parser = configparser.ConfigParser()
        try:
            parser.read(config_path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{config_path} is malformed: {config_file_problem(exc)}",
                hint="fix or move it (the Azure CLI writes it as INI: `[defaults]` then `group = my-rg`), or "
                "pass -g/-w so it is not read",
            ) from None
        if parser.has_section("defaults"):
            label = f"az defaults ({config_path})"
            if not group.found and parser["defaults"].get("group"):
                group = Setting(parser["defaults"]["group"], label)
            if not workspace.found and parser["defaults"].get("workspace"):
                workspace = Setting(parser["defaults"]["workspace"], label)
    return _Source(_az_default_subscription(config_dir), group, workspace)


def _az_default_subscription(config_dir: Path) -> Setting:
    profile = config_dir / "azureProfile.json"
    if not profile.is_file():
        return NOT_SET
    try:
        # The Azure CLI writes this file with a UTF-8 byte-order mark.
        data = json.loads(profile.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(
            f"{profile} is not valid JSON: {exc}", hint="run `az login` again to rewrite it"
        ) from None
    subscriptions = data.get("subscriptions", []) if isinstance(data, dict) else []
    for sub in subscriptions if isinstance(subscriptions, list) else []:
        if isinstance(sub, dict) and sub.get("isDefault") and sub.get("id"):
            return Setting(str(sub["id"]), f"az default subscription ({profile})")
    return NOT_SET


def resolve_workspace(
    *,
    subscription: str | None = None,
    resource_group: str | None = None,
    workspace: str | None = None,
    env: Mapping[str, str],
    cwd: Path,
    home: Path,
) -> WorkspaceRef:
    """Resolve each of the three values from the first source that has it. Pure apart from reading files."""
    config_path = find_config_file(cwd)
    az_dir = _azure_config_dir(env, home)
    sources: list[tuple[str, _Source | None]] = [
        ("command-line flags", _from_flags(subscription, resource_group, workspace)),
        (
            "AMLMON_* variables",
            _from_env(env, ("AMLMON_SUBSCRIPTION", "AMLMON_RESOURCE_GROUP", "AMLMON_WORKSPACE")),
        ),
        (
            "AZUREML_ARM_* variables",
            _from_env(
                env, ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME")
            ),
        ),
        (f"config.json ({config_path or f'none from {cwd} up'})", None),
        (f"Azure CLI defaults ({az_dir})", None),
    ]
    chosen = {"subscription": NOT_SET, "resource_group": NOT_SET, "workspace": NOT_SET}
    looked_at = []
    for index, (label, source) in enumerate(sources):
        looked_at.append(label)
        if all(s.found for s in chosen.values()):
            continue
        if source is None:  # files are read only when still needed, so a broken one elsewhere is harmless
            source = _from_config_file(config_path) if index == 3 else _from_az_cli(env, home)
        for key in chosen:
            if not chosen[key].found:
                chosen[key] = getattr(source, key)
    return WorkspaceRef(
        chosen["subscription"], chosen["resource_group"], chosen["workspace"], tuple(looked_at)
    )
