"""Service configuration: one TOML file plus ``PRINTPREP_*`` environment variables.

Every key has an embedded default, so ``printprep serve`` runs with no file at all: data
folder ``./printprep-data``, SQLite database inside it, watch folder
``./printprep-data/watch``, 127.0.0.1:8000, one virtual printer on the default profile.

Precedence (lowest first): embedded defaults < TOML file < environment < command line.
Everything is validated up front: an unknown section or key, a wrong type or a value out
of range stops startup with a :class:`~printprep.errors.ConfigError` naming the file (or
variable) and the key. ``[[printers]]`` entries are checked here for the keys every
printer has (``name``, ``type``, ``profile``); the printer registry checks the rest.

Environment variables: ``PRINTPREP_<SECTION>_<KEY>`` for every key (for example
``PRINTPREP_SERVER_PORT``, ``PRINTPREP_WORKERS_COUNT``, ``PRINTPREP_WATCH_STABLE_S``),
plus the short forms ``PRINTPREP_HOST``, ``PRINTPREP_PORT``, ``PRINTPREP_DATA_DIR``,
``PRINTPREP_DATABASE_URL`` and ``PRINTPREP_WORKERS``; ``PRINTPREP_CONFIG`` names the file.

Modules: ``schema`` (sections, keys, defaults, bounds, :class:`Settings`), ``load``
(file, environment and overrides in order), ``env`` (the variables), ``validate``
(types, bounds, rules between keys, ``[[printers]]``, ``[dispatch]``), ``database``
(the ``database_url`` check), ``dump`` (settings back to TOML).
"""

from printprep.service.config.dump import settings_to_toml
from printprep.service.config.load import load_settings
from printprep.service.config.schema import (
    DEFAULT_CONFIG_NAME,
    DEFAULT_PROFILE,
    PRINTER_TYPES,
    PipelineSettings,
    ServerSettings,
    Settings,
    WatchSettings,
    WorkerSettings,
)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_PROFILE",
    "PRINTER_TYPES",
    "PipelineSettings",
    "ServerSettings",
    "Settings",
    "WatchSettings",
    "WorkerSettings",
    "load_settings",
    "settings_to_toml",
]
