"""``PRINTPREP_*`` environment variables: ``PRINTPREP_<SECTION>_<KEY>`` for every key,
plus the short forms of :data:`SHORT_ENV`. Values are typed here and bounded later,
with the file's values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from printprep.errors import ConfigError
from printprep.service.config.schema import SECTIONS, dispatch_key_types, key_types

SHORT_ENV = {
    "PRINTPREP_HOST": ("server", "host"),
    "PRINTPREP_PORT": ("server", "port"),
    "PRINTPREP_DATA_DIR": ("server", "data_dir"),
    "PRINTPREP_DATABASE_URL": ("server", "database_url"),
    "PRINTPREP_WORKERS": ("workers", "count"),
}


def parse_env_value(text: str, expected: type, where: str) -> Any:
    """``text`` of variable ``where`` as ``expected`` (bool: 1/0, true/false, yes/no, on/off)."""
    if expected is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"must be true or false, got {text!r}", where=where)
    if expected is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"must be a whole number, got {text!r}", where=where) from None
    if expected is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"must be a number, got {text!r}", where=where) from None
    return text


def env_overrides(
    env: Mapping[str, str],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """``PRINTPREP_*`` variables as {section: {key: value}} (values typed, not bounded),
    and {section: {key: variable name}} saying which variable set each. ``[dispatch]``
    keys count as a section here. A ``PRINTPREP_<SECTION>_...`` variable that names no
    key of its section is refused (a typo would otherwise change nothing, silently)."""
    types = {section: key_types(section) for section in SECTIONS}
    if any(var.startswith("PRINTPREP_DISPATCH_") for var in env):
        types["dispatch"] = dispatch_key_types() or {}
    targets: dict[str, tuple[str, str]] = dict(SHORT_ENV)
    for section, keys in types.items():
        for key in keys:
            targets[f"PRINTPREP_{section.upper()}_{key.upper()}"] = (section, key)
    values: dict[str, dict[str, Any]] = {}
    names: dict[str, dict[str, str]] = {}
    for var, (section, key) in targets.items():  # long forms after short: they win
        if var in env:
            values.setdefault(section, {})[key] = parse_env_value(env[var], types[section][key], var)
            names.setdefault(section, {})[key] = var
    for var in sorted(set(env) - set(targets)):
        for section, keys in types.items():
            if var.startswith(f"PRINTPREP_{section.upper()}_"):
                raise ConfigError(
                    f"names no key of [{section}]; known: "
                    + ", ".join(f"PRINTPREP_{section.upper()}_{k.upper()}" for k in keys),
                    where=var,
                )
    return values, names
