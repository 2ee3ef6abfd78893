"""The workspace resolver: every source, the precedence between them, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlmon.errors import ConfigError
from amlmon.resolve import find_config_file, resolve_workspace

SUB_ID = "00000000-0000-0000-0000-00000000051d"
WS_ID = f"/subscriptions/{SUB_ID}/resourceGroups/rg-id/providers/Microsoft.MachineLearningServices/workspaces/ws-id"


def resolve(tmp_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None, **flags: str):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    work = cwd or tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    return resolve_workspace(env=env or {}, cwd=work, home=home, **flags)


def values(ref) -> tuple[str | None, str | None, str | None]:  # type: ignore[no-untyped-def]
    return ref.subscription.value, ref.resource_group.value, ref.workspace.value


def write_config(directory: Path, name: str = "config.json", **keys: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(keys))
    return path


def test_flags_win_over_everything(tmp_path: Path) -> None:
    env = {"AMLMON_SUBSCRIPTION": "env-s", "AMLMON_RESOURCE_GROUP": "env-g", "AMLMON_WORKSPACE": "env-w"}
    ref = resolve(tmp_path, env, subscription="s", resource_group="g", workspace="w")
    assert values(ref) == ("s", "g", "w")
    assert ref.subscription.source == "--subscription"
    assert ref.workspace.source == "--workspace-name"


def test_workspace_resource_id_fills_all_three(tmp_path: Path) -> None:
    ref = resolve(tmp_path, workspace=WS_ID)
    assert values(ref) == (SUB_ID, "rg-id", "ws-id")
    assert ref.resource_id == WS_ID
    assert "resource ID" in str(ref.workspace.source)


def test_a_flag_that_contradicts_the_resource_id_is_a_conflict(tmp_path: Path) -> None:
    # It used to win silently over the ID; which one the user meant cannot be known (issue 14.6).
    for flags in ({"subscription": "other"}, {"resource_group": "rg-other"}):
        with pytest.raises(ConfigError, match="conflicts with -w") as info:
            resolve(tmp_path, workspace=WS_ID, **flags)
        assert info.value.exit_code == 2 and info.value.hint
    agreeing = resolve(tmp_path, workspace=WS_ID, resource_group="RG-ID")  # names compare case-insensitively
    assert values(agreeing) == (SUB_ID, "RG-ID", "ws-id")


def test_malformed_resource_id_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(tmp_path, workspace="/subscriptions/x/resourceGroups/y")
    assert info.value.exit_code == 2 and info.value.hint


def test_amlmon_variables_beat_azureml_job_variables(tmp_path: Path) -> None:
    env = {
        "AMLMON_WORKSPACE": "mine",
        "AZUREML_ARM_SUBSCRIPTION": "job-s",
        "AZUREML_ARM_RESOURCEGROUP": "job-g",
        "AZUREML_ARM_WORKSPACE_NAME": "job-w",
    }
    ref = resolve(tmp_path, env)
    assert values(ref) == ("job-s", "job-g", "mine")
    assert ref.workspace.source == "AMLMON_WORKSPACE"
    assert ref.subscription.source == "AZUREML_ARM_SUBSCRIPTION"


def test_config_json_found_in_a_parent_directory(tmp_path: Path) -> None:
    path = write_config(tmp_path / "work", subscription_id="cs", resource_group="cg", workspace_name="cw")
    deep = tmp_path / "work" / "a" / "b"
    ref = resolve(tmp_path, cwd=deep)
    assert values(ref) == ("cs", "cg", "cw")
    assert str(path) in str(ref.workspace.source)


def test_config_lookup_order_at_one_level(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_config(work, subscription_id="plain")
    write_config(work / "aml_config", subscription_id="aml_config")
    write_config(work / ".azureml", "project.json", subscription_id="azureml-project")
    assert find_config_file(work) == work / ".azureml" / "project.json"
    write_config(work / ".azureml", "config.json", subscription_id="azureml-config")
    assert find_config_file(work) == work / ".azureml" / "config.json"


def test_nearer_directory_wins(tmp_path: Path) -> None:
    write_config(tmp_path / "work", subscription_id="far")
    write_config(tmp_path / "work" / "sub", subscription_id="near")
    assert resolve(tmp_path, cwd=tmp_path / "work" / "sub").subscription.value == "near"


def test_config_with_bom_is_read(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"workspace_name": "bom"}).encode())
    assert resolve(tmp_path).workspace.value == "bom"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"workspace_name": 3}'])
def test_broken_config_is_a_config_error_naming_the_file(tmp_path: Path, content: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.json").write_text(content)
    with pytest.raises(ConfigError) as info:
        resolve(tmp_path)
    assert "config.json" in info.value.message


def test_broken_config_is_harmless_when_not_needed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.json").write_text("{not json")
    assert values(resolve(tmp_path, subscription="s", resource_group="g", workspace="w")) == ("s", "g", "w")


def test_az_cli_defaults_variables_then_config_file_then_profile(tmp_path: Path) -> None:
    az = tmp_path / "az"
    az.mkdir()
    (az / "config").write_text("[defaults]\ngroup = file-g\nworkspace = file-w\n")
    profile = {
        "subscriptions": [{"id": "other", "isDefault": False}, {"id": "default-sub", "isDefault": True}]
    }
    (az / "azureProfile.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(profile).encode())
    env = {"AZURE_CONFIG_DIR": str(az), "AZURE_DEFAULTS_GROUP": "env-g"}
    ref = resolve(tmp_path, env)
    assert values(ref) == ("default-sub", "env-g", "file-w")
    assert ref.resource_group.source == "AZURE_DEFAULTS_GROUP"
    assert "az defaults" in str(ref.workspace.source)


def test_az_config_dir_defaults_to_home(tmp_path: Path) -> None:
    az = tmp_path / "home" / ".azure"
    az.mkdir(parents=True)
    (az / "config").write_text("[defaults]\nworkspace = home-w\n")
    assert resolve(tmp_path).workspace.value == "home-w"


def test_each_value_from_the_first_source_that_has_it(tmp_path: Path) -> None:
    write_config(tmp_path / "work", subscription_id="cfg-s", resource_group="cfg-g", workspace_name="cfg-w")
    ref = resolve(tmp_path, {"AMLMON_RESOURCE_GROUP": "env-g"}, workspace="flag-w")
    assert values(ref) == ("cfg-s", "env-g", "flag-w")


def test_missing_values_list_every_place_looked_at(tmp_path: Path) -> None:
    ref = resolve(tmp_path, workspace="only-ws")
    with pytest.raises(ConfigError) as info:
        ref.require()
    message = info.value.message
    assert "subscription, resource group" in message
    for place in ("command-line flags", "AMLMON_*", "AZUREML_ARM_*", "config.json", "Azure CLI defaults"):
        assert place in message
    assert info.value.exit_code == 2 and "--subscription" in str(info.value.hint)
