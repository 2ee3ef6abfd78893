"""`make demo`: the whole story offline — start the emulator (and Azurite, when installed, for the v2
collector's blobs), create a sample workspace with two v1 services (ACI and AKS) and one v2 deployment,
then run what a new user would run.

Each step prints the command line and its real output. The emulator and Azurite are stopped and the
temporary directory (certificates and their private key, telemetry, blobs, the pulled datasets) removed
at the end, whatever happened; a failed step fails the demo.

`--transcript FILE` also writes every amlmon command with its exit code, its stdout as a terminal 200
columns wide shows it (no colour) and its stderr as a log keeps it, as JSON: tests/e2e/test_readme.py
checks the README's console blocks against it. Commands run in the data directory, so paths they print
are relative.

Modules: `run` (the frame: directories, processes, transcript), `shell` (running one amlmon command as
a user would), `world` (the sample workspace, traffic, storage), `v1`, `drift` and `v2` (the story).
"""

from amlmon.emulator.demo.shell import run_on_a_terminal

__all__ = ["run_on_a_terminal"]
