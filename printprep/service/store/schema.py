"""The job store's tables and the names of job states, sources and settable fields.

Portable SQLAlchemy Core types only: times are UTC epoch seconds in ``Float`` (double
precision on PostgreSQL), JSON is ``Text``, there are no booleans and no enums, so the same
rows mean the same thing on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

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
    #: Where the job came from (watch folder: relative path, size, mtime); any length.
    sa.Column("source_key", sa.Text),
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
LIST_COLUMNS = [c for c in jobs_table.c if c.name != "report"]

#: Bounded text columns: a longer value is refused by name on every backend (PostgreSQL
#: enforces the length, SQLite would silently keep it).
STRING_LIMITS = {
    c.name: c.type.length
    for c in jobs_table.c
    if isinstance(c.type, sa.String) and c.type.length is not None
}
