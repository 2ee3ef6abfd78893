"""`amlmon logs ENDPOINT/DEPLOYMENT`: the tail of a v2 deployment's container log (getLogs)."""

from __future__ import annotations

import sys
from typing import IO, Any

import typer

from amlmon.cli.common import app_context, output


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)


def logs(
    target: str = typer.Argument(
        ..., metavar="ENDPOINT/DEPLOYMENT", help="The v2 deployment, e.g. my-endpoint/blue."
    ),
    tail: int = typer.Option(100, "--tail", min=1, max=10000, help="How many of the last lines."),
    container: str = typer.Option(
        "inference-server", "--container", help="inference-server or storage-initializer."
    ),
) -> None:
    """The last lines of a v2 deployment's container log, through the deployment's getLogs call.

    Works without any diagnostic setting. It is a tail of the running container (no time range,
    nothing from before a restart), not the endpoint log tables (AmlOnlineEndpointConsoleLog).
    """
    from amlmon import v2_logs
    from amlmon.targets import parse_target

    parsed = v2_logs.deployment_target(parse_target(target))
    v2_logs.container_type(container)  # a bad name is a usage error before any call
    found = v2_logs.get_logs(app_context(), parsed, container, tail)
    if not app_context().options.only_show_errors:
        print(
            f"note: the last {tail} lines of {found.target}'s {container} container (getLogs), "
            "not the endpoint log tables",
            file=sys.stderr,
        )
    output(
        {"target": found.target, "container": found.container, "tail": found.tail, "content": found.content},
        table=_render,
    )


def _render(data: dict[str, Any], stream: IO[str]) -> None:
    content = str(data["content"])
    stream.write(content if not content or content.endswith("\n") else content + "\n")
