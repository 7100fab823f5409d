"""What the job store hands out: :class:`Job` and :class:`JobEvent` (frozen dataclasses),
its two errors, and the small helpers for ids, token hashes and JSON columns."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from printprep.errors import PrintprepError


class JobNotFoundError(PrintprepError):
    """No job has this id."""


class JobStateError(PrintprepError):
    """A job is not in a state that allows the requested change."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, state: str = "") -> None:
        super().__init__(message, where=where)
        self.state = state


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC text (None stays None)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass(frozen=True)
class Job:
    """One job as stored. Times are UTC epoch seconds (``*_at``); ``folder`` is its files."""

    id: str
    name: str
    source: str
    submitter: str | None
    profile: str
    material: str | None
    alloy: str | None
    options: dict[str, Any]
    notes: str | None
    order_ref: str | None
    priority: int
    state: str
    progress_pct: float
    stage_detail: str | None
    printer: str | None
    error: str | None
    #: File name of the untouched upload inside ``folder``.
    original: str | None
    #: File name of the archive (or G-code) to print inside ``folder``, set after slicing.
    archive: str | None
    report: dict[str, Any] | None
    attempts: int
    claimed_by: str | None
    heartbeat_at: float | None
    source_key: str | None
    created_at: float
    updated_at: float
    folder: Path = field(compare=False)

    @property
    def archive_path(self) -> Path | None:
        return self.folder / self.archive if self.archive else None

    @property
    def original_path(self) -> Path | None:
        return self.folder / self.original if self.original else None

    def artifacts(self) -> list[str]:
        """Names of the files in the job's folder (sorted; work folders excluded)."""
        if not self.folder.is_dir():
            return []
        return sorted(
            p.name for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")
        )

    def to_dict(self) -> dict[str, Any]:
        """The job as the API shows it (no internal claim fields)."""
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "submitter": self.submitter,
            "profile": self.profile,
            "material": self.material,
            "alloy": self.alloy,
            "options": self.options,
            "notes": self.notes,
            "order_ref": self.order_ref,
            "priority": self.priority,
            "state": self.state,
            "progress_pct": self.progress_pct,
            "stage_detail": self.stage_detail,
            "printer": self.printer,
            "error": self.error,
            "original": self.original,
            "archive": self.archive,
            "attempts": self.attempts,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class JobEvent:
    """One line of a job's event log: the state it was in, what happened, facts (``data``)."""

    id: int
    job_id: str
    at: float
    state: str
    message: str
    data: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": iso(self.at),
            "state": self.state,
            "message": self.message,
            "data": self.data,
        }


def new_job_id() -> str:
    """A fresh job id: 16 hex digits, safe in file names and URLs."""
    return uuid.uuid4().hex[:16]


def hash_token(token: str) -> str:
    """SHA-256 hex of a token (tokens are 256-bit random, so a fast hash is enough)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def encode_value(name: str, value: Any) -> Any:
    """A field's value as stored: ``options`` and ``report`` as JSON text."""
    if name in ("options", "report"):
        return None if value is None else json.dumps(value, default=str)
    return value


def job_from_row(row: Any, folder: Path) -> Job:
    """A :class:`Job` from a ``jobs`` row (all columns; ``report`` may be left out)."""
    m = row._mapping
    return Job(
        id=m["id"],
        name=m["name"],
        source=m["source"],
        submitter=m["submitter"],
        profile=m["profile"],
        material=m["material"],
        alloy=m["alloy"],
        options=json.loads(m["options"] or "{}"),
        notes=m["notes"],
        order_ref=m["order_ref"],
        priority=m["priority"],
        state=m["state"],
        progress_pct=float(m["progress_pct"] or 0.0),
        stage_detail=m["stage_detail"],
        printer=m["printer"],
        error=m["error"],
        original=m["original"],
        archive=m["archive"],
        report=json.loads(m["report"]) if m.get("report") else None,
        attempts=m["attempts"],
        claimed_by=m["claimed_by"],
        heartbeat_at=m["heartbeat_at"],
        source_key=m["source_key"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        folder=folder,
    )


def event_from_row(row: Any) -> JobEvent:
    """A :class:`JobEvent` from a ``job_events`` row."""
    return JobEvent(
        id=row.id,
        job_id=row.job_id,
        at=row.at,
        state=row.state,
        message=row.message,
        data=json.loads(row.data) if row.data else None,
    )
