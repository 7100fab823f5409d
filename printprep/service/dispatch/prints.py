"""What the dispatcher tracks per print, and how it reads jobs: archive path, queue order."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ActivePrint:
    """A print the dispatcher started, followed until it ends: one job, or a plate of
    several (``job_ids``; the first one's id is what the printer reports)."""

    job_id: str
    printer: str
    started: float = field(default_factory=time.time)
    progress_pct: float = 0.0
    last_state: str = "printing"
    offline_since: float | None = None
    recovered: bool = False  # picked up after a service restart
    job_ids: list[str] = field(default_factory=list)
    sending: bool = False  # the file is being built or uploaded (its own thread)
    send_error: str | None = None
    #: (job_id, message, data) to log once the print has started
    announce: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.job_ids:
            self.job_ids = [self.job_id]


def attr(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute (or mapping key) of ``names`` on ``obj``."""
    for n in names:
        if isinstance(obj, Mapping) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def job_archive_path(job: Any) -> Path | None:
    """The sliced file of a job: the archive artifact inside the job's folder."""
    folder = attr(job, "folder", "job_dir", "dir", "path")
    name = attr(job, "archive", "archive_name", "artifact", "archive_path")
    if name is None:
        return None
    p = Path(name)
    if not p.is_absolute() and folder is not None:
        p = Path(folder) / p
    return p


def queue_order(job: Any) -> tuple[float, float]:
    """Highest priority first, then the oldest."""
    prio = float(attr(job, "priority", default=0) or 0)
    created = attr(job, "created_at", "created", "received_at", default=0.0)
    if hasattr(created, "timestamp"):
        created = created.timestamp()
    return (-prio, float(created or 0.0))
