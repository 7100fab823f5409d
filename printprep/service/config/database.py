"""The ``database_url`` check: the store can open the URL, and with ``connect`` a
database server answers now."""

from __future__ import annotations

from printprep.errors import ConfigError, PrintprepError


def check_database_url(url: str, where: str, *, connect: bool = False) -> None:
    """A ``database_url`` the store can open: known scheme (sqlite, postgresql), a file or
    database named; with ``connect``, a database server must also answer now, so
    ``serve`` and ``worker`` stop at startup (exit 2) rather than after they began."""
    from printprep.service.store.engine import parse_database_url, probe_database

    try:
        parsed = parse_database_url(url)
        if connect and parsed.get_backend_name() != "sqlite":
            probe_database(url)
    except PrintprepError as exc:
        problem = str(exc)[len(exc.where) + 2 :] if exc.where else str(exc)
        shown = exc.where.removeprefix("database_url ") if exc.where else url
        raise ConfigError(f"{problem} ({shown})", where=where) from None
