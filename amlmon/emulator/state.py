"""The emulator's shared state, typed: every room a route module uses is an attribute here.

Route modules import this module (never server.py), so there is no import circle: server.py builds one
EmulatorState and hands it to each module's `register(router, state)`. Rooms that cost something to
open (the DuckDB telemetry store, inference process managers) are created on first use, under the lock.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlmon.emulator.auth import TokenStore
from amlmon.emulator.faults import FaultInjector
from amlmon.emulator.http import Request

if TYPE_CHECKING:
    from amlmon.emulator.inference import InferenceManager
    from amlmon.emulator.metric_samples import MetricLog
    from amlmon.emulator.mms_services import ServiceStore
    from amlmon.emulator.online_inference import OnlineManager
    from amlmon.emulator.resources import ResourceStore
    from amlmon.emulator.store import TelemetryStore

DEFAULT_TENANT = "00000000-0000-0000-0000-00000000e1a7"
# Where diagnostic settings persist inside the resource store (not an ARM path: no resource has it).
DIAGNOSTIC_SETTINGS_KEY = "/_diagnostic_settings"
DIAGNOSTIC_SETTINGS_SUFFIX = "/providers/microsoft.insights/diagnosticsettings"
# When each setting began exporting each category: emulator-private (ARM's GET has no such field).
EXPORT_STARTED_KEY = "/_diagnostic_export_started"

ServiceHook = Callable[["EmulatorState", dict[str, Any]], None]


class Settings(dict[str, Any]):
    """PUT /_emulator/settings merges any JSON object in (tests set what they need); the emulator reads
    it through `number` / `flag` / `value`, where null or malformed means the default."""

    def number(self, key: str, default: float) -> float:
        value = self.get(key)
        try:
            return default if value is None else float(value)
        except (TypeError, ValueError):
            return default

    def flag(self, key: str) -> bool:
        return self.get(key) is True

    def mapping(self, key: str) -> dict[str, Any] | None:
        value = self.get(key)
        return value if isinstance(value, dict) else None


class DiagnosticSettings:
    """Every resource's diagnostic settings: the one table ARM writes and export/log delivery reads.

    Keyed by `{normalized resource id}/providers/microsoft.insights/diagnosticsettings`, then by the
    setting's lower-cased name; persisted in the resource store so a restarted emulator keeps them."""

    def __init__(self, resources: ResourceStore) -> None:
        self._resources = resources
        self._lock = threading.RLock()
        self._table: dict[str, dict[str, dict[str, Any]]] = dict(resources.get(DIAGNOSTIC_SETTINGS_KEY) or {})
        # {settings key: {setting name lower-cased: {category lower-cased: ISO UTC time}}}
        self._started: dict[str, dict[str, dict[str, str]]] = dict(resources.get(EXPORT_STARTED_KEY) or {})

    @staticmethod
    def key(resource_id: str) -> str:
        from amlmon.emulator.resources import normalize_id

        return normalize_id(resource_id) + DIAGNOSTIC_SETTINGS_SUFFIX

    def of(self, resource_id: str) -> dict[str, dict[str, Any]]:
        """The live settings of one resource by lower-cased name (mutate, then `save`)."""
        with self._lock:
            return self._table.setdefault(self.key(resource_id), {})

    def settings(self, resource_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list((self._table.get(self.key(resource_id)) or {}).values())

    def items(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(resource id, its settings) for every resource that has any."""
        with self._lock:
            return [
                (key[: -len(DIAGNOSTIC_SETTINGS_SUFFIX)], list(settings.values()))
                for key, settings in self._table.items()
                if settings
            ]

    def save(self) -> None:
        with self._lock:
            self._resources.put(DIAGNOSTIC_SETTINGS_KEY, self._table)
            self._resources.put(EXPORT_STARTED_KEY, self._started)

    # --- when a setting began exporting (a setting never back-fills: only rows ingested after) -------

    def put(self, resource_id: str, body: dict[str, Any], categories: list[str]) -> None:
        """Store a created or updated setting that now exports `categories`: a category it already
        exported to the same storage account keeps its start; a new one (or all, when the storage
        account changed) starts now; one no longer sent is forgotten."""
        name = str(body["name"]).lower()
        now = datetime.now(UTC).isoformat()
        with self._lock:
            settings = self.of(resource_id)
            before = settings.get(name)
            same_destination = before is not None and _storage_of(before) == _storage_of(body)
            of_resource = self._started.setdefault(self.key(resource_id), {})
            known = of_resource.get(name, {}) if same_destination else {}
            of_resource[name] = {
                category.lower(): known.get(category.lower(), now) for category in categories
            }
            settings[name] = body
            self.save()

    def remove(self, resource_id: str, name: str) -> dict[str, Any] | None:
        """Delete a setting; it stops exporting (a setting of the same name made later starts afresh)."""
        with self._lock:
            removed = self.of(resource_id).pop(name.lower(), None)
            (self._started.get(self.key(resource_id)) or {}).pop(name.lower(), None)
            self.save()
            return removed

    def exporting_since(self, resource_id: str, name: str, category: str) -> datetime:
        """When the setting began exporting `category`. A setting stored before the emulator kept this
        (or a category it was not seen to enable) starts now: the emulator never back-fills."""
        with self._lock:
            started = self._started.setdefault(self.key(resource_id), {}).setdefault(name.lower(), {})
            if category.lower() not in started:
                started[category.lower()] = datetime.now(UTC).isoformat()
                self.save()
            return datetime.fromisoformat(started[category.lower()])

    def backdate(self, resource_id: str, name: str, since: datetime) -> dict[str, str] | None:
        """Test-world setup (POST /_emulator/export/started): the setting has exported every category it
        sends since `since`, e.g. before a seeded history. None when there is no such setting."""
        with self._lock:
            if name.lower() not in self.of(resource_id):
                return None
            started = self._started.setdefault(self.key(resource_id), {}).setdefault(name.lower(), {})
            for category in started:
                started[category] = since.astimezone(UTC).isoformat()
            self.save()
            return dict(started)


def _storage_of(setting: dict[str, Any]) -> str:
    return str((setting.get("properties") or {}).get("storageAccountId") or "").lower()


class EmulatorState:
    """Everything the route modules share. Resources and telemetry persist in `data_dir`."""

    def __init__(self, data_dir: Path, tenant_id: str = DEFAULT_TENANT) -> None:
        self.data_dir = data_dir
        self.tenant_id = tenant_id
        self.endpoint = ""  # set once the socket is bound
        self.tokens = TokenStore()
        self.faults = FaultInjector()
        self.request_log: collections.deque[dict[str, Any]] = collections.deque(maxlen=100_000)
        self.request_count = 0
        self.lock = threading.RLock()
        self.settings = Settings(ingestionDelay=0.0, jitter=0.0)
        self.shutdown_hooks: list[Callable[[], None]] = []
        # Set when the emulator begins to shut down (SIGTERM/SIGINT or close): long work (a seed) gives up.
        self.stopping = threading.Event()
        # Called with every v1 service mms.py creates or changes (inference.py starts/stops servers).
        self.service_hooks: list[ServiceHook] = []
        # ARM long-running operations by id (mfeOperationsStatus / mfeOperationResults).
        self.operations: dict[str, dict[str, Any]] = {}
        # Deployment ETags by normalized id (only when the `deploymentETags` setting is on).
        self.etags: dict[str, str] = {}
        self._rooms: dict[str, Any] = {}

    def number(self, key: str, default: float) -> float:
        """A numeric setting; null or malformed means the default."""
        return self.settings.number(key, default)

    def _room(self, name: str, build: Callable[[], Any]) -> Any:
        with self.lock:
            found = self._rooms.get(name)
            if found is None:
                found = self._rooms[name] = build()
            return found

    @property
    def resources(self) -> ResourceStore:
        from amlmon.emulator.resources import ResourceStore

        room: ResourceStore = self._room("resources", lambda: ResourceStore(self.data_dir, self.endpoint))
        return room

    @property
    def telemetry(self) -> TelemetryStore:
        """The DuckDB store of every table (opened on first use, closed at shutdown)."""

        def build() -> TelemetryStore:
            from amlmon.emulator.store import TelemetryStore

            store = TelemetryStore(self.data_dir)
            self.shutdown_hooks.append(store.close)
            return store

        room: TelemetryStore = self._room("telemetry", build)
        return room

    @property
    def diagnostic_settings(self) -> DiagnosticSettings:
        room: DiagnosticSettings = self._room(
            "diagnostic_settings", lambda: DiagnosticSettings(self.resources)
        )
        return room

    @property
    def services(self) -> ServiceStore:
        """v1 model-management services (mms.py)."""
        from amlmon.emulator.mms_services import ServiceStore

        room: ServiceStore = self._room("services", lambda: ServiceStore(self))
        return room

    @property
    def inference(self) -> InferenceManager:
        """v1 services' inference-server processes."""
        from amlmon.emulator.inference import InferenceManager

        room: InferenceManager = self._room("inference", lambda: InferenceManager(self))
        return room

    @property
    def online(self) -> OnlineManager:
        """v2 deployments' inference-server processes and their data collector."""
        from amlmon.emulator.online_inference import OnlineManager

        room: OnlineManager = self._room("online", lambda: OnlineManager(self))
        return room

    @property
    def metrics(self) -> MetricLog:
        """Azure Monitor platform metric samples of endpoints and deployments."""
        from amlmon.emulator.metric_samples import MetricLog

        room: MetricLog = self._room("metrics", MetricLog)
        return room

    def log_request(self, request: Request, status: int) -> None:
        with self.lock:
            self.request_count += 1
            self.request_log.append(
                {
                    "seq": self.request_count,
                    "time": datetime.now(UTC).isoformat(),
                    "method": request.method,
                    "path": request.path,
                    "query": {k: v[0] if len(v) == 1 else v for k, v in request.query.items()},
                    "status": status,
                    "clientRequestId": request.header("x-ms-client-request-id"),
                }
            )
