"""Checks of the configuration's values: types, bounds, the rules between keys, the
``[[printers]]`` shape and ``[dispatch]``. Each error is a
:class:`~printprep.errors.ConfigError` naming where the value came from and its key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from printprep.errors import ConfigError, PrintprepError
from printprep.printers.registry import NAME_RE, NAME_RULE
from printprep.service.config.database import check_database_url
from printprep.service.config.schema import (
    BOUNDS,
    LOG_LEVELS,
    PRINTER_TYPES,
    SECTIONS,
    ServerSettings,
    dispatch_key_types,
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
        if not math.isfinite(value):
            raise ConfigError(f"must be a finite number, got {value!r}", where=where)
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"must be a string, got {value!r}", where=where)
    return value


def check_value(section: str, key: str, value: Any, expected: type, where: str) -> Any:
    """``value`` of ``[section] key`` as ``expected`` and within :data:`BOUNDS`."""
    value = check_type(value, expected, where)
    lo, hi = BOUNDS.get((section, key), (None, None))
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ConfigError(f"{value} is outside [{lo}, {hi}]", where=where)
    return value


def build_section(
    name: str, raw: Mapping[str, Any], *, where: str, sources: Mapping[str, str] | None = None
) -> Any:
    """The dataclass of section ``name`` from ``raw`` values, every key checked.

    ``where`` names the file; ``sources`` {key: origin} names where a value came from
    instead when it was not the file (a ``PRINTPREP_*`` variable, the command line).
    """
    cls = SECTIONS[name]
    types = key_types(name)
    unknown = sorted(set(raw) - set(types))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in [{name}]; known: {', '.join(types)}",
            where=where,
        )

    def at(key: str) -> str:
        return (sources or {}).get(key) or f"{where}: [{name}] {key}"

    values = {key: check_value(name, key, value, types[key], at(key))
              for key, value in raw.items()}
    section = cls(**values)
    if name == "server":
        _check_server(section, at)
    if name in ("server", "pipeline"):
        _check_names(section, at)
    # Folders become absolute now, so every process (workers too) sees the same ones.
    if name == "server":
        section = dataclasses.replace(section, data_dir=_absolute(section.data_dir))
    if name == "watch" and section.dir:
        section = dataclasses.replace(section, dir=_absolute(section.dir))
    if name == "workers" and section.stale_after_s <= section.heartbeat_s:
        # Blame the key that did not come from the file when only one of them did not.
        given = sources or {}
        key = "heartbeat_s" if "heartbeat_s" in given and "stale_after_s" not in given else (
            "stale_after_s")
        raise ConfigError(
            f"stale_after_s ({section.stale_after_s}) must exceed heartbeat_s "
            f"({section.heartbeat_s}), or live workers would lose their jobs",
            where=at(key),
        )
    return section


def _absolute(folder: str) -> str:
    return str(Path(folder).expanduser().resolve())


def _check_server(section: Any, at: Callable[[str], str]) -> None:
    """The rules of ``[server]`` beyond types and bounds; ``at(key)`` names the origin."""
    if section.log_level not in LOG_LEVELS:
        raise ConfigError(
            f"log_level must be one of {', '.join(LOG_LEVELS)}, got {section.log_level!r}",
            where=at("log_level"),
        )
    if not section.host:
        raise ConfigError("host must not be empty", where=at("host"))
    if not section.data_dir:
        raise ConfigError("data_dir must not be empty", where=at("data_dir"))
    if section.database_url and "://" not in section.database_url:
        raise ConfigError(
            f"database_url must be a URL such as sqlite:///path or "
            f"postgresql://user@host/db, got {section.database_url!r}",
            where=at("database_url"),
        )
    if section.database_url:
        check_database_url(section.database_url, at("database_url"))


def _check_names(section: Any, at: Callable[[str], str]) -> None:
    """The profile, alloy and material a section names exist, so a typo stops startup
    instead of failing every job (``[server] default_profile``, ``[pipeline] alloy`` and
    ``material``; empty alloy and material mean none)."""
    if isinstance(section, ServerSettings):
        from printprep.service.intake import check_profile_name

        checks = [("default_profile", check_profile_name)]
    else:
        checks = [("alloy", _check_alloy), ("material", _check_material)]
    for key, check in checks:
        value = getattr(section, key)
        if not value and key != "default_profile":
            continue
        try:
            check(value)
        except PrintprepError as exc:
            raise ConfigError(str(exc), where=at(key)) from None


def _check_alloy(alloy: str) -> None:
    """An alloy the mesh stage knows, written as it accepts it ("18K Yellow" too)."""
    from printprep.mesh.measure import ALLOYS, alloy_key

    try:
        alloy_key(alloy)
    except PrintprepError:
        raise ConfigError(f"unknown alloy {alloy!r}; known: {', '.join(sorted(ALLOYS))}") from None


def _check_material(material: str) -> None:
    from printprep.profiles import load_material

    load_material(material)


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
            raise ConfigError(f"name {name!r} must be {NAME_RULE}", where=at)
        if name in seen:
            raise ConfigError(f"printer name {name!r} is used twice", where=at)
        seen.add(name)
        if entry["type"] not in PRINTER_TYPES:
            raise ConfigError(
                f"type {entry['type']!r} is not one of {', '.join(PRINTER_TYPES)}", where=at
            )
        out.append(dict(entry))
    return tuple(out)


def validate_dispatch(
    raw: Any, where: str, sources: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``[dispatch]`` checked against the dispatcher's own settings class; ``sources``
    {key: origin} as in :func:`build_section`."""
    if not isinstance(raw, dict):
        raise ConfigError("[dispatch] must be a table", where=where)
    if not raw:
        return {}
    types = dispatch_key_types()
    if types is None:
        raise ConfigError("[dispatch] is not supported by this build", where=where)
    unknown = sorted(set(raw) - set(types))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in [dispatch]; known: {', '.join(types)}",
            where=where,
        )
    values = {
        key: check_value("dispatch", key, value, types[key],
                         (sources or {}).get(key) or f"{where}: [dispatch] {key}")
        for key, value in raw.items()
    }
    from printprep.service.dispatch import DispatchSettings

    try:
        DispatchSettings(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), where=f"{where}: [dispatch]") from None
    return values
