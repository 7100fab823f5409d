"""The durable job store: jobs, their event log and API tokens, through SQLAlchemy Core.

SQLite in WAL mode by default (one file in the data folder, safe for the server and any
number of worker processes on one machine); a PostgreSQL ``database_url`` works the same
way, for workers on several hosts sharing one database and data folder. Only portable
SQL is used: every state change is one conditional ``UPDATE`` plus its event row, in one
transaction, so two processes can never both win a job, and a crash at any point leaves
either the old state or the new one.

A job's files live in ``<data_dir>/jobs/<id>/``: the original upload (untouched) and one
artifact per stage (repaired mesh, prepared meshes, archive, report, preview).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from printprep.errors import PrintprepError

STATES = (
    "received",
    "checking",
    "repairing",
    "preparing",
    "slicing",
    "queued",
    "printing",
    "done",
    "failed",
    "cancelled",
    "needs_attention",
)
#: States a pipeline worker owns while it runs (a dead worker's job is taken back).
WORKING_STATES = ("checking", "repairing", "preparing", "slicing")
#: States no automatic step leaves.
FINAL_STATES = ("done", "failed", "cancelled")
SOURCES = ("upload", "watch", "api", "cli")
#: Columns ``transition(**fields)`` and ``update_fields`` may set.
MUTABLE_FIELDS = (
    "printer",
    "progress_pct",
    "error",
    "archive",
    "report",
    "stage_detail",
    "claimed_by",
    "heartbeat_at",
    "attempts",
    "original",
    "options",
    "name",
    "priority",
)


class JobNotFoundError(PrintprepError):
    """No job has this id."""


class JobStateError(PrintprepError):
    """A job is not in a state that allows the requested change."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, state: str = "") -> None:
        super().__init__(message, where=where)
        self.state = state


metadata = sa.MetaData()

jobs_table = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("submitter", sa.String(200)),
    sa.Column("profile", sa.String(100), nullable=False),
    sa.Column("material", sa.String(100)),
    sa.Column("alloy", sa.String(100)),
    sa.Column("options", sa.Text, nullable=False, default="{}"),
    sa.Column("notes", sa.Text),
    #: The customer's order or bag number the job belongs to (free text).
    sa.Column("order_ref", sa.String(200)),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("progress_pct", sa.Float, nullable=False, default=0.0),
    sa.Column("stage_detail", sa.Text),
    sa.Column("printer", sa.String(100)),
    sa.Column("error", sa.Text),
    sa.Column("original", sa.String(200)),
    sa.Column("archive", sa.String(200)),
    sa.Column("report", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("source_key", sa.String(500)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_jobs_state_priority", "state", "priority", "created_at"),
    sa.Index("ix_jobs_created", "created_at"),
    sa.Index("ix_jobs_source_key", "source_key"),
)

events_table = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", sa.Text),
    sa.Index("ix_job_events_job", "job_id", "id"),
)

tokens_table = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_used_at", sa.Float),
)


#: Columns of job lists: all but the (large) report, which ``get`` reads.
_LIST_COLUMNS = [c for c in jobs_table.c if c.name != "report"]


def _iso(ts: float | None) -> str | None:
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
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class JobEvent:
    id: int
    job_id: str
    at: float
    state: str
    message: str
    data: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": _iso(self.at),
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


def _encode(name: str, value: Any) -> Any:
    if name in ("options", "report"):
        return None if value is None else json.dumps(value, default=str)
    return value


class Store:
    """Jobs, events and tokens in one database; safe to use from threads and processes.

    ``Store(database_url, data_dir)`` opens (and creates) the schema. For SQLite the file
    is put in WAL mode with a 30 s busy timeout and ``synchronous=FULL``, so a job once
    acknowledged survives a power cut as well as a SIGKILL.
    """

    def __init__(self, database_url: str, data_dir: str | Path) -> None:
        self.database_url = database_url
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"future": True}
        if database_url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = sa.create_engine(database_url, **kwargs)
        except Exception as exc:  # bad URL, missing driver
            raise PrintprepError(f"cannot open database: {exc}", where=database_url) from None
        if self.engine.dialect.name == "sqlite":
            sa_event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            metadata.create_all(self.engine)
            self._add_missing_columns()
        except sa.exc.SQLAlchemyError as exc:
            raise PrintprepError(
                f"cannot open database: {exc.__class__.__name__}: {exc}", where=database_url
            ) from None

    def _add_missing_columns(self) -> None:
        """Bring a database made by an older printprep up to this schema: nullable
        columns added since are added (``ALTER TABLE ... ADD COLUMN``, portable)."""
        have = {c["name"] for c in sa.inspect(self.engine).get_columns("jobs")}
        missing = [c for c in jobs_table.c if c.name not in have]
        if not missing:
            return
        with self.engine.begin() as conn:
            for col in missing:
                kind = col.type.compile(dialect=self.engine.dialect)
                conn.execute(sa.text(f"ALTER TABLE jobs ADD COLUMN {col.name} {kind}"))

    @classmethod
    def from_settings(cls, settings: Any) -> Store:
        """Open the store a :class:`~printprep.service.config.Settings` names."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url, settings.data_dir)

    def close(self) -> None:
        self.engine.dispose()

    # -- jobs ------------------------------------------------------------------------
    def job_folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def _row_to_job(self, row: Any) -> Job:
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
            folder=self.job_folder(m["id"]),
        )

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
            conn.execute(
                events_table.insert().values(
                    job_id=job_id,
                    at=now,
                    state=state,
                    message=message or f"received from {source}" + (
                        f" by {submitter}" if submitter else ""
                    ),
                )
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
        q = sa.select(*_LIST_COLUMNS).order_by(
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
        q = sa.select(jobs_table.c.state, sa.func.count()).group_by(jobs_table.c.state)
        with self.engine.connect() as conn:
            return {s: int(n) for s, n in conn.execute(q)}

    def queued_jobs(self, profile: str | None = None) -> list[Job]:
        """Jobs in ``queued``: highest priority first, then oldest first (no report)."""
        q = (
            sa.select(*_LIST_COLUMNS)
            .where(jobs_table.c.state == "queued")
            .order_by(jobs_table.c.priority.desc(), jobs_table.c.created_at, jobs_table.c.id)
        )
        if profile is not None:
            q = q.where(jobs_table.c.profile == profile)
        with self.engine.connect() as conn:
            return [self._row_to_job(r) for r in conn.execute(q)]

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
        now = time.time()
        values = {k: _encode(k, v) for k, v in fields.items()}
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
            conn.execute(
                events_table.insert().values(
                    job_id=job_id,
                    at=now,
                    state=to_state,
                    message=message,
                    data=json.dumps(data, default=str) if data is not None else None,
                )
            )
        return self.get(job_id)

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
        values = {k: _encode(k, v) for k, v in fields.items()}
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

    def add_event(self, job_id: str, message: str, data: dict[str, Any] | None = None) -> None:
        """Log an event in the job's current state (no state change)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(jobs_table.c.state).where(jobs_table.c.id == job_id)
            ).first()
            if row is None:
                raise JobNotFoundError("no such job", where=f"job {job_id}")
            conn.execute(
                events_table.insert().values(
                    job_id=job_id,
                    at=time.time(),
                    state=row[0],
                    message=message,
                    data=json.dumps(data, default=str) if data is not None else None,
                )
            )

    def events(self, job_id: str, *, after_id: int = 0, limit: int = 1000) -> list[JobEvent]:
        """The job's event log, oldest first (``after_id``: only newer events)."""
        q = (
            sa.select(events_table)
            .where(events_table.c.job_id == job_id, events_table.c.id > after_id)
            .order_by(events_table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                JobEvent(
                    id=r.id,
                    job_id=r.job_id,
                    at=r.at,
                    state=r.state,
                    message=r.message,
                    data=json.loads(r.data) if r.data else None,
                )
                for r in conn.execute(q)
            ]

    def recent_events(self, *, after_id: int = 0, limit: int = 200) -> list[JobEvent]:
        """Events of every job, oldest first, newer than ``after_id`` (for live feeds)."""
        q = (
            sa.select(events_table)
            .where(events_table.c.id > after_id)
            .order_by(events_table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                JobEvent(r.id, r.job_id, r.at, r.state, r.message,
                         json.loads(r.data) if r.data else None)
                for r in conn.execute(q)
            ]

    # -- worker claims ---------------------------------------------------------------
    def claim_next(self, worker_id: str) -> Job | None:
        """Atomically take the next ``received`` job for ``worker_id`` (it becomes
        ``checking``, attempts + 1); None when there is none.

        Two workers racing for one job: the conditional UPDATE lets exactly one win; the
        loser tries the next candidate.
        """
        q = (
            sa.select(jobs_table.c.id)
            .where(jobs_table.c.state == "received", jobs_table.c.claimed_by.is_(None))
            .order_by(jobs_table.c.priority.desc(), jobs_table.c.created_at, jobs_table.c.id)
            .limit(8)
        )
        with self.engine.connect() as conn:
            candidates = [r[0] for r in conn.execute(q)]
        for job_id in candidates:
            now = time.time()
            with self.engine.begin() as conn:
                won = conn.execute(
                    jobs_table.update()
                    .where(
                        jobs_table.c.id == job_id,
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
                ).rowcount
                if won:
                    attempts = conn.execute(
                        sa.select(jobs_table.c.attempts).where(jobs_table.c.id == job_id)
                    ).scalar_one()
                    conn.execute(
                        events_table.insert().values(
                            job_id=job_id,
                            at=now,
                            state="checking",
                            message=f"claimed by worker {worker_id} (attempt {attempts})",
                        )
                    )
            if won:
                return self.get(job_id)
        return None

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
                    conn.execute(
                        events_table.insert().values(
                            job_id=job_id, at=now, state=to_state, message=message
                        )
                    )
            if n:
                handled.append(job_id)
        return handled

    # -- tokens ----------------------------------------------------------------------
    def create_token(self, name: str) -> str:
        """Create an API token named ``name``; return it (only its hash is stored)."""
        if not name or len(name) > 200:
            raise PrintprepError("a token needs a name of 1-200 characters")
        token = "pp_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                tokens_table.insert().values(
                    name=name, token_hash=hash_token(token), created_at=time.time()
                )
            )
        return token

    def token_name(self, token: str) -> str | None:
        """The name of a valid token, else None (constant-time compare of hashes)."""
        if not token:
            return None
        digest = hash_token(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(tokens_table.c.name, tokens_table.c.token_hash).where(
                    tokens_table.c.token_hash == digest
                )
            ).first()
        if row is None or not secrets.compare_digest(row[1], digest):
            return None
        return row[0]

    def verify_token(self, token: str) -> bool:
        return self.token_name(token) is not None

    def count_tokens(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(tokens_table)).scalar_one()
            )

    def list_tokens(self) -> list[dict[str, Any]]:
        q = sa.select(tokens_table.c.id, tokens_table.c.name, tokens_table.c.created_at)
        with self.engine.connect() as conn:
            return [
                {"id": r.id, "name": r.name, "created_at": _iso(r.created_at)}
                for r in conn.execute(q.order_by(tokens_table.c.id))
            ]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
