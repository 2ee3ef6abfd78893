"""v2 data collector: payloads kept in a blob of their own, and the payload-logging collections.

What the sources say (azure-ai-docs how-to-collect-production-data.md):
- "Store large payloads": a payload over 4 MB is not in the record; "there will be an event in the
  {instance_id}.jsonl file … that points to a raw file path", `blob_url/{container}/{blob_path}/{ep}/{dep}/
  {rolled_time}/{instance_id}.jsonl`, where "the collected data will exist". The doc does NOT show that
  pointing record's fields.
- "Store binary data": the record's `data` is the raw file's URL and `datainblob` is "true" (an example
  record with `datacontenttype` "text/plain").
- "Perform payload logging": collections `request` (records with `path`, `method`) and `response`, the
  HTTP bodies, both with the request's `correlationid` / `xrequestid`.

How amlmon reads them, resting only on those fields:
- a record whose `datainblob` is "true" and whose `data` is a URL holds its payload in that blob. When the
  payload is JSON (`datacontenttype` application/json or +json) and the blob is in the container being
  read, the blob is read and its JSON becomes `data` (a large payload: the pointer is followed). Anything
  else — a binary payload, another account or container, a blob that is gone or not JSON — keeps the URL
  as `data`, counted. amlmon assumes the large-payload event points the way the binary example does
  (`data` = URL, `datainblob` "true"); that assumption is the emulator's too (amlmon/emulator/collector.py).
- payload records are one row each (a response body that is a JSON array stays one value), keyed by
  `correlationid`, so a request row joins its response row on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from amlmon.schema import COLLECTOR_RECORD

REQUEST = "request"
RESPONSE = "response"
PAYLOADS = (REQUEST, RESPONSE)


def in_blob(record: dict[str, Any]) -> bool:
    """Whether the record's payload is in a blob its `data` names (`datainblob` "true")."""
    return str(record.get("datainblob")).lower() == "true" and isinstance(
        record.get(COLLECTOR_RECORD.data), str
    )


def is_json(content_type: Any) -> bool:
    kind = str(content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def blob_in(url: str, account: str, container: str) -> str | None:
    """The blob name a payload URL names in `account`/`container`, else None. Host-style URLs
    (https://{account}.blob.{suffix}/{container}/{blob}) as the collector writes them."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    segments = parts.path.lstrip("/").split("/", 1)
    if len(segments) != 2 or host.split(".", 1)[0] != account.lower():
        return None
    if unquote(segments[0]).lower() != container.lower() or not segments[1]:
        return None
    return unquote(segments[1])


def resolved(container: Any, record: dict[str, Any], stats: Any) -> dict[str, Any]:
    """The record with a JSON payload kept in a blob of `container` (azure ContainerClient) read into
    `data`; any other payload in a blob keeps its URL (see the module docstring)."""
    if not in_blob(record):
        return record
    name = blob_in(str(record["data"]), str(container.account_name), str(container.container_name))
    payload = (
        _read_json(container, name) if name is not None and is_json(record.get("datacontenttype")) else None
    )
    if payload is None:
        stats.payloads_in_blobs += 1
        return record
    stats.pointers_followed += 1
    return {**record, "data": payload[0]}


def _read_json(container: Any, name: str) -> tuple[Any] | None:
    """(the blob's JSON,) or None when it is gone or not JSON (the caller keeps the URL)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        content = container.get_blob_client(name).download_blob(max_concurrency=1).readall()
        return (json.loads(content),)
    except (ResourceNotFoundError, ValueError):
        return None


def payload_rows(record: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """One row per payload record: (`correlationid`, the body)."""
    yield (
        str(record.get(COLLECTOR_RECORD.correlation_id) or record.get(COLLECTOR_RECORD.id) or ""),
        record.get(COLLECTOR_RECORD.data),
    )
