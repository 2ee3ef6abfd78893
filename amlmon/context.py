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
from amlmon.errors import AuthError
from amlmon.resolve import WorkspaceRef, resolve_workspace

USER_AGENT = "amlmon/0.1.0"
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

    def _note_retryable(self, pipeline_response: Any) -> None:
        """With --verbose: an answer the SDK's retry policy will ask again (throttling, 5xx), as az shows."""
        response = pipeline_response.http_response
        if response.status_code in (408, 429, 500, 502, 503, 504):
            request = response.request
            after = response.headers.get("Retry-After")
            wait = f", Retry-After {after}s" if after else ""
            url = str(request.url).split("?", 1)[0]
            self.note(
                f"{request.method} {url} answered {response.status_code}{wait}; retryable: the SDK asks again while attempts remain"
            )

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

    def retry_policy(self, **kwargs: Any) -> Any:
        """azure-core's RetryPolicy with every wait capped and bounded by the --timeout deadline."""
        from amlmon.azure.retry import BoundedRetryPolicy

        return BoundedRetryPolicy(self.deadline, **kwargs)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments every SDK client gets: TLS trust, user agent, logging, retries."""
        kwargs: dict[str, Any] = {"user_agent": USER_AGENT, "retry_policy": self.retry_policy()}
        if self.cloud.ca_bundle:
            kwargs["connection_verify"] = self.cloud.ca_bundle
        if self.options.debug:
            kwargs["logging_enable"] = True
        if self.options.verbose:
            kwargs["raw_response_hook"] = self._note_retryable
        return kwargs

    @cached_property
    def arm(self) -> Any:
        """A generic ARM client (amlmon.azure.arm.ArmClient) for resources without a modelled SDK call."""
        from amlmon.azure.arm import ArmClient

        return ArmClient(self)

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
    def monitor_client(self) -> Any:
        from azure.mgmt.monitor import MonitorManagementClient

        return MonitorManagementClient(
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
    def workspace_info(self) -> Any:
        """The workspace and its linked App Insights / Log Analytics resources (amlmon.azure.workspaces)."""
        from amlmon.azure.workspaces import describe_workspace

        return describe_workspace(self)

    def close(self) -> None:
        for name in ("ml_client", "monitor_client", "appinsights_client", "logs_client", "arm"):
            client = self.__dict__.get(name)
            if client is not None and hasattr(client, "close"):
                with contextlib.suppress(Exception):  # closing is best effort at exit
                    client.close()


def require_auth_hint(exc: Exception) -> AuthError:
    return AuthError(
        f"authentication failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
        hint="sign in with `az login`, set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET (--auth env), "
        "or use a managed identity (--auth msi)",
    )
