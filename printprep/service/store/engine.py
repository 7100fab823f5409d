"""Opening the job store's database: URL checks, engine, schema, and the event insert.

Two backends, one schema:

* ``sqlite:///path`` (the default, in the data folder): WAL mode, ``synchronous=FULL``,
  a 30 s busy timeout, so the server and any number of worker processes on one machine
  share it safely.
* ``postgresql://user[:password]@host[:port]/db`` (also ``postgres://``): through psycopg 3
  (``postgresql+psycopg``), for workers on several hosts sharing one database. A
  ``postgresql+psycopg2://`` URL is kept as written.

Everything that differs between the two lives here: the schema is created under a
PostgreSQL advisory lock (several processes start at once), and event rows are numbered
in commit order on PostgreSQL (see :func:`insert_event`).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from printprep.errors import PrintprepError
from printprep.service.store.schema import events_table, jobs_table, metadata

#: SQLite waits this long for another process's write lock, s (busy timeout).
SQLITE_BUSY_S = 30.0

#: URL schemes (before any ``+driver``) the store can open.
BACKENDS = ("sqlite", "postgresql", "postgres")
#: Advisory lock keys (PostgreSQL): schema creation, event numbering.
_SCHEMA_LOCK = 0x7072_7070_0001
_EVENTS_LOCK = 0x7072_7070_0002
#: Seconds to wait for a PostgreSQL server to answer a new connection.
CONNECT_TIMEOUT_S = 10


def parse_database_url(database_url: str) -> sa.URL:
    """The SQLAlchemy URL to open for ``database_url``; PrintprepError names the problem.

    ``postgresql://`` and ``postgres://`` get the psycopg 3 driver. No connection is made.
    """
    try:
        url = sa.engine.make_url(database_url)
    except sa.exc.ArgumentError:
        raise PrintprepError(
            "is not a database URL; use sqlite:///path/to/file.db or "
            "postgresql://user:password@host:port/database",
            where=f"database_url {database_url!r}",
        ) from None
    backend, _, driver = url.drivername.partition("+")
    shown = url.render_as_string(hide_password=True)
    if backend not in BACKENDS:
        raise PrintprepError(
            f"unsupported database {backend!r}; printprep stores jobs in sqlite "
            "(sqlite:///path/to/file.db) or postgresql (postgresql://user@host/database)",
            where=f"database_url {shown}",
        )
    if backend != "sqlite":
        if not driver:
            url = url.set(drivername="postgresql+psycopg")
        if not url.database:
            raise PrintprepError(
                "names no database; add it after the host: postgresql://user@host/database",
                where=f"database_url {shown}",
            )
    elif not url.database or url.database == ":memory:":
        raise PrintprepError(
            "needs a file (sqlite:///path/to/file.db): an in-memory database is not shared "
            "with the worker processes and is lost on restart",
            where=f"database_url {shown}",
        )
    return url


def _describe(exc: BaseException) -> str:
    """The first line of the driver's message (no SQLAlchemy boilerplate)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else orig.__class__.__name__


def _shown(database_url: str) -> str:
    """``database_url <url>`` as the user wrote it, password hidden (for messages)."""
    try:
        return "database_url " + sa.engine.make_url(database_url).render_as_string(
            hide_password=True)
    except sa.exc.ArgumentError:
        return f"database_url {database_url!r}"


def _engine_kwargs(url: sa.URL) -> dict[str, Any]:
    if url.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_S, "check_same_thread": False}}
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if "connect_timeout" not in url.query:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return kwargs


def probe_database(database_url: str) -> None:
    """Connect once and run ``SELECT 1``; PrintprepError saying why when that fails
    (server down, wrong host or port, unknown database or user, refused password)."""
    url = parse_database_url(database_url)
    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **{
            k: v for k, v in _engine_kwargs(url).items() if k != "pool_pre_ping"})
    except ImportError as exc:
        raise _driver_missing(exc, database_url) from None
    try:
        with engine.connect() as conn:
            conn.execute(sa.select(1))
    except sa.exc.SQLAlchemyError as exc:
        raise PrintprepError(f"cannot connect to the database: {_describe(exc)}",
                             where=_shown(database_url)) from None
    finally:
        engine.dispose()


def _driver_missing(exc: ImportError, database_url: str) -> PrintprepError:
    return PrintprepError(
        f"the database driver is not installed ({exc.name or exc}); for PostgreSQL "
        "install psycopg: pip install 'psycopg[binary]'",
        where=_shown(database_url),
    )


def open_engine(database_url: str) -> sa.Engine:
    """An engine with the schema in place; PrintprepError (naming the URL, password
    hidden) when the database cannot be reached or opened."""
    url = parse_database_url(database_url)
    shown = _shown(database_url)
    try:
        engine = sa.create_engine(url, **_engine_kwargs(url))
    except ImportError as exc:
        raise _driver_missing(exc, database_url) from None
    except Exception as exc:  # bad URL arguments
        raise PrintprepError(f"cannot open the database: {exc}", where=shown) from None
    if engine.dialect.name == "sqlite":
        sa_event.listen(engine, "connect", _sqlite_pragmas)
    try:
        _create_schema(engine)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise PrintprepError(f"cannot connect to the database: {_describe(exc)}",
                             where=shown) from None
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise PrintprepError(
            f"cannot open the database: {exc.__class__.__name__}: {_describe(exc)}", where=shown
        ) from None
    return engine


def _create_schema(engine: sa.Engine) -> None:
    """Create missing tables and add columns newer than the database (several processes
    may do this at once: PostgreSQL serializes them with an advisory lock, SQLite retries
    the loser of a create race)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
            metadata.create_all(conn)
            _add_missing_columns(conn)
        return
    # SQLite: each lost race means another process made that table, index or column, so
    # every retry has less left to do; one per schema object always suffices. "database
    # is locked" comes at once, without the busy timeout, when a transaction that has read
    # the schema must write while another process writes (SQLite refuses to wait there, as
    # waiting could deadlock): that one is retried after a short random pause until the
    # busy timeout has passed.
    tries = len(metadata.tables) + sum(len(t.indexes) + len(t.c) for t in metadata.tables.values())
    deadline = time.monotonic() + SQLITE_BUSY_S
    attempt = 0
    while True:
        try:
            metadata.create_all(engine)
            with engine.begin() as conn:
                _add_missing_columns(conn)
            return
        except sa.exc.OperationalError as exc:
            text = str(exc)
            if "database is locked" in text and time.monotonic() < deadline:
                time.sleep(random.uniform(0.01, 0.1))  # noqa: S311 - a pause, not a secret
                continue
            lost_race = "already exists" in text or "duplicate column" in text
            attempt += 1
            if not lost_race or attempt >= tries:
                raise


def _add_missing_columns(conn: sa.Connection) -> None:
    """Bring a database made by an older printprep up to this schema: nullable columns
    added since are added (``ALTER TABLE ... ADD COLUMN``, portable)."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("jobs")}
    for col in jobs_table.c:
        if col.name not in have:
            kind = col.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE jobs ADD COLUMN {col.name} {kind}"))


def insert_event(
    conn: sa.Connection,
    job_id: str,
    at: float,
    state: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one row to ``job_events`` inside the caller's transaction.

    Readers page through events by id (``after_id``), so ids must become visible in
    order. SQLite commits one writer at a time, so they do; on PostgreSQL a sequence
    hands out ids at insert time and a slower transaction could commit a smaller id after
    a reader went past it. There, event inserts take a transaction advisory lock first
    (held only from the insert to the commit), so ids are committed in order.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_EVENTS_LOCK)))
    conn.execute(
        events_table.insert().values(
            job_id=job_id,
            at=at,
            state=state,
            message=message,
            data=json.dumps(data, default=str) if data is not None else None,
        )
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_S * 1000)}")
    cur.close()
