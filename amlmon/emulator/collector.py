"""The data collector's sidecar of one v2 deployment: `POST /modeldata/log` from the real Collector in the
inference server → records of the documented schema appended to the workspace datastore's blobs.

See online_inference.py's docstring for the Collector's side of the contract.

Payload logging (`request` / `response` collections in the deployment's dataCollector): the platform,
not score.py, records each HTTP request body and response body (how-to-collect-production-data.md,
"Perform payload logging"); here the scoring front door hands them to `payloads`. Their records follow
the docs' examples: the request's has `path` and `method`, the response's has neither; both carry the
request's x-request-id as `correlationid` and `xrequestid`.

Payloads kept apart from the record (same doc, "Store large payloads", "Store binary data"):
- a payload over 4 MB is written to its own blob `modelDataCollector/{ep}/{dep}/{rolled time}/{id}.jsonl`
  (the documented path, with the record's id standing for the doc's `{instance_id}` so each payload has
  one blob), and the record in the collection's .jsonl points to it;
- a binary (non-JSON) payload is written as the raw file named by the record id, in the collection's own
  folder, and the record's `data` is its URL with `datainblob` "true" (the doc's example record).
The doc does not show the pointer record of a large payload. The emulator writes it with the only
pointer fields the docs show — `data` = the blob's URL and `datainblob` "true" — and no other field; this
shape is an inference from the binary example, not a documented fact.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlmon.emulator.online_inference import OnlineManager

PAYLOAD_LIMIT = 4 * 1024 * 1024  # bytes: a larger payload goes to a blob of its own
PAYLOAD_COLLECTIONS = ("request", "response")


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

    def sampled(self, name: str) -> bool:
        """Whether this payload is kept: its collection is on and the draw falls within samplingRate
        (for custom collections the Collector in score.py draws itself; payloads are drawn here)."""
        rates = [rate for n, on, rate in self.collections if n == name.lower() and on]
        return bool(rates) and random.random() < rates[0]


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
                stored = self._store(blob, record, body)
            except Exception as exc:  # the storage refused the write: the record is lost
                self.manager.lost(self.deployment_id, exc)
                self._count(collection, "StorageWriteFailed")
                return 500
            self._count(collection, None if stored else "StorageUnavailable")
            return 200
        self._batch(collection, record, data, blob, batch)
        self._count(collection, None if self.manager.connection_string else "StorageUnavailable")
        return 200

    def payloads(
        self,
        request_id: str,
        request: tuple[str, str, str, bytes],
        response: tuple[str, bytes],
    ) -> None:
        """Payload logging of one scored request: (method, path, content type, body) of the request and
        (content type, body) of the answer, each to its collection when that collection is on."""
        when = dt.datetime.now(dt.UTC).replace(microsecond=0)
        method, path, request_type, request_body = request
        response_type, response_body = response
        for collection, content_type, body in (
            ("request", request_type, request_body),
            ("response", response_type, response_body),
        ):
            if not self.collector.sampled(collection):
                continue
            headers = {
                "ce-x-request-id": request_id,
                "content-type": content_type or "application/octet-stream",
            }
            record = self._record(
                headers, collection, f"azureml.inference.{collection}", when, None, len(body)
            )
            if collection == "request":
                # After `data`, as in the docs' example request record.
                rest = {k: record.pop(k) for k in ("contentrange", "correlationid", "xrequestid")}
                record.update(path=path, method=method, **rest)
            try:
                stored = self._store(self._blob_name(collection, when), record, body, raw=True)
            except Exception as exc:  # the storage refused the write: the record is lost
                self.manager.lost(self.deployment_id, exc)
                self._count(collection, "StorageWriteFailed")
                continue
            self._count(collection, None if stored else "StorageUnavailable")

    def _store(self, blob: str, record: dict[str, Any], payload: bytes, raw: bool = False) -> bool:
        """Append `record` to the collection's blob; a payload kept apart is written first, the record
        pointing at it. `raw`: `data` is still to be set from the payload bytes (payload logging)."""
        if not self.manager.connection_string:
            return self.manager.append(self.deployment_id, blob, [record])  # refuses, said there
        content_type = str(record.get("datacontenttype") or "")
        if raw:
            try:
                record["data"] = json.loads(payload.decode("utf-8")) if payload else None
            except (UnicodeDecodeError, ValueError):  # binary: the raw file in the collection's folder
                own_folder = blob.rsplit("/", 1)[0]
                record["data"] = self.manager.upload(
                    self.deployment_id, f"{own_folder}/{record['id']}", payload, content_type
                )
                record["datainblob"] = "true"
                return self.manager.append(self.deployment_id, blob, [record])
        if len(payload) > PAYLOAD_LIMIT:
            # modelDataCollector/{ep}/{dep}/{collection}/{rolled time}/{instance}.jsonl →
            # modelDataCollector/{ep}/{dep}/{rolled time}/{id}.jsonl
            root, endpoint, deployment, _collection, *folder = blob.split("/")[:-1]
            large = "/".join([root, endpoint, deployment, *folder, f"{record['id']}.jsonl"])
            record["data"] = self.manager.upload(self.deployment_id, large, payload, content_type)
            record["datainblob"] = "true"
        return self.manager.append(self.deployment_id, blob, [record])

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
        if collection not in PAYLOAD_COLLECTIONS:
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
        text = json.dumps(pending.rows, separators=(",", ":")).encode("utf-8")
        size = len(text)
        record = {
            **pending.record,
            "data": pending.rows,
            "contentrange": f"bytes 0-{max(size - 1, 0)}/{size}",
        }
        try:
            self._store(pending.blob, record, text)
        except Exception as exc:  # a batch the storage refused is lost (a timer thread: say it here)
            self.manager.lost(self.deployment_id, exc)
