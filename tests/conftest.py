"""Shared fixtures: a real emulator process on loopback, started and stopped by the tests themselves."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.configuration
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Fixtures of a v2 deployment backed by the real inference server and Collector (azurite, deployment).
pytest_plugins = ["tests.online"]

# Hypothesis keeps its example database under the current directory by default; keep the checkout's
# top level to what the project ships (a run outside make, with no .venv, uses the temp directory).
_VENV = REPO_ROOT / ".venv"
hypothesis.configuration.set_hypothesis_home_dir(
    _VENV / "hypothesis" if _VENV.is_dir() else Path(tempfile.gettempdir()) / "amlmon-hypothesis"
)


def shared_reference(name: str, variable: str) -> Path:
    """../shared/reference/NAME beside the checkout (or in one of its parents), or where $VARIABLE points;
    the place beside the checkout when there is none (callers skip, saying where they looked)."""
    if os.environ.get(variable):
        return Path(os.environ[variable])
    candidates = [base / "shared" / "reference" / name for base in REPO_ROOT.parents]
    return next(
        (path for path in candidates if path.is_dir()), REPO_ROOT.parent / "shared" / "reference" / name
    )


RECORDINGS = shared_reference("azure-recordings", "AMLMON_RECORDINGS")  # recorded Azure traffic


def recording(relative: str) -> Path:
    """A file of the recorded Azure traffic; the test is skipped, saying so, when the reference tree is
    not beside this checkout (set AMLMON_RECORDINGS to point at it)."""
    path = RECORDINGS / relative
    if not RECORDINGS.is_dir():
        pytest.skip(f"reference recordings not found at {RECORDINGS} (set AMLMON_RECORDINGS)")
    return path


@dataclass
class Emulator:
    """Handle on a running emulator: its data directory and the product's own admin client
    (amlmon/emulator/client.py starts, stops and calls it; the tests add no second client)."""

    data_dir: Path
    endpoint: str
    ca_path: str
    tenant_id: str

    @classmethod
    def from_state(cls, data_dir: Path, state: dict[str, Any]) -> Emulator:
        return cls(data_dir, str(state["endpoint"]), str(state["ca_path"]), str(state["tenant_id"]))

    @property
    def token_url(self) -> str:
        return f"{self.endpoint}/{self.tenant_id}/oauth2/v2.0/token"

    def credential(self) -> Any:
        from amlmon.azure.credentials import EmulatorCredential

        return EmulatorCredential(self.token_url, self.ca_path)

    def env(self) -> dict[str, str]:
        """Environment for running amlmon against this emulator."""
        return {"AMLMON_EMULATOR_DIR": str(self.data_dir), "AMLMON_CLOUD": "local"}

    def admin(self, method: str, path: str, body: Any = None, timeout: float = 120) -> tuple[int, Any]:
        """Call the emulator's admin API (/_emulator/...). Returns (status, parsed JSON or None)."""
        return self._client.call(method, path, body, timeout=timeout)

    @functools.cached_property
    def _client(self) -> Any:
        from amlmon.emulator.client import AdminClient

        return AdminClient({"endpoint": self.endpoint, "ca_path": self.ca_path})

    def create_workspace(self, label: str = "ws", **extra: Any) -> dict[str, Any]:
        """The tests' one workspace factory: a uniquely named workspace (POST /_emulator/workspaces, `extra`
        in its body: services, deployments, storageAccounts, appInsights, location, …). The admin answer
        plus `subscription`, `resourceGroup`, `name` (unique unless given) and `scope` (the -g/-w/--subscription
        flags)."""
        import uuid

        suffix = uuid.uuid4().hex[:8]
        identity = {
            "subscription": str(uuid.uuid4()),
            "resourceGroup": f"rg-{label}-{suffix}",
            "name": f"ws-{label}-{suffix}",
        }
        identity.update({key: extra.pop(key) for key in list(identity) if key in extra})  # chosen names
        status, answer = self.admin("POST", "/_emulator/workspaces", {**identity, **extra})
        assert status in (200, 201), answer
        scope = [
            "--subscription",
            identity["subscription"],
            "-g",
            identity["resourceGroup"],
            "-w",
            identity["name"],
        ]
        return {**answer, **identity, "scope": scope}

    def seed(
        self, ws: dict[str, Any], services: list[str], timeout: float = 120, **options: Any
    ) -> dict[str, Any]:
        """Seed telemetry for `services` of a workspace from create_workspace (POST /_emulator/telemetry/seed,
        `options` as its body: hours, ratePerMinute, generation, seed, failureRate, …); the answer."""
        status, seeded = self.admin(
            "POST",
            "/_emulator/telemetry/seed",
            {
                "subscription": ws["subscription"],
                "resourceGroup": ws["resourceGroup"],
                "workspace": ws["name"],
                "services": services,
                **options,
            },
            timeout=timeout,
        )
        assert status == 200, seeded
        return dict(seeded)

    def requests_since(self, seq: int = 0) -> list[dict[str, Any]]:
        """The emulator's request log entries after sequence number `seq`."""
        status, body = self.admin("GET", f"/_emulator/requests?since={seq}")
        assert status == 200, body
        return list(body["value"])

    def last_seq(self) -> int:
        status, body = self.admin("GET", "/_emulator/requests?since=-1")
        assert status == 200, body
        return int(body.get("lastSeq", 0))


def start_emulator(data_dir: Path, timeout: float = 30.0) -> Emulator:
    """An emulator of the test's own, started as `amlmon emulator start --detach` starts one."""
    from amlmon.emulator.client import start_detached

    return Emulator.from_state(data_dir, start_detached(data_dir, timeout=timeout))


def stop_emulator(emulator: Emulator) -> None:
    from amlmon.emulator.client import stop

    stop(emulator.data_dir)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One emulator for the whole test session. Tests create their own uniquely named resources."""
    handle = start_emulator(tmp_path_factory.mktemp("emulator"))
    try:
        yield handle
    finally:
        stop_emulator(handle)


@pytest.fixture
def clear_faults(emulator: Emulator) -> Iterator[Emulator]:
    """The session emulator with no fault rules when the test starts and when it ends: a rule left unspent
    would hit whichever test calls its route next."""
    emulator.admin("DELETE", "/_emulator/faults")
    yield emulator
    emulator.admin("DELETE", "/_emulator/faults")


@dataclass
class DemoRun:
    """One full `make demo`: its exit code, what it printed, its transcript (every amlmon command with its
    exit code and output) and what it left in its temporary folder."""

    exit_code: int
    output: str
    transcript: list[dict[str, Any]]
    left_in_tmp: list[str]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo, run once per session (about a minute) for every test that reads it."""
    from tests.helpers import demo_process

    base = tmp_path_factory.mktemp("demo")
    tmp = base / "tmp"
    tmp.mkdir()
    transcript = base / "transcript.json"
    process = demo_process(tmp, "--transcript", str(transcript))
    output, _ = process.communicate(timeout=600)
    recorded = json.loads(transcript.read_text()) if transcript.exists() else []
    return DemoRun(process.returncode, output, recorded, sorted(p.name for p in tmp.iterdir()))


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def spawn_amlmon(args: list[str], env: dict[str, str], **popen: Any) -> subprocess.Popen[str]:
    """amlmon in a child process of its own (text pipes), for tests that signal it.

    The child gets SIGINT's default action back: a shell runs background jobs (`.ci/run &`, nohup) with
    SIGINT ignored, the child would inherit that, and Python then never raises KeyboardInterrupt.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "amlmon", *args],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **popen,
    )


def run_cli(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> CliResult:
    """Run amlmon in-process (its real entry point, `amlmon.cli.app.run`) and capture what it prints.

    `env` entries are set for the duration of the call (others are left as they are).
    """
    import contextlib
    import io

    from amlmon.cli.app import run

    saved = {key: os.environ.get(key) for key in (env or {})}
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    try:
        os.environ.update(env or {})
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(args))
    finally:
        sys.stdin = old_stdin
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(emulator: Emulator) -> Any:
    """`cli("services", "list", "-g", rg, ...)` → CliResult, against the session emulator."""

    def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> CliResult:
        return run_cli(list(args), {**emulator.env(), **(env or {})}, stdin)

    return invoke


def processes_under(base: Path) -> list[str]:
    """Command lines of live processes that mention `base` (emulators and the servers they start)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(base) in cmdline or str(base) in environ:
            found.append(f"{proc.name}: {cmdline.strip()[:200]}")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No test may leave a process behind: anything still running from this session's temp dirs fails it."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or sys.platform != "linux":
        return
    base = factory.getbasetemp()
    deadline = time.time() + 10
    leftovers = processes_under(base)
    while leftovers and time.time() < deadline:
        time.sleep(0.5)
        leftovers = processes_under(base)
    if leftovers:
        print("\nprocesses left behind by the tests:\n  " + "\n  ".join(leftovers), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
