"""A job's event log: one row per state change or notable fact, oldest first.

Event ids grow in commit order on both backends (see
:func:`~printprep.service.store.engine.insert_event`), so a reader that remembers the last
id it saw (``after_id``) misses nothing.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from printprep.service.store.engine import insert_event
from printprep.service.store.models import JobEvent, JobNotFoundError, event_from_row
from printprep.service.store.schema import events_table, jobs_table


class EventsMixin:
    """Reading and adding job events."""

    engine: sa.Engine

    def add_event(self, job_id: str, message: str, data: dict[str, Any] | None = None) -> None:
        """Log an event in the job's current state (no state change)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(jobs_table.c.state).where(jobs_table.c.id == job_id)
            ).first()
            if row is None:
                raise JobNotFoundError("no such job", where=f"job {job_id}")
            insert_event(conn, job_id, time.time(), row[0], message, data)

    def events(self, job_id: str, *, after_id: int = 0, limit: int = 1000) -> list[JobEvent]:
        """The job's event log, oldest first (``after_id``: only newer events)."""
        q = (
            sa.select(events_table)
            .where(events_table.c.job_id == job_id, events_table.c.id > after_id)
            .order_by(events_table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [event_from_row(r) for r in conn.execute(q)]

    def recent_events(self, *, after_id: int = 0, limit: int = 200) -> list[JobEvent]:
        """Events of every job, oldest first, newer than ``after_id`` (for live feeds)."""
        q = (
            sa.select(events_table)
            .where(events_table.c.id > after_id)
            .order_by(events_table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [event_from_row(r) for r in conn.execute(q)]

    def last_event_id(self) -> int:
        """The newest event's id (0 when there is none): where a live feed starts."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(events_table.c.id))).scalar() or 0)
