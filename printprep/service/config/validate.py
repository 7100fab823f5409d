"""Checks of the configuration's values: types, bounds, the rules between keys, the
``[[printers]]`` shape and ``[dispatch]``. Each error is a
:class:`~printprep.errors.ConfigError` naming where the value came from and its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from printprep.errors import ConfigError
from printprep.service.config.database import check_database_url
from printprep.service.config.schema import (
    BOUNDS,
    LOG_LEVELS,
    NAME_RE,
    PRINTER_TYPES,
    SECTIONS,
    key_types,
)


def check_type(value: Any, expected: type, where: str) -> Any:
    """Return ``value`` as ``expected`` (int accepted for float) or raise ConfigError."""
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", where=where)
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"must be a whole number, got {value!r}", where=where)
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"must be a number, got {value!r}", where=where)
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"must be a string, got {value!r}", where=where)
    return value


def build_section(name: str, raw: Mapping[str, Any], *, where: str) -> Any:
    """The dataclass of section ``name`` from ``raw`` values, every key checked."""
    cls = SECTIONS[name]
    types = key_types(name)
    unknown = sorted(set(raw) - set(types))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in [{name}]; known: {', '.join(types)}",
            where=where,
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        key_where = f"{where}: [{name}] {key}"
        value = check_type(value, types[key], key_where)
        lo, hi = BOUNDS.get((name, key), (None, None))
        if lo is not None and value < lo or hi is not None and value > hi:
            raise ConfigError(f"{value} is outside [{lo}, {hi}]", where=key_where)
        values[key] = value
    section = cls(**values)
    if name == "server":
        _check_server(section, where)
    if name == "workers" and section.stale_after_s <= section.heartbeat_s:
        raise ConfigError(
            f"stale_after_s ({section.stale_after_s}) must exceed heartbeat_s "
            f"({section.heartbeat_s}), or live workers would lose their jobs",
            where=f"{where}: [workers] stale_after_s",
        )
    return section


def _check_server(section: Any, where: str) -> None:
    """The rules of ``[server]`` beyond types and bounds."""
    if section.log_level not in LOG_LEVELS:
        raise ConfigError(
            f"log_level must be one of {', '.join(LOG_LEVELS)}, got {section.log_level!r}",
            where=f"{where}: [server] log_level",
        )
    if not section.host:
        raise ConfigError("host must not be empty", where=f"{where}: [server] host")
    if not section.data_dir:
        raise ConfigError("data_dir must not be empty", where=f"{where}: [server] data_dir")
    if section.database_url and "://" not in section.database_url:
        raise ConfigError(
            f"database_url must be a URL such as sqlite:///path or "
            f"postgresql://user@host/db, got {section.database_url!r}",
            where=f"{where}: [server] database_url",
        )
    if section.database_url:
        check_database_url(section.database_url, f"{where}: [server] database_url")


def validate_printers(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    """``[[printers]]``: the keys every printer has (``name``, ``type``, ``profile``) and
    unique names; ``printers.registry`` checks the rest of each table."""
    if not isinstance(raw, list):
        raise ConfigError("[[printers]] must be an array of tables", where=where)
    seen: set[str] = set()
    out = []
    for i, entry in enumerate(raw):
        at = f"{where}: printers[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError("each [[printers]] entry must be a table", where=at)
        for key in ("name", "type", "profile"):
            if key not in entry:
                raise ConfigError(f"missing required key {key!r}", where=at)
            if not isinstance(entry[key], str) or not entry[key]:
                raise ConfigError(f"{key} must be a non-empty string", where=at)
        name = entry["name"]
        if not NAME_RE.match(name):
            raise ConfigError(
                f"name {name!r} must be 1-64 letters, digits, '.', '_' or '-'", where=at
            )
        if name in seen:
            raise ConfigError(f"printer name {name!r} is used twice", where=at)
        seen.add(name)
        if entry["type"] not in PRINTER_TYPES:
            raise ConfigError(
                f"type {entry['type']!r} is not one of {', '.join(PRINTER_TYPES)}", where=at
            )
        out.append(dict(entry))
    return tuple(out)


def validate_dispatch(raw: Any, where: str) -> dict[str, Any]:
    """``[dispatch]`` checked against the dispatcher's own settings class."""
    if not isinstance(raw, dict):
        raise ConfigError("[dispatch] must be a table", where=where)
    if not raw:
        return {}
    try:
        from printprep.service.dispatch import DispatchSettings
    except ImportError:
        raise ConfigError("[dispatch] is not supported by this build", where=where) from None
    known = {f.name: f for f in fields(DispatchSettings)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in [dispatch]; known: {', '.join(known)}",
            where=where,
        )
    for key, value in raw.items():
        default = getattr(DispatchSettings(), key)
        expected = type(default) if default is not None else str
        check_type(value, expected, f"{where}: [dispatch] {key}")
    try:
        DispatchSettings(**raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), where=f"{where}: [dispatch]") from None
    return dict(raw)
