"""The data collector's sidecar of one v2 deployment: `POST /modeldata/log` from the real Collector in the
inference server → records of the documented schema appended to the workspace datastore's blobs.

See online_inference.py's docstring for the Collector's side of the contract."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlmon.emulator.online_inference import OnlineManager


@dataclass(frozen=True)
class CollectorConfig:
    """What the deployment's dataCollector decides: a change restarts the child with a new config file."""

    collections: tuple[tuple[str, bool, float], ...]  # (name, enabled, samplingRate 0..1)
    rolling_rate: str

    @classmethod
    def of(cls, deployment: dict[str, Any]) -> CollectorConfig:
        collector = (deployment.get("properties") or {}).get("dataCollector") or {}
        collections = []
        for name, spec in sorted((collector.get("collections") or {}).items()):
            spec = spec or {}
            enabled = str(spec.get("dataCollectionMode") or "").lower() == "enabled"
            rate = spec.get("samplingRate")
            collections.append((name.lower(), enabled, 1.0 if rate is None else float(rate)))
        return cls(tuple(collections), str(collector.get("rollingRate") or "Hour"))

    def mdc_file(self) -> dict[str, Any]:
        """The file the Collector reads from AZUREML_MDC_CONFIG_PATH (keys from its config.py)."""
        return {
            "runMode": "cloud",
            "collections": {
                name: {"enabled": enabled, "sampleRatePercentage": rate * 100}
                for name, enabled, rate in self.collections
            },
        }

    def enabled(self, name: str) -> bool:
        return any(n == name.lower() and on for n, on, _ in self.collections)


@dataclass
class PendingBatch:
    record: dict[str, Any]
    rows: list[Any]
    blob: str
    due: float


@dataclass
class Sidecar:
    """The collector's local endpoint for one child: plain HTTP on loopback, `POST /modeldata/log`."""

    manager: OnlineManager
    deployment_id: str
    collector: CollectorConfig
    instance: str
    server: ThreadingHTTPServer | None = None
    pending: dict[str, PendingBatch] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> None:
        sidecar = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.split("?")[0] != "/modeldata/log":
                    self.send_response(404)
                    self.end_headers()
                    return
                status = sidecar.receive({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.flush(force=True)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        kind = headers.get("ce-type", "")
        collection = kind.removeprefix("azureml.inference.")
        if not kind.startswith("azureml.inference.") or not collection:
            return 400
        if not self.collector.enabled(collection):
            return 200  # the collection is off: the platform drops its data
        try:
            data = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            self._count(collection, "InvalidPayload")
            return 400
        when = dt.datetime.fromtimestamp(int(float(headers.get("ce-time") or time.time())), dt.UTC)
        record = self._record(headers, collection, kind, when, data, len(body))
        blob = self._blob_name(collection, when)
        batch = self.manager.state.number("collectorBatchSeconds", 0.0)
        if batch <= 0 or not isinstance(data, list):
            try:
                stored = self.manager.append(self.deployment_id, blob, [record])
            except Exception as exc:  # the storage refused the write: the record is lost
                print(f"emulator: model data dropped: {type(exc).__name__}", file=sys.stderr)
                self._count(collection, "StorageWriteFailed")
                return 500
            self._count(collection, None if stored else "StorageUnavailable")
            return 200
        self._batch(collection, record, data, blob, batch)
        self._count(collection, None if self.manager.connection_string else "StorageUnavailable")
        return 200

    def _count(self, collection: str, error: str | None) -> None:
        """The post in the platform metrics DataCollectionEvents/ErrorsPerMinute."""
        from amlmon.emulator.metric_samples import record_collection

        record_collection(self.manager.state, self.deployment_id, self.instance, collection, error)

    def _record(
        self,
        headers: dict[str, str],
        collection: str,
        kind: str,
        when: dt.datetime,
        data: Any,
        size: int,
    ) -> dict[str, Any]:
        """A record in the documented schema (AZURE-FACTS.md "Collector output")."""
        correlation = headers.get("ce-x-request-id")
        record: dict[str, Any] = {
            "specversion": "1.0",
            "id": headers.get("trace-id") or str(uuid.uuid4()),
            "source": self.deployment_id,
            "type": kind,
            "datacontenttype": headers.get("content-type", "application/json").split(";")[0],
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
            "correlationid": correlation,
            "xrequestid": correlation,
            "contentrange": f"bytes 0-{max(size - 1, 0)}/{size}",
        }
        if collection not in ("request", "response"):
            record["modelversion"] = headers.get("ce-model-version")
            record["collectdatatype"] = headers.get("ce-collect-data-type")
            record["agent"] = headers.get("ce-agent")
        return record

    def _blob_name(self, collection: str, when: dt.datetime) -> str:
        ids = self.deployment_id.strip("/").split("/")
        endpoint, deployment = ids[-3], ids[-1]
        # Hour is the default and what model monitoring reads; Day drops the hour folder. The other
        # rolling rates' layouts are not documented: written hourly.
        folder = f"{when:%Y/%m/%d}" if self.collector.rolling_rate.lower() == "day" else f"{when:%Y/%m/%d/%H}"
        return f"modelDataCollector/{endpoint}/{deployment}/{collection}/{folder}/{self.instance}.jsonl"

    def _batch(
        self, collection: str, record: dict[str, Any], rows: list[Any], blob: str, wait: float
    ) -> None:
        with self.lock:
            pending = self.pending.get(collection)
            if pending is not None and pending.blob == blob:
                pending.rows.extend(rows)
                return
            if pending is not None:
                self._write(pending)
            self.pending[collection] = PendingBatch(record, list(rows), blob, time.monotonic() + wait)
        timer = threading.Timer(wait, self.flush)
        timer.daemon = True
        timer.start()

    def flush(self, force: bool = False) -> None:
        with self.lock:
            due = [c for c, p in self.pending.items() if force or p.due <= time.monotonic() + 0.01]
            batches = [self.pending.pop(c) for c in due]
        for pending in batches:
            self._write(pending)

    def _write(self, pending: PendingBatch) -> None:
        text = json.dumps(pending.rows, separators=(",", ":"))
        size = len(text.encode("utf-8"))
        record = {
            **pending.record,
            "data": pending.rows,
            "contentrange": f"bytes 0-{max(size - 1, 0)}/{size}",
        }
        self.manager.append(self.deployment_id, pending.blob, [record])
