"""Small per-printer records the dispatcher must not forget across a restart.

A :class:`JsonLedger` is one JSON file in the data folder, ``{printer name: entry}``,
rewritten atomically (temporary file, then rename) on every change. Each entry is a
table with at least ``job_ids`` (the jobs it concerns) and ``since`` (epoch s). The
plates waiting to be cleared (:mod:`.plates`) and the cancels waiting for an unreachable
printer (:mod:`.cancels`) are kept this way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("printprep.dispatch")


class JsonLedger:
    """Printer name -> entry, kept in ``path`` (None: in memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("job_ids"), list) for v in data.values()
            ):
                raise ValueError("not a table of printer name -> {job_ids, since, ...}")
        except (OSError, ValueError) as exc:
            # Keep the unreadable file for a person; the log says loudly what is forgotten.
            bad = self.path.with_name(self.path.name + ".unreadable")
            log.error("%s: unreadable (%s); kept as %s and started empty", self.path, exc, bad)
            os.replace(self.path, bad)
            return {}
        return data

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._entries, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(name)
            return dict(entry) if entry else None

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def put(self, name: str, job_ids: list[str], **fields: Any) -> None:
        with self._lock:
            self._entries[name] = {**fields, "job_ids": list(job_ids), "since": time.time()}
            self._write()

    def pop(self, name: str) -> dict[str, Any] | None:
        """Forget the entry of ``name``; returns it (None if there was none)."""
        with self._lock:
            entry = self._entries.pop(name, None)
            if entry is not None:
                self._write()
            return entry


def data_file(config: Any, file_name: str) -> Path | None:
    """``<data_dir>/<file_name>`` of the service config (object or mapping), if it has one."""
    data_dir = getattr(config, "data_dir", None)
    if data_dir is None and isinstance(config, Mapping):
        data_dir = config.get("data_dir")
    return None if data_dir is None else Path(data_dir) / file_name
