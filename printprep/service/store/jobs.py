"""Jobs in the store: create, read, list with filters and pages, set fields and progress.

:class:`JobsMixin` is one part of :class:`~printprep.service.store.Store`; state changes
and worker claims are in :mod:`.claims`, the event log in :mod:`.events`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from printprep.errors import PrintprepError
from printprep.service.store.engine import insert_event
from printprep.service.store.models import (
    Job,
    JobNotFoundError,
    encode_value,
    job_from_row,
    new_job_id,
)
from printprep.service.store.schema import (
    LIST_COLUMNS,
    MUTABLE_FIELDS,
    SOURCES,
    STATES,
    STRING_LIMITS,
    jobs_table,
)


def check_lengths(job_id: str, values: dict[str, Any]) -> None:
    """Refuse a text longer than its column (PostgreSQL would refuse it less clearly;
    SQLite would keep it, so both backends behave the same)."""
    for key, value in values.items():
        limit = STRING_LIMITS.get(key)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise PrintprepError(
                f"{key} is {len(value)} characters long; at most {limit} are kept",
                where=f"job {job_id}",
            )


class JobsMixin:
    """Job rows: everything but state transitions and claims."""

    engine: sa.Engine
    jobs_dir: Path

    def job_folder(self, job_id: str) -> Path:
        """``<data_dir>/jobs/<id>``: the job's upload and artifacts."""
        return self.jobs_dir / job_id

    def _row_to_job(self, row: Any) -> Job:
        return job_from_row(row, self.job_folder(row._mapping["id"]))

    def create_job(
        self,
        *,
        name: str,
        source: str,
        profile: str,
        submitter: str | None = None,
        material: str | None = None,
        alloy: str | None = None,
        options: dict[str, Any] | None = None,
        notes: str | None = None,
        order_ref: str | None = None,
        priority: int = 0,
        original: str | None = None,
        source_key: str | None = None,
        job_id: str | None = None,
        state: str = "received",
        error: str | None = None,
        message: str | None = None,
    ) -> Job:
        """Insert a job and its first event in one transaction; return it."""
        if source not in SOURCES:
            raise PrintprepError(f"unknown job source {source!r}; known: {', '.join(SOURCES)}")
        if state not in STATES:
            raise PrintprepError(f"unknown job state {state!r}")
        job_id = job_id or new_job_id()
        check_lengths(job_id, {"id": job_id, "name": name, "submitter": submitter,
                               "profile": profile, "material": material, "alloy": alloy,
                               "order_ref": order_ref, "original": original})
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                jobs_table.insert().values(
                    id=job_id,
                    name=name,
                    source=source,
                    submitter=submitter,
                    profile=profile,
                    material=material,
                    alloy=alloy,
                    options=json.dumps(options or {}),
                    notes=notes,
                    order_ref=order_ref,
                    priority=priority,
                    state=state,
                    progress_pct=0.0,
                    error=error,
                    original=original,
                    attempts=0,
                    source_key=source_key,
                    created_at=now,
                    updated_at=now,
                )
            )
            insert_event(
                conn, job_id, now, state,
                message or f"received from {source}" + (f" by {submitter}" if submitter else ""),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        """The job with this id; :class:`JobNotFoundError` if there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs_table).where(jobs_table.c.id == job_id)
            ).first()
        if row is None:
            raise JobNotFoundError("no such job", where=f"job {job_id}")
        return self._row_to_job(row)

    def existing_ids(self, job_ids: Iterable[str]) -> set[str]:
        """Which of ``job_ids`` have a job row (asked 500 at a time)."""
        ids = list(job_ids)
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                q = sa.select(jobs_table.c.id).where(jobs_table.c.id.in_(chunk))
                found.update(r[0] for r in conn.execute(q))
        return found

    def find_by_source_key(self, source_key: str) -> Job | None:
        """The (first) job made from ``source_key``, e.g. one watch-folder file; or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs_table).where(jobs_table.c.source_key == source_key).limit(1)
            ).first()
        return None if row is None else self._row_to_job(row)

    @staticmethod
    def _state_filter(state: str | Iterable[str] | None) -> Any:
        if state is None:
            return None
        states = [state] if isinstance(state, str) else list(state)
        bad = [s for s in states if s not in STATES]
        if bad:
            raise PrintprepError(
                f"unknown job state(s) {', '.join(bad)}; known: {', '.join(STATES)}"
            )
        return jobs_table.c.state.in_(states)

    @classmethod
    def _filters(
        cls, state: str | Iterable[str] | None, profile: str | None, printer: str | None
    ) -> list[Any]:
        conds = []
        cond = cls._state_filter(state)
        if cond is not None:
            conds.append(cond)
        if profile is not None:
            conds.append(jobs_table.c.profile == profile)
        if printer is not None:
            conds.append(jobs_table.c.printer == printer)
        return conds

    def list_jobs(
        self, state: str | Iterable[str] | None = None, limit: int = 50, offset: int = 0,
        *, profile: str | None = None, printer: str | None = None,
    ) -> list[Job]:
        """Jobs newest first, optionally only those in ``state`` (one name or several),
        on ``profile`` and/or sent to ``printer`` (exact names).

        Listed jobs carry no ``report`` (None); :meth:`get` reads it.
        """
        q = sa.select(*LIST_COLUMNS).order_by(
            jobs_table.c.created_at.desc(), jobs_table.c.id.desc()
        )
        for cond in self._filters(state, profile, printer):
            q = q.where(cond)
        q = q.limit(max(0, int(limit))).offset(max(0, int(offset)))
        with self.engine.connect() as conn:
            return [self._row_to_job(r) for r in conn.execute(q)]

    def count_jobs(
        self, state: str | Iterable[str] | None = None, *, profile: str | None = None,
        printer: str | None = None,
    ) -> int:
        """How many jobs :meth:`list_jobs` with the same filters would page through."""
        q = sa.select(sa.func.count()).select_from(jobs_table)
        for cond in self._filters(state, profile, printer):
            q = q.where(cond)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def count_by_state(self) -> dict[str, int]:
        """{state: number of jobs} for the states that have any."""
        q = sa.select(jobs_table.c.state, sa.func.count()).group_by(jobs_table.c.state)
        with self.engine.connect() as conn:
            return {s: int(n) for s, n in conn.execute(q)}

    def queued_jobs(self, profile: str | None = None) -> list[Job]:
        """Jobs in ``queued``: highest priority first, then oldest first (no report)."""
        q = (
            sa.select(*LIST_COLUMNS)
            .where(jobs_table.c.state == "queued")
            .order_by(jobs_table.c.priority.desc(), jobs_table.c.created_at, jobs_table.c.id)
        )
        if profile is not None:
            q = q.where(jobs_table.c.profile == profile)
        with self.engine.connect() as conn:
            return [self._row_to_job(r) for r in conn.execute(q)]

    def update_fields(
        self, job_id: str, *, expect: str | Iterable[str] | None = None, **fields: Any
    ) -> bool:
        """Set fields without a state change or event; False if ``expect`` did not hold."""
        bad = sorted(set(fields) - set(MUTABLE_FIELDS))
        if bad:
            raise PrintprepError(f"cannot set job field(s) {', '.join(bad)}", where=f"job {job_id}")
        stmt = jobs_table.update().where(jobs_table.c.id == job_id)
        if expect is not None:
            expected = [expect] if isinstance(expect, str) else list(expect)
            stmt = stmt.where(jobs_table.c.state.in_(expected))
        check_lengths(job_id, fields)
        values = {k: encode_value(k, v) for k, v in fields.items()}
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(updated_at=time.time(), **values)).rowcount > 0

    def set_progress(self, job_id: str, progress_pct: float, detail: str | None = None) -> None:
        """Record progress (0-100) and an optional one-line detail; no event is logged."""
        values: dict[str, Any] = {"progress_pct": float(max(0.0, min(100.0, progress_pct)))}
        if detail is not None:
            values["stage_detail"] = detail
        with self.engine.begin() as conn:
            conn.execute(
                jobs_table.update().where(jobs_table.c.id == job_id).values(
                    updated_at=time.time(), **values
                )
            )

