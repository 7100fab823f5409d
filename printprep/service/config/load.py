"""Reading the configuration: the TOML file, then ``PRINTPREP_*`` variables, then the
command line's overrides, each layer over the one before, all validated at once."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from printprep.errors import ConfigError
from printprep.service.config.database import check_database_url
from printprep.service.config.env import env_overrides
from printprep.service.config.schema import (
    DEFAULT_CONFIG_NAME,
    OTHER_TABLES,
    SECTIONS,
    Settings,
    default_printers,
)
from printprep.service.config.validate import build_section, validate_dispatch, validate_printers


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    check_database: bool = True,
) -> Settings:
    """Read and validate the configuration.

    Parameters
    ----------
    path : the TOML file; None: ``$PRINTPREP_CONFIG``, else ``./printprep.toml`` if present,
        else embedded defaults only. A path given explicitly must exist.
    env : environment (default ``os.environ``); ``PRINTPREP_*`` variables override the file.
    overrides : {section: {key: value}} from the command line; they win over everything.
    check_database : a ``database_url`` naming a database server (PostgreSQL) must answer
        now, else ConfigError naming the key; False for commands that only need the
        server's address (API clients), not its database. SQLite files are not opened.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("PRINTPREP_CONFIG"))
    if path is None and env.get("PRINTPREP_CONFIG"):
        path = env["PRINTPREP_CONFIG"]
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = DEFAULT_CONFIG_NAME
    where = "defaults" if path is None else str(Path(path))
    raw = _read_toml(Path(path), explicit=explicit) if path is not None else {}
    sections = _section_tables(raw, where)
    # Where each value that is not the file's came from, for the error messages.
    sources: dict[str, dict[str, str]] = {name: {} for name in SECTIONS}
    env_values, env_names = env_overrides(env)
    env_dispatch = env_values.pop("dispatch", {})
    for layer, origin in ((env_values, env_names), (overrides or {}, None)):
        for name, values in layer.items():
            if name not in SECTIONS:
                raise ConfigError(f"unknown section {name!r}", where="overrides")
            given = {k: v for k, v in values.items() if v is not None}
            sections[name].update(given)
            sources[name].update(
                origin[name] if origin else {k: f"command line: [{name}] {k}" for k in given}
            )
    built = {name: build_section(name, sections[name], where=where, sources=sources[name])
             for name in SECTIONS}
    printers = (
        validate_printers(raw["printers"], where) if "printers" in raw else default_printers()
    )
    # A printer that names no valid profile is caught here only for the shape; the
    # registry and profiles module check that the profile exists.
    dispatch_raw = raw.get("dispatch", {})
    if env_dispatch and isinstance(dispatch_raw, dict):
        dispatch_raw = {**dispatch_raw, **env_dispatch}
    dispatch = validate_dispatch(dispatch_raw, where, env_names.get("dispatch"))
    if check_database and built["server"].database_url:
        check_database_url(
            built["server"].database_url,
            sources["server"].get("database_url") or f"{where}: [server] database_url",
            connect=True,
        )
    return Settings(
        **built,
        printers=printers,
        dispatch=dispatch,
        source=str(Path(path).resolve()) if path else None,
    )


def _read_toml(path: Path, *, explicit: bool) -> dict[str, Any]:
    """The file's tables; {} for a default file that is gone, an error for a named one."""
    if not path.is_file():
        if explicit:
            raise ConfigError("configuration file not found", where=str(path))
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", where=str(path)) from None


def _section_tables(raw: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """{section: {key: value}} of the file (every section, empty when absent); unknown
    top-level tables and sections that are not tables are refused."""
    unknown = sorted(set(raw) - set(SECTIONS) - set(OTHER_TABLES))
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(unknown)}; known: "
            f"{', '.join([*SECTIONS, *OTHER_TABLES])}",
            where=where,
        )
    sections: dict[str, dict[str, Any]] = {}
    for name in SECTIONS:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table", where=where)
        sections[name] = dict(table)
    return sections
