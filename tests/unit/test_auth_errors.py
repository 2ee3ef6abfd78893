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
            "00000000-0000-0000-0000-000000000001",
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
    [("env", "AZURE_CLIENT_ID"), ("cli", "az login"), ("device", "interactive"), ("browser", "interactive")],
)
def test_auth_failure_is_exit_4_with_a_fix(tmp_path: Path, auth: str, says: str) -> None:
    result = amlmon_offline(tmp_path, "--auth", auth)
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and lines[-1].startswith("hint: ")
    assert len(lines) == 2, "one error line and one hint, no SDK chatter"
    assert says in result.stderr
    assert "Traceback" not in result.stderr
