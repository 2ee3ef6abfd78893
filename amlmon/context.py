"""The one shared object: resolved settings plus a lazily built credential and clients.

Every command gets an AppContext from the CLI layer and never builds its own credential. Nothing here
imports the Azure SDK at module level; clients are created on first use and reused.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from amlmon.clouds import Cloud, get_cloud
from amlmon.resolve import WorkspaceRef, resolve_workspace

DEFAULT_TIMEOUT = "5m"  # a one-shot command's deadline for waiting on the service, without --timeout


@dataclass
class GlobalOptions:
    """The options every command accepts (Azure CLI names)."""

    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    auth: str = "default"
    cloud: str = "AzureCloud"
    output: str | None = None  # None: table on a TTY, json otherwise
    query: str | None = None
    timeout: str | None = None  # how long a command may wait on the service (amlmon.azure.retry)
    debug: bool = False
    verbose: bool = False
    only_show_errors: bool = False
    no_color: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> GlobalOptions:
        env = dict(os.environ) if env is None else env
        return cls(
            auth=env.get("AMLMON_AUTH", "default"),
            cloud=env.get("AMLMON_CLOUD", "AzureCloud"),
            output=env.get("AMLMON_OUTPUT") or None,
            timeout=env.get("AMLMON_TIMEOUT") or None,
            no_color=bool(env.get("NO_COLOR")),
        )


def is_interactive() -> bool:
    """Prompts and progress are for people: a TTY, and not inside CI."""
    return sys.stdin.isatty() and sys.stderr.isatty() and not os.environ.get("CI")


@dataclass
class AppContext:
    options: GlobalOptions
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)
    started: float = field(default_factory=time.monotonic)
    _noted: set[str] = field(default_factory=set)  # --verbose lines already printed (note_once)
    _ahead: Any = field(default=None, repr=False)  # amlmon.background.Background of workspace_info
    # The exit code a command has decided before it prints (a gate's verdict): kept when the reader of
    # stdout leaves mid-output (`amlmon check … | head`), which otherwise ends quietly with 0.
    decided_exit: int = 0

    # --- --verbose ----------------------------------------------------------------------------
    def note(self, message: str) -> None:
        """One `info:` line on stderr with --verbose (like az's INFO lines), nothing otherwise."""
        if self.options.verbose:
            print(f"info: {message}", file=sys.stderr, flush=True)

    def note_once(self, key: str, message: str) -> None:
        """`note`, the first time for `key` (a route used by every poll of a follow is said once)."""
        if key not in self._noted:
            self._noted.add(key)
            self.note(message)

    # --- settings -------------------------------------------------------------------------
    @cached_property
    def cloud(self) -> Cloud:
        return get_cloud(self.options.cloud)

    @cached_property
    def workspace_ref(self) -> WorkspaceRef:
        """Subscription, resource group and workspace with provenance (not yet required)."""
        return resolve_workspace(
            subscription=self.options.subscription,
            resource_group=self.options.resource_group,
            workspace=self.options.workspace,
            env=self.env,
            cwd=self.cwd,
            home=Path(self.env.get("HOME") or Path.home()),
        )

    @property
    def workspace(self) -> WorkspaceRef:
        """The workspace, or a ConfigError listing every place that was looked at."""
        ref = self.workspace_ref.require()
        self.note_once(
            "workspace",
            f"workspace {ref.workspace.value} ({ref.workspace.source}), resource group "
            f"{ref.resource_group.value} ({ref.resource_group.source}), subscription "
            f"{ref.subscription.value} ({ref.subscription.source}), cloud {self.cloud.name}",
        )
        return ref

    @property
    def subscription_id(self) -> str:
        return str(self.workspace.subscription.value)

    # --- credential and clients -------------------------------------------------------------
    @cached_property
    def credential(self) -> Any:
        if self.cloud.is_local:
            from amlmon.azure.credentials import EmulatorCredential

            assert self.cloud.token_url is not None
            return EmulatorCredential(self.cloud.token_url, self.cloud.ca_bundle)
        from amlmon.azure.credentials import build_credential

        return build_credential(
            self.options.auth, interactive=is_interactive(), authority=self.cloud.authority
        )

    @cached_property
    def deadline(self) -> Any:
        """When waiting on the service ends (amlmon.azure.retry.Deadline), counted from the start."""
        from amlmon.azure.retry import Deadline
        from amlmon.timeparse import parse_duration

        text = self.options.timeout or DEFAULT_TIMEOUT
        return Deadline(parse_duration(text, option="--timeout").total_seconds(), text, self.started)

    def long_run(self, seconds: float | None = None, text: str = "") -> None:
        """For a command that runs long by design (a follow, a pull, a wait on Azure operations): its
        deadline is `seconds` (None: none) unless the user gave --timeout / AMLMON_TIMEOUT."""
        if self.options.timeout is None:
            self.deadline.seconds, self.deadline.text = seconds, text

    @cached_property
    def session(self) -> Any:
        """Credential, cloud, bounded retries and logging hooks: what every client is built from."""
        from amlmon.azure.session import Session

        return Session(
            self.cloud,
            lambda: self.credential,
            lambda: self.deadline,
            debug=self.options.debug,
            note=self.note if self.options.verbose else None,
        )

    def retry_policy(self, **kwargs: Any) -> Any:
        """azure-core's RetryPolicy with every wait capped and bounded by the --timeout deadline."""
        return self.session.retry_policy(**kwargs)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments every SDK client gets: TLS trust, user agent, logging, retries."""
        return dict(self.session.client_kwargs())

    @cached_property
    def arm(self) -> Any:
        """A generic ARM client (amlmon.azure.arm.ArmClient) for resources without a modelled SDK call."""
        from amlmon.azure.arm import ArmClient

        return ArmClient(self.session)

    @cached_property
    def v2_scope(self) -> Any:
        """What v2 endpoint/deployment calls go through (amlmon.azure.deployments_v2.Scope)."""
        from amlmon.azure.deployments_v2 import Scope

        return Scope(self.arm, str(self.workspace.resource_id))

    @cached_property
    def monitor_client(self) -> Any:
        """azure-mgmt-monitor's client: platform metrics (`metrics.list`, api-version 2023-10-01)."""
        from azure.mgmt.monitor import MonitorManagementClient

        return MonitorManagementClient(
            self.credential,
            self.subscription_id,
            base_url=self.cloud.arm,
            credential_scopes=[self.cloud.arm_scope],
            **self.client_kwargs(),
        )

    @cached_property
    def ml_client(self) -> Any:
        from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient

        return MachineLearningServicesMgmtClient(
            self.credential,
            self.subscription_id,
            base_url=self.cloud.arm,
            credential_scopes=[self.cloud.arm_scope],
            **self.client_kwargs(),
        )

    @cached_property
    def appinsights_client(self) -> Any:
        from azure.mgmt.applicationinsights import ApplicationInsightsManagementClient

        return ApplicationInsightsManagementClient(
            self.credential,
            self.subscription_id,
            base_url=self.cloud.arm,
            credential_scopes=[self.cloud.arm_scope],
            **self.client_kwargs(),
        )

    @cached_property
    def logs_client(self) -> Any:
        from azure.monitor.query import LogsQueryClient

        from amlmon.azure.logs import FINAL_STATUSES

        kwargs = {**self.client_kwargs(), "retry_policy": self.retry_policy(final_statuses=FINAL_STATUSES)}
        return LogsQueryClient(
            self.credential, endpoint=self.cloud.logs + "/v1", audience=self.cloud.logs, **kwargs
        )

    @cached_property
    def query_api(self) -> Any:
        """What run_query / stream_query take (amlmon.azure.logs.QueryApi): each part read on first use."""
        from amlmon.azure.logs import QueryApi

        return QueryApi(
            client=lambda: self.logs_client,
            workspace=lambda: self.workspace_info,  # read each time: doctor may put a stand-in there
            endpoint=lambda: self.cloud.logs,
            note_once=self.note_once,
        )

    @cached_property
    def workspace_info(self) -> Any:
        """The workspace and its linked App Insights / Log Analytics resources (amlmon.azure.workspaces)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            return ahead.result()  # raises what the read raised, here, where it was asked for
        from amlmon.azure.workspaces import describe_workspace

        ref = self.workspace  # a ConfigError here comes before any client is built
        return describe_workspace(ref, self.ml_client, lambda: self.arm)

    def read_workspace_ahead(self) -> None:
        """Start reading `workspace_info` (the workspace, its App Insights component, the component's Log
        Analytics workspace: three dependent ARM GETs) on a thread, while the command does its other ARM
        reads (e.g. checking its targets). Nothing changes but when: a missing workspace setting or a
        sign-in that cannot start still fails here, at once; the read's own error is raised where
        `workspace_info` is first used. Not with an interactive sign-in (a prompt must not race another)."""
        if (
            self._ahead is not None
            or "workspace_info" in self.__dict__
            or self.options.auth in ("device", "browser")
        ):
            return
        from amlmon.azure.workspaces import describe_workspace
        from amlmon.background import Background

        ref, arm, ml_client = self.workspace, self.arm, self.ml_client  # built once, by this thread
        self._ahead = Background(lambda: describe_workspace(ref, ml_client, lambda: arm))

    def close(self) -> None:
        deadline = self.__dict__.get("deadline")
        if deadline is not None:
            deadline.end()  # first: a request a leftover thread retries sends nothing more
        for name in ("ml_client", "appinsights_client", "logs_client", "arm"):
            client = self.__dict__.get(name)
            if client is not None and hasattr(client, "close"):
                with contextlib.suppress(Exception):  # closing is best effort at exit
                    client.close()
        session = self.__dict__.get("session")
        if session is not None:
            session.close()  # the connections the clients shared
