"""ARM resources the emulator holds, keyed by resource ID (case-insensitive, as ARM treats them).

Persisted as one JSON file in the data directory, rewritten atomically on every change so a restart
finds the same workspaces, services and deployments.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from pathlib import Path
from typing import Any

RESOURCES_FILE = "resources.json"
# Bodies mention the emulator's own address (discovery URL, ingestion endpoint, scoring URIs); after a
# restart on another port they are answered with the current one.
_OWN_ADDRESS = re.compile(r"https://(?:127\.0\.0\.1|\[::1\]|localhost):\d+")


def normalize_id(resource_id: str) -> str:
    return "/" + resource_id.strip("/").lower()


def at_address(body: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """A deep copy of a stored body, with the emulator's address as it is now."""
    if not endpoint:
        return copy.deepcopy(body)
    return dict(json.loads(_OWN_ADDRESS.sub(endpoint, json.dumps(body))))


class ResourceStore:
    def __init__(self, data_dir: Path, endpoint: str = "") -> None:
        self.endpoint = endpoint
        self._path = data_dir / RESOURCES_FILE
        self._lock = threading.RLock()
        self._items: dict[str, dict[str, Any]] = {}
        if self._path.exists():
            self._items = json.loads(self._path.read_text())

    def get(self, resource_id: str) -> dict[str, Any] | None:
        """A deep copy of the stored body, or None."""
        with self._lock:
            item = self._items.get(normalize_id(resource_id))
            return self._current(item) if item is not None else None

    def put(self, resource_id: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._items[normalize_id(resource_id)] = copy.deepcopy(body)
            self._save()

    def delete(self, resource_id: str) -> bool:
        with self._lock:
            found = self._items.pop(normalize_id(resource_id), None) is not None
            if found:
                self._save()
            return found

    def list(self, prefix: str | None = None, type: str | None = None) -> list[dict[str, Any]]:
        """Bodies whose ID starts with `prefix` and whose `type` equals `type` (both case-insensitive)."""
        wanted_prefix = normalize_id(prefix) + "/" if prefix else None
        with self._lock:
            return [
                self._current(body)
                for key, body in self._items.items()
                if (wanted_prefix is None or key.startswith(wanted_prefix))
                and (type is None or str(body.get("type", "")).lower() == type.lower())
            ]

    def _current(self, body: dict[str, Any]) -> dict[str, Any]:
        return at_address(body, self.endpoint)

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._items))
        tmp.replace(self._path)
