"""Sign-in problems end with exit 4, one line and its fix, and nothing ever prompts in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRUBBED = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_ENDPOINT",
)


def amlmon_offline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("AMLMON_")}
    env.update(
        {
            "HOME": str(tmp_path),
            "AZURE_CONFIG_DIR": str(tmp_path / "az"),
            "CI": "true",
            "PATH": "/usr/bin:/bin",
            # The child runs in tmp_path: without this it would import the venv's install, not this checkout.
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "amlmon",
            "workspace",
            "show",
            "--subscription",
            "00000000-0000-0000-0000-000000000000",
            "-g",
            "rg-auth",
            "-w",
            "ws-auth",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("auth", "says"),
    [
        ("env", "AZURE_CLIENT_ID"),
        ("cli", "az login"),
        ("device", "interactive"),
        ("browser", "interactive"),
        ("workload", "not set: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE"),
    ],
)
def test_auth_failure_is_exit_4_with_a_fix(tmp_path: Path, auth: str, says: str) -> None:
    result = amlmon_offline(tmp_path, "--auth", auth)
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and lines[-1].startswith("hint: ")
    assert len(lines) == 2, "one error line and one hint, no SDK chatter"
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_default_chain_failure_lists_every_credential_it_tried(tmp_path: Path) -> None:
    result = amlmon_offline(tmp_path, "--auth", "default")
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert lines[0].startswith(
        "error: authentication failed: DefaultAzureCredential found no credential; it tried "
    )
    for tried in (
        "EnvironmentCredential (Environment variables are not fully configured)",
        "WorkloadIdentityCredential (",
        "ManagedIdentityCredential (",
        "AzureCliCredential (",
    ):
        assert tried in lines[0]
    assert "https://" not in lines[0], "the troubleshooting links stay out of the one line"
