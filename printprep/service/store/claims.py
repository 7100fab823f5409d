"""State changes and worker claims: every change is one conditional ``UPDATE`` plus its
event row in one transaction, so two processes can never both win, and a crash at any
point leaves either the old state or the new one.

Claiming is one statement on both backends: ``UPDATE jobs ... WHERE id = (SELECT id ...
WHERE state = 'received' ... LIMIT 1 [FOR UPDATE SKIP LOCKED]) RETURNING id, attempts``.
SQLite runs one writer at a time, so the statement is atomic as it stands; PostgreSQL
locks the chosen row and lets competing workers skip past it to the next job instead of
waiting, and re-checks the state under the lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from printprep.errors import PrintprepError
from printprep.service.store.engine import insert_event
from printprep.service.store.jobs import check_lengths
from printprep.service.store.models import Job, JobNotFoundError, JobStateError, encode_value
from printprep.service.store.schema import MUTABLE_FIELDS, STATES, WORKING_STATES, jobs_table


class ClaimsMixin:
    """Transitions, claims, heartbeats and taking back a dead worker's job."""

    engine: sa.Engine
    get: Callable[[str], Job]  # from JobsMixin

    def transition(
        self,
        job_id: str,
        to_state: str,
        message: str,
        *,
        expect: str | Iterable[str] | None = None,
        owner: str | None = None,
        data: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Job:
        """Move a job to ``to_state`` and log ``message``, in one transaction.

        ``expect``: the state(s) the job must be in now, else :class:`JobStateError`
        (nothing changes). ``fields`` may also set any of :data:`MUTABLE_FIELDS`
        (``printer``, ``progress_pct``, ``error``, ``archive``, ...); other keyword
        arguments (``elapsed_s=...``) are facts about the step and go into the event's
        ``data``. The job's ``state`` and ``id`` cannot be set this way. ``owner``: the
        worker id that must hold the job's claim (a worker whose job was taken back
        cannot move it any more).
        """
        if to_state not in STATES:
            raise PrintprepError(f"unknown job state {to_state!r}", where=f"job {job_id}")
        bad = sorted({"state", "id", "created_at", "updated_at"} & set(fields))
        if bad:
            raise PrintprepError(f"cannot set job field(s) {', '.join(bad)}", where=f"job {job_id}")
        extra = {k: fields.pop(k) for k in list(fields) if k not in MUTABLE_FIELDS}
        if extra:
            data = {**extra, **(data or {})}
        expected = [expect] if isinstance(expect, str) else (list(expect) if expect else None)
        check_lengths(job_id, fields)
        now = time.time()
        values = {k: encode_value(k, v) for k, v in fields.items()}
        stmt = jobs_table.update().where(jobs_table.c.id == job_id)
        if expected is not None:
            stmt = stmt.where(jobs_table.c.state.in_(expected))
        if owner is not None:
            stmt = stmt.where(jobs_table.c.claimed_by == owner)
        with self.engine.begin() as conn:
            result = conn.execute(stmt.values(state=to_state, updated_at=now, **values))
            if result.rowcount == 0:
                row = conn.execute(
                    sa.select(jobs_table.c.state, jobs_table.c.claimed_by).where(
                        jobs_table.c.id == job_id
                    )
                ).first()
                if row is None:
                    raise JobNotFoundError("no such job", where=f"job {job_id}")
                if owner is not None and row[1] != owner:
                    raise JobStateError(
                        f"is no longer claimed by worker {owner} (now: {row[1] or 'nobody'})",
                        where=f"job {job_id}",
                        state=row[0],
                    )
                raise JobStateError(
                    f"is {row[0]}, cannot go to {to_state} (allowed from: "
                    f"{', '.join(expected or [])})",
                    where=f"job {job_id}",
                    state=row[0],
                )
            insert_event(conn, job_id, now, to_state, message, data)
        return self.get(job_id)

    def claim_next(self, worker_id: str) -> Job | None:
        """Atomically take the next ``received`` job for ``worker_id`` (highest priority,
        then oldest): it becomes ``checking``, attempts + 1. None when there is none.

        However many workers race, each job goes to exactly one of them.
        """
        pick = (
            sa.select(jobs_table.c.id)
            .where(jobs_table.c.state == "received", jobs_table.c.claimed_by.is_(None))
            .order_by(jobs_table.c.priority.desc(), jobs_table.c.created_at, jobs_table.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has no row locks
            .scalar_subquery()
        )
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(
                jobs_table.update()
                .where(
                    jobs_table.c.id == pick,
                    jobs_table.c.state == "received",
                    jobs_table.c.claimed_by.is_(None),
                )
                .values(
                    state="checking",
                    claimed_by=worker_id,
                    heartbeat_at=now,
                    attempts=jobs_table.c.attempts + 1,
                    progress_pct=0.0,
                    updated_at=now,
                )
                .returning(jobs_table.c.id, jobs_table.c.attempts)
            ).first()
            if row is None:
                return None
            job_id, attempts = row
            insert_event(
                conn, job_id, now, "checking",
                f"claimed by worker {worker_id} (attempt {attempts})",
            )
        return self.get(job_id)

    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        """Refresh a claim; False if the job is no longer this worker's (cancelled, taken)."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    jobs_table.update()
                    .where(
                        jobs_table.c.id == job_id,
                        jobs_table.c.claimed_by == worker_id,
                        jobs_table.c.state.in_(WORKING_STATES),
                    )
                    .values(heartbeat_at=time.time())
                ).rowcount
                > 0
            )

    def reclaim_stale(
        self,
        *,
        stale_after_s: float,
        max_attempts: int,
        is_dead: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Take back jobs whose worker died: stale heartbeat, or ``is_dead(claimed_by)``.

        Each goes back to ``received`` for another worker, or to ``failed`` once it has
        used ``max_attempts`` claims. Returns the ids handled.
        """
        now = time.time()
        q = sa.select(
            jobs_table.c.id,
            jobs_table.c.state,
            jobs_table.c.claimed_by,
            jobs_table.c.heartbeat_at,
            jobs_table.c.attempts,
        ).where(jobs_table.c.state.in_(WORKING_STATES))
        with self.engine.connect() as conn:
            rows = list(conn.execute(q))
        handled = []
        for job_id, state, claimed_by, heartbeat_at, attempts in rows:
            stale = heartbeat_at is None or now - heartbeat_at > stale_after_s
            dead = claimed_by is None or stale or (is_dead is not None and is_dead(claimed_by))
            if not dead:
                continue
            why = f"worker {claimed_by} stopped while the job was {state}"
            if attempts >= max_attempts:
                to_state, error = "failed", f"{why}; gave up after {attempts} attempt(s)"
                message = error
            else:
                to_state, error = "received", None
                message = f"{why}; queued for another attempt ({attempts}/{max_attempts} used)"
            cond = sa.and_(
                jobs_table.c.id == job_id,
                jobs_table.c.state == state,
                (jobs_table.c.claimed_by == claimed_by)
                if claimed_by is not None
                else jobs_table.c.claimed_by.is_(None),
                (jobs_table.c.heartbeat_at == heartbeat_at)
                if heartbeat_at is not None
                else jobs_table.c.heartbeat_at.is_(None),
            )
            with self.engine.begin() as conn:
                n = conn.execute(
                    jobs_table.update()
                    .where(cond)
                    .values(
                        state=to_state,
                        claimed_by=None,
                        heartbeat_at=None,
                        error=error,
                        updated_at=now,
                    )
                ).rowcount
                if n:
                    insert_event(conn, job_id, now, to_state, message)
            if n:
                handled.append(job_id)
        return handled
