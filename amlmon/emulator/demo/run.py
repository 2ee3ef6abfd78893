"""`make demo`'s frame: a temporary data directory, the emulator (and Azurite) started and stopped around
the story, the directory removed whatever happened, the transcript written."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from amlmon.emulator.azurite import stop_azurite
from amlmon.emulator.client import AdminClient, start_detached, stop
from amlmon.emulator.demo import shell
from amlmon.emulator.demo.drift import drift_story
from amlmon.emulator.demo.shell import banner
from amlmon.emulator.demo.v1 import v1_story
from amlmon.emulator.demo.v2 import v2_story
from amlmon.emulator.demo.world import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    Demo,
    create_workspace,
    start_storage,
)

PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the directory holding the amlmon package


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    transcript = Path(arguments[1]) if arguments[:1] == ["--transcript"] and len(arguments) == 2 else None
    if arguments and transcript is None:
        print("usage: python -m amlmon.emulator.demo [--transcript FILE]", file=sys.stderr)
        return 2
    shell.TRANSCRIPT = [] if transcript else None
    data_dir = Path(tempfile.mkdtemp(prefix="amlmon-demo-"))
    try:
        return _run(data_dir)
    finally:
        _remove(data_dir)
        if transcript is not None:
            transcript.write_text(json.dumps(shell.TRANSCRIPT, indent=1) + "\n")


def _remove(data_dir: Path) -> None:
    """Leave nothing behind: the directory holds the emulator's CA private key and megabytes of data.
    A server still closing its files may recreate one while the tree is removed, hence the retries."""
    for _ in range(20):
        shutil.rmtree(data_dir, ignore_errors=True)
        if not data_dir.exists():
            print(f"removed {data_dir}")
            return
        time.sleep(0.25)
    print(f"warning: could not remove {data_dir}; delete it yourself", file=sys.stderr)


def _environment(data_dir: Path) -> dict[str, str]:
    """What every amlmon command of the story runs with: the emulator as the cloud, the demo workspace."""
    return {
        **os.environ,
        # The commands run in the data directory: this checkout's amlmon stays first on their path.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
        "AMLMON_CLOUD": "local",
        "AMLMON_EMULATOR_DIR": str(data_dir),
        "AMLMON_SUBSCRIPTION": SUBSCRIPTION,
        "AMLMON_RESOURCE_GROUP": RESOURCE_GROUP,
        "AMLMON_WORKSPACE": WORKSPACE,
        "AMLMON_OUTPUT": os.environ.get("AMLMON_OUTPUT", "table"),
    }


def _run(data_dir: Path) -> int:
    banner(f"Starting the local Azure emulator (data: {data_dir})")
    try:
        state = start_detached(data_dir)
    except BaseException:
        stop(data_dir)  # it may have started before failing to answer
        raise
    print(f"emulator listening on {state['endpoint']}")
    demo = Demo(AdminClient(state), state, _environment(data_dir), data_dir)
    try:
        # The real inference server exports every 5 s; 1 s keeps the demo brisk.
        demo.admin.call("PUT", "/_emulator/settings", {"inferenceExportSeconds": 1, "operationSeconds": 0.5})
        start_storage(demo)
        create_workspace(demo.admin)
        print(
            f"created workspace {WORKSPACE}: services churn-aci (ACI), fraud-aks (AKS); deployment credit-ep/blue (v2)"
        )
        sent = v1_story(demo)
        drift_story(demo)
        v2_story(demo, sent)
    finally:
        banner("Stopping the emulator")
        stop(data_dir)
        if demo.azurite is not None:
            stop_azurite(demo.azurite)
        print("stopped")
    return 0
