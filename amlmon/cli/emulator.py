"""`amlmon emulator start|stop|status|seed|faults`: the local Azure for tests, demos and trying amlmon offline."""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Any

import typer

from amlmon.cli.common import output
from amlmon.clouds import emulator_dir
from amlmon.errors import NotFound, OperationFailed, UsageError

emulator_app = typer.Typer(
    help="The local Azure emulator (ARM, model management, Log Analytics, App Insights ingestion).",
    no_args_is_help=True,
)
faults_app = typer.Typer(
    help="Inject faults (429, 5xx, slow, reset, token expiry) into emulator routes.", no_args_is_help=True
)
emulator_app.add_typer(faults_app, name="faults")

DATA_HELP = "Data directory (state, certificate, resources, telemetry). [env: AMLMON_EMULATOR_DIR]"


def register(app: typer.Typer) -> None:
    app.add_typer(emulator_app, name="emulator")


def _data_dir(data: Path | None) -> Path:
    return data if data is not None else emulator_dir()


def _admin(data: Path | None) -> Any:
    from amlmon.emulator.client import AdminClient, EmulatorNotRunning

    try:
        return AdminClient.for_dir(_data_dir(data))
    except EmulatorNotRunning as exc:
        raise NotFound(str(exc), hint="start it with `amlmon emulator start --detach`") from None


def _check(answer: tuple[int, Any], what: str) -> Any:
    """The body of an admin API answer; a 400 is a usage error (exit 2), other failures exit 1."""
    status, body = answer
    if status >= 400:
        message = body.get("error", body).get("message") if isinstance(body, dict) else body
        if status == 400:
            raise UsageError(f"{what}: {message}")
        raise OperationFailed(f"{what} failed (HTTP {status}): {message}")
    return body


def _finite(
    value: float, option: str, *, low: float, high: float | None = None, low_ok: bool = True
) -> float:
    """`value` within [low, high] (or (low, high] when not low_ok); a usage error naming the range."""
    above = value >= low if low_ok else value > low
    if math.isfinite(value) and above and (high is None or value <= high):
        return value
    bound = f"{'at least' if low_ok else 'more than'} {low:g}" + (
        f" and at most {high:g}" if high is not None else ""
    )
    raise UsageError(f"{option} {value:g} is out of range", hint=f"give a number {bound}")


# Requests per time unit, as `--rate` accepts it: 50/min, 600/hour, 2/s (a bare number is per minute).
_RATE_UNITS = {
    "s": 60.0, "sec": 60.0, "second": 60.0,
    "m": 1.0, "min": 1.0, "minute": 1.0,
    "h": 1 / 60, "hr": 1 / 60, "hour": 1 / 60,
    "d": 1 / 1440, "day": 1 / 1440,
}  # fmt: skip
GENERATIONS = ("1.5", "1.4", "mixed")


def _not_too_large(services: int, hours: float, per_minute: float) -> None:
    """The emulator refuses a seed larger than its memory allows; say so before sending."""
    from amlmon.emulator.seed import MAX_SEED_REQUESTS as limit

    if services * hours * 60 * per_minute > limit:
        raise UsageError(
            f"--services {services} x --hours {hours:g} x --rate {per_minute:g}/min is more than "
            f"{limit:,} requests in one seed",
            hint="seed fewer hours or a lower rate (run seed again for more)",
        )


def parse_rate(text: str) -> float:
    """`--rate` as requests per minute: the number scaled by its unit; positive and finite."""
    number, _, unit = text.strip().partition("/")
    factor = _RATE_UNITS.get(unit.strip().lower() or "min")
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if factor is None or not math.isfinite(value) or value <= 0:
        raise UsageError(
            f"--rate {text!r} is not a positive rate",
            hint="give requests per unit, e.g. 50/min, 600/hour or 2/s",
        )
    return value * factor


@emulator_app.command("start")
def start(
    port: int = typer.Option(0, "--port", help="Port to listen on (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to bind (127.0.0.1 or ::1)."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    detach: bool = typer.Option(False, "--detach", help="Run in the background and return."),
    ingestion_delay: str | None = typer.Option(
        None, "--ingestion-delay", help="Telemetry becomes queryable this long after it arrives, e.g. 30s."
    ),
    jitter: str | None = typer.Option(
        None, "--jitter", help="Plus a random extra delay up to this, e.g. 20s."
    ),
) -> None:
    """Start the emulator (foreground unless --detach). Then use `--cloud local` (or AMLMON_CLOUD=local)."""
    from amlmon.emulator import client
    from amlmon.emulator.server import check_loopback

    settings = _ingestion_settings(ingestion_delay, jitter)

    try:
        check_loopback(host)
    except ValueError as exc:
        raise UsageError(str(exc), hint="use --host 127.0.0.1 or --host ::1") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port", hint="give 1-65535, or 0 to pick a free one")
    data_dir = _data_dir(data)
    running = client.running_state(data_dir)
    if running is not None:
        raise UsageError(
            f"an emulator is already running at {running['endpoint']} (pid {running['pid']})",
            hint="stop it with `amlmon emulator stop`, or use another --data directory",
        )
    _check_port_free(host, port)
    if detach:
        try:
            state = client.start_detached(data_dir, host=host, port=port)
        except client.PortInUse:
            raise _port_in_use(host, port) from None
        except RuntimeError as exc:
            raise OperationFailed(str(exc)) from None
        if settings:
            _check(
                client.AdminClient(state).call("PUT", "/_emulator/settings", settings), "applying settings"
            )
        output(_status_view(state))
        return
    from amlmon.emulator.server import EmulatorServer

    try:
        server = EmulatorServer(data_dir, host=host, port=port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:  # taken between the check and the bind
            raise _port_in_use(host, port) from None
        raise
    server.state.settings.update(settings)
    typer.echo(
        f"amlmon emulator listening on {server.state.endpoint} (data: {data_dir}); Ctrl-C stops it", err=True
    )
    server.serve_forever()


def _port_in_use(host: str, port: int) -> UsageError:
    return UsageError(
        f"port {port} on {host} is already in use",
        hint="pick another --port (0 picks a free one), or stop the emulator using it: amlmon emulator stop",
    )


def _check_port_free(host: str, port: int) -> None:
    """A usage error when `port` is taken: bound as the emulator binds it (SO_REUSEADDR, as its server)."""
    import socket

    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1" if host == "localhost" else host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _port_in_use(host, port) from None


def _ingestion_settings(ingestion_delay: str | None, jitter: str | None) -> dict[str, float]:
    from amlmon.timeparse import parse_duration

    settings = {}
    if ingestion_delay:
        settings["ingestionDelay"] = parse_duration(
            ingestion_delay, option="--ingestion-delay"
        ).total_seconds()
    if jitter:
        settings["jitter"] = parse_duration(jitter, option="--jitter").total_seconds()
    return settings


@emulator_app.command("settings")
def settings_command(
    ingestion_delay: str | None = typer.Option(
        None, "--ingestion-delay", help="e.g. 30s; 0 turns it off with --reset."
    ),
    jitter: str | None = typer.Option(
        None, "--jitter", help="Random extra ingestion delay up to this, e.g. 20s."
    ),
    query_row_limit: int | None = typer.Option(
        None, "--query-row-limit", min=1, help="Rows a query answer holds before it is cut (Azure: 500000)."
    ),
    query_byte_limit: int | None = typer.Option(
        None, "--query-byte-limit", min=1, help="Bytes a query answer holds before it is cut (Azure: ~64 MB)."
    ),
    reset: bool = typer.Option(False, "--reset", help="Azure's defaults: no ingestion delay, Azure's caps."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
) -> None:
    """Show or change a running emulator's settings (ingestion delay and jitter, query caps)."""
    admin = _admin(data)
    changes: dict[str, float | None] = (
        {"ingestionDelay": 0.0, "jitter": 0.0, "queryRowLimit": None, "queryByteLimit": None} if reset else {}
    )
    changes.update(_ingestion_settings(ingestion_delay, jitter))
    if query_row_limit is not None:
        changes["queryRowLimit"] = query_row_limit
    if query_byte_limit is not None:
        changes["queryByteLimit"] = query_byte_limit
    if changes:
        _check(admin.call("PUT", "/_emulator/settings", changes), "changing settings")
    output(_check(admin.call("GET", "/_emulator/settings"), "reading settings"))


@emulator_app.command("stop")
def stop(data: Path | None = typer.Option(None, "--data", help=DATA_HELP)) -> None:
    """Stop the emulator and every inference server it started."""
    from amlmon.emulator import client

    if not client.stop(_data_dir(data)):
        raise NotFound(
            f"no emulator is running with data directory {_data_dir(data)}",
            hint="nothing to stop; an emulator started elsewhere is stopped with its own --data "
            "(or AMLMON_EMULATOR_DIR)",
        )
    output({"stopped": True, "data": str(_data_dir(data))})


def _status_view(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "running": True,
        "endpoint": state["endpoint"],
        "pid": state["pid"],
        "data": state["data_dir"],
        "caBundle": state["ca_path"],
        "started": state["started"],
    }


@emulator_app.command("status")
def status(data: Path | None = typer.Option(None, "--data", help=DATA_HELP)) -> None:
    """Whether an emulator is running, where, and since when (exit 3 when not running)."""
    from amlmon.emulator import client

    state = client.running_state(_data_dir(data))
    if state is None:
        raise NotFound(
            f"no emulator is running with data directory {_data_dir(data)}",
            hint="start it with `amlmon emulator start --detach`",
        )
    output(_status_view(state))


def fault_kinds() -> list[str]:
    """The fault kinds the emulator knows: this module is the product's one door into the emulator."""
    from amlmon.emulator.faults import KINDS

    return list(KINDS)


@faults_app.command("add")
def faults_add(
    kind: str = typer.Argument(
        ...,
        help="status (answer --status), slow (--delay), reset (drop the connection), expire (401 expired "
        "token), revoke (revoke all tokens: a CAE claims challenge)",
    ),
    path: str = typer.Option(".*", "--path", help="Regex searched in the request path."),
    method: str | None = typer.Option(None, "--method", help="Only this HTTP method."),
    status_code: int = typer.Option(503, "--status", help="Status to answer (kind status)."),
    retry_after: float | None = typer.Option(
        None, "--retry-after", help="Retry-After seconds (sets status 429 if --status not given)."
    ),
    delay: float = typer.Option(0.0, "--delay", help="Seconds to wait (kind slow)."),
    count: int = typer.Option(1, "--count", help="How many requests it hits (0 = unlimited)."),
    rate: float = typer.Option(
        1.0, "--rate", help="Probability (above 0, at most 1) that a matching request is hit."
    ),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
) -> None:
    """Add a fault rule."""
    from amlmon.emulator.faults import KINDS

    if kind not in KINDS:
        raise UsageError(f"unknown fault kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    _finite(rate, "--rate", low=0.0, high=1.0, low_ok=False)  # a probability
    _finite(delay, "--delay", low=0.0)
    _finite(count, "--count", low=0)
    _finite(status_code, "--status", low=100, high=599)
    if retry_after is not None:
        _finite(retry_after, "--retry-after", low=0.0)
    body: dict[str, Any] = {"kind": kind, "path": path, "method": method, "delay": delay, "rate": rate}
    body["count"] = None if count == 0 else count
    if retry_after is not None:
        body["retryAfter"] = retry_after
    body["status"] = 429 if retry_after is not None and status_code == 503 else status_code
    output(_check(_admin(data).call("POST", "/_emulator/faults", body), "adding the fault"))


@faults_app.command("list")
def faults_list(data: Path | None = typer.Option(None, "--data", help=DATA_HELP)) -> None:
    """List fault rules and how often each hit."""
    body = _check(_admin(data).call("GET", "/_emulator/faults"), "listing faults")
    output(body.get("value", body) if isinstance(body, dict) else body)


@faults_app.command("clear")
def faults_clear(data: Path | None = typer.Option(None, "--data", help=DATA_HELP)) -> None:
    """Remove every fault rule."""
    _check(_admin(data).call("DELETE", "/_emulator/faults"), "clearing faults")
    output({"cleared": True})


DEMO_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


@emulator_app.command("seed")
def seed(
    subscription: str = typer.Option(
        DEMO_SUBSCRIPTION, "--subscription", help="Subscription of the demo workspace.", metavar="ID"
    ),
    resource_group: str = typer.Option(
        "amlmon-demo", "-g", "--resource-group", help="Resource group of the demo workspace.", metavar="NAME"
    ),
    workspace: str = typer.Option(
        "demo-ws", "-w", "--workspace-name", help="Workspace name.", metavar="NAME"
    ),
    old_sub: str | None = typer.Option(None, "--sub", hidden=True),  # the earlier names, still accepted
    old_rg: str | None = typer.Option(None, "--rg", hidden=True),
    old_ws: str | None = typer.Option(None, "--ws", hidden=True),
    services: int = typer.Option(3, "--services", help="How many services get telemetry."),
    hours: float = typer.Option(24.0, "--hours", help="How many hours back from now."),
    rate: str = typer.Option(
        "50/min", "--rate", help="Requests per service and time unit: 50/min, 600/hour, 2/s.", metavar="RATE"
    ),
    generation: str = typer.Option(
        "mixed", "--generation", help="Inference server layout: 1.5, 1.4 or mixed."
    ),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
) -> None:
    """Write realistic synthetic telemetry in bulk (creates the workspace if missing)."""
    from amlmon.azure import paths

    subscription = old_sub or subscription
    resource_group = old_rg or resource_group
    workspace = old_ws or workspace
    paths.SUBSCRIPTION.check(subscription, "--sub" if old_sub else "--subscription")
    paths.RESOURCE_GROUP.check(resource_group, "--rg" if old_rg else "--resource-group")
    paths.WORKSPACE.check(workspace, "--ws" if old_ws else "--workspace-name")
    per_minute = parse_rate(rate)
    _finite(hours, "--hours", low=0.0, low_ok=False)
    _finite(services, "--services", low=1)
    _not_too_large(services, hours, per_minute)
    if generation not in GENERATIONS:
        raise UsageError(
            f"--generation {generation!r} is not a layout", hint=f"use one of {', '.join(GENERATIONS)}"
        )
    admin = _admin(data)
    names = [f"svc-{i + 1}" for i in range(services)]
    ws_body = {
        "subscription": subscription,
        "resourceGroup": resource_group,
        "name": workspace,
        "services": [{"name": n, "computeType": "ACI" if i % 2 == 0 else "AKS"} for i, n in enumerate(names)],
    }
    status_code, created = admin.call("POST", "/_emulator/workspaces", ws_body)
    if status_code not in (200, 201, 409):
        _check((status_code, created), "creating the workspace")
    seed_body = {
        "subscription": subscription,
        "resourceGroup": resource_group,
        "workspace": workspace,
        "services": names,
        "hours": hours,
        "ratePerMinute": per_minute,
        "generation": generation,
    }
    output(_check(admin.call("POST", "/_emulator/telemetry/seed", seed_body, timeout=900), "seeding"))
