"""Settings back to TOML text (``printprep serve --print-config``; test fixtures)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from printprep.errors import ConfigError
from printprep.service.config.schema import SECTIONS, Settings


def settings_to_toml(settings: Settings) -> str:
    """The settings as TOML text that :func:`load_settings` reads back to equal settings."""
    lines: list[str] = []
    for name in SECTIONS:
        section = getattr(settings, name)
        lines.append(f"[{name}]")
        for f in fields(section):
            lines.append(f"{f.name} = {toml_value(getattr(section, f.name))}")
        lines.append("")
    if settings.dispatch:
        lines.append("[dispatch]")
        lines += [f"{k} = {toml_value(v)}" for k, v in settings.dispatch.items()]
        lines.append("")
    for printer in settings.printers:
        lines.append("[[printers]]")
        for key, value in printer.items():
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def toml_value(value: Any) -> str:
    """One value as TOML (bool, number, string, array, inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} as TOML")
