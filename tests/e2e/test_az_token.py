"""With `--auth cli` (an `az login` user) a command asks the Azure CLI for a token once per scope, not
once per SDK client: `az account get-access-token` costs about a second each.

The emulator is registered as an `az cloud` (clouds.config) so the real AzureCliCredential is used
against it; the `az` first on PATH is a script that gets a token from the emulator's token endpoint,
prints it as `az account get-access-token -o json` does, and logs its arguments (never the token).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, Emulator

FAKE_AZ = """#!{python}
import datetime, json, os, ssl, sys, time, urllib.parse, urllib.request

args = sys.argv[1:]
with open(os.environ["FAKE_AZ_CALLS"], "a") as calls:
    calls.write(" ".join(args) + "\\n")
resource = args[args.index("--resource") + 1]
form = {{"grant_type": "client_credentials", "client_id": "az", "client_secret": "local", "scope": resource + "/.default"}}
context = ssl.create_default_context(cafile=os.environ["FAKE_AZ_CA"])
request = urllib.request.Request(os.environ["FAKE_AZ_TOKEN_URL"], data=urllib.parse.urlencode(form).encode())
with urllib.request.urlopen(request, context=context, timeout=30) as response:
    answer = json.loads(response.read())
with open(os.environ["FAKE_AZ_TOKENS"], "a") as tokens:  # for the test that looks for them in the output
    tokens.write(answer["access_token"] + "\\n")
expires_on = int(time.time()) + int(os.environ.get("FAKE_AZ_LIFETIME") or answer["expires_in"])
print(json.dumps({{
    "accessToken": answer["access_token"],
    "expiresOn": datetime.datetime.fromtimestamp(expires_on).strftime("%Y-%m-%d %H:%M:%S.%f"),
    "expires_on": expires_on,
    "subscription": os.environ["FAKE_AZ_SUBSCRIPTION"],
    "tenant": os.environ["FAKE_AZ_TENANT"],
    "tokenType": "Bearer",
}}, indent=2))
"""


@pytest.fixture
def az_cloud(emulator: Emulator, tmp_path: Path) -> dict[str, Any]:
    """A workspace on the emulator, reachable as the `az` cloud `emu` with `--auth cli`: the environment
    for amlmon and where the fake `az` logs its invocations."""
    ws = emulator.create_workspace("aztoken")
    bin_dir, config_dir = tmp_path / "bin", tmp_path / "az"
    bin_dir.mkdir()
    config_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable))
    az.chmod(0o755)
    (config_dir / "clouds.config").write_text(
        "[emu]\n"
        f"endpoint_resource_manager = {emulator.endpoint}\n"
        f"endpoint_active_directory = {emulator.endpoint}\n"
        f"endpoint_log_analytics_resource_id = {emulator.endpoint}\n"
    )
    calls = tmp_path / "az-calls.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AMLMON_", "AZURE_"))},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AZURE_CONFIG_DIR": str(config_dir),
        "REQUESTS_CA_BUNDLE": emulator.ca_path,  # the SDK's transport trusts the emulator's CA
        "PYTHONPATH": str(REPO_ROOT),
        "FAKE_AZ_CALLS": str(calls),
        "FAKE_AZ_TOKENS": str(tmp_path / "az-tokens.log"),
        "FAKE_AZ_CA": emulator.ca_path,
        "FAKE_AZ_TOKEN_URL": emulator.token_url,
        "FAKE_AZ_SUBSCRIPTION": ws["subscription"],
        "FAKE_AZ_TENANT": emulator.tenant_id,
    }
    return {
        "env": env,
        "calls": calls,
        "tokens": tmp_path / "az-tokens.log",
        "scope": [*ws["scope"], "--cloud", "emu", "--auth", "cli"],
    }


def run_amlmon(
    az_cloud: dict[str, Any], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amlmon", *args, *az_cloud["scope"]],
        capture_output=True,
        text=True,
        env={**az_cloud["env"], **(env or {})},
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def az_calls(az_cloud: dict[str, Any]) -> list[str]:
    path: Path = az_cloud["calls"]
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(
    "command",
    [["workspace", "show", "-o", "json"], ["stats", "--since", "1h", "-o", "json"]],
    ids=["workspace-show", "stats"],
)
def test_one_az_token_per_command(az_cloud: dict[str, Any], command: list[str]) -> None:
    result = run_amlmon(az_cloud, *command)
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)
    calls = az_calls(az_cloud)
    # Positive control: the token came from the fake az (the emulator's cloud, signed in the CLI's way).
    assert calls and all(
        call.startswith("account get-access-token --output json --resource ") for call in calls
    )
    assert len(calls) == 1, calls  # every client shares the one token of the one scope the emulator has


def test_a_token_about_to_expire_is_fetched_again(az_cloud: dict[str, Any]) -> None:
    """Positive control of the cache's expiry rule: a token that expires within the renewal margin (as the
    bearer-token policy counts it) is not handed out again, so each client asks `az` for its own."""
    result = run_amlmon(az_cloud, "workspace", "show", "-o", "json", env={"FAKE_AZ_LIFETIME": "120"})
    assert result.returncode == 0, result.stderr
    assert len(az_calls(az_cloud)) >= 2


def test_the_token_never_reaches_the_output(az_cloud: dict[str, Any]) -> None:
    result = run_amlmon(az_cloud, "workspace", "show", "-o", "json", "--debug", "--verbose")
    assert result.returncode == 0, result.stderr
    tokens = az_cloud["tokens"].read_text().split()
    assert len(tokens) == 1 and "Authorization" in result.stderr  # positive control: --debug logs headers
    assert not [token for token in tokens if token in result.stdout or token in result.stderr]
