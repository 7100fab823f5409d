"""The durable job store: jobs, their event log and API tokens, through SQLAlchemy Core.

SQLite in WAL mode by default (one file in the data folder, safe for the server and any
number of worker processes on one machine); a PostgreSQL ``database_url`` works the same
way, for workers on several hosts sharing one database and data folder. Every state
change is one conditional ``UPDATE`` plus its event row, in one transaction, so two
processes can never both win a job, and a crash at any point leaves either the old state
or the new one.

A job's files live in ``<data_dir>/jobs/<id>/``: the original upload (untouched) and one
artifact per stage (repaired mesh, prepared meshes, archive, report, preview).

Modules: :mod:`.schema` (tables, state names), :mod:`.models` (Job, JobEvent, errors),
:mod:`.engine` (URLs, backends, schema creation), :mod:`.jobs`, :mod:`.events`,
:mod:`.claims` (transitions, worker claims), :mod:`.tokens`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from printprep.service.store.claims import ClaimsMixin
from printprep.service.store.engine import open_engine, parse_database_url
from printprep.service.store.events import EventsMixin
from printprep.service.store.jobs import JobsMixin
from printprep.service.store.models import (
    Job,
    JobEvent,
    JobNotFoundError,
    JobStateError,
    hash_token,
    new_job_id,
)
from printprep.service.store.schema import (
    FINAL_STATES,
    MUTABLE_FIELDS,
    SOURCES,
    STATES,
    WORKING_STATES,
    events_table,
    jobs_table,
    metadata,
    tokens_table,
)
from printprep.service.store.tokens import TokensMixin

__all__ = [
    "FINAL_STATES",
    "MUTABLE_FIELDS",
    "SOURCES",
    "STATES",
    "WORKING_STATES",
    "Job",
    "JobEvent",
    "JobNotFoundError",
    "JobStateError",
    "Store",
    "events_table",
    "hash_token",
    "jobs_table",
    "metadata",
    "new_job_id",
    "parse_database_url",
    "tokens_table",
]


class Store(JobsMixin, EventsMixin, ClaimsMixin, TokensMixin):
    """Jobs, events and tokens in one database; safe to use from threads and processes.

    ``Store(database_url, data_dir)`` opens the database and creates (or updates) the
    schema; :class:`~printprep.errors.PrintprepError` names the URL (password hidden) and
    the problem when it cannot: unknown scheme, missing driver, server unreachable. For
    SQLite the file is put in WAL mode with a 30 s busy timeout and ``synchronous=FULL``,
    so a job once acknowledged survives a power cut as well as a SIGKILL.
    """

    def __init__(self, database_url: str, data_dir: str | Path) -> None:
        self.database_url = database_url
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.engine = open_engine(database_url)

    @classmethod
    def from_settings(cls, settings: Any) -> Store:
        """Open the store a :class:`~printprep.service.config.Settings` names."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url, settings.data_dir)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
