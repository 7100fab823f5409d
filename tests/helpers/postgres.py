"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

    pytest_plugins = ["helpers.postgres"]

    def test_x(postgres_url):          # a fresh, empty database on the session's server
        store = Store(postgres_url, tmp_path)

The server (fixture ``postgres_server``, one per test session) listens on 127.0.0.1 on a
free port, with its Unix socket inside its own folder, ``fsync=off`` (tests need no
durability across a power cut) and trust authentication for local connections. Each
test that asks for ``postgres_url`` gets its own database (``CREATE DATABASE``), dropped
afterwards. The binaries are found under ``/usr/lib/postgresql/<version>/bin`` (Debian's
layout; the newest version wins) or on ``PATH``.

``initdb`` refuses to run as root, so when the tests run as root (CI does) the server's
programs run as the ``postgres`` system user (``runuser -u postgres --``) and the folder
is handed to that user. Missing binaries, or root without a ``postgres`` user, skip the
test on a developer machine and fail it under ``CI=true`` (``scripts/install-system-deps``
installs the ``postgresql`` package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require

from helpers.server import free_port

#: The superuser the throwaway cluster is created with (trust auth, no password).
SUPERUSER = "printprep"


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest Debian version first), or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        def version(path: str) -> tuple[int, ...]:
            part = Path(path).parent.parent.name
            return tuple(int(x) for x in part.split(".") if x.isdigit())

        return Path(max(found, key=version)).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    """A running throwaway cluster: ``url(db)`` gives a SQLAlchemy/psycopg URL."""

    host: str
    port: int
    folder: Path
    bin_dir: Path
    run_as: str | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) as superuser."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; its name."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _cmd(run_as: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", run_as, "--", *argv] if run_as else argv


def _run(run_as: str | None, argv: list[str], what: str, cwd: Path) -> None:
    # cwd: a folder the postgres user may enter (the repository may be closed to it)
    proc = subprocess.run(_cmd(run_as, argv), capture_output=True, text=True, timeout=120,
                          cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def start_postgres() -> PostgresServer:
    """initdb + pg_ctl start in a fresh temp folder; the caller stops it (:func:`stop_postgres`)."""
    bin_dir = find_pg_bin()
    require(bin_dir is not None,
            "PostgreSQL server programs (initdb, pg_ctl) are not installed (apt: postgresql)")
    assert bin_dir is not None
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require(False, "running as root and there is no 'postgres' user to run initdb as")
        require(shutil.which("runuser") is not None, "runuser is needed to run initdb as postgres")
        run_as = "postgres"
    # Directly under /tmp: pytest's own temp folders are 0700 root, closed to 'postgres'.
    folder = Path(tempfile.mkdtemp(prefix="printprep-pg-"))
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    _run(run_as, [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust",
                  "-E", "UTF8", "--no-sync", "--locale=C"], "initdb", folder)
    port = free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
               "-c max_connections=200")
    _run(run_as, [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
                  "-o", options, "-w", "-t", "60", "start"], "pg_ctl start", folder)
    return PostgresServer("127.0.0.1", port, folder, bin_dir, run_as)


def stop_postgres(server: PostgresServer) -> None:
    """Stop the cluster at once and remove its folder."""
    try:
        _run(server.run_as, [str(server.bin_dir / "pg_ctl"), "-D", str(server.folder / "data"),
                             "-m", "immediate", "-w", "stop"], "pg_ctl stop", server.folder)
    finally:
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole test session."""
    server = start_postgres()
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """``postgresql://...`` of a fresh database of its own for one test, dropped after."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
