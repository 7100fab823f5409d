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
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from printprep.errors import ConfigError

DEFAULT_CONFIG_NAME = "printprep.toml"
DEFAULT_PROFILE = "phrozen-sonic-4k"
PRINTER_TYPES = ("virtual", "serial", "octoprint", "prusalink", "folder")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ServerSettings:
    """``[server]``: where the service listens and keeps its data."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Data folder (jobs, database, watch folder). Relative paths: from the working directory.
    data_dir: str = "printprep-data"
    #: Job store URL; empty: SQLite ``<data_dir>/printprep.db`` in WAL mode. Also
    #: ``sqlite:///path`` or ``postgresql://user:password@host:port/database`` (psycopg 3),
    #: for workers on several hosts. Checked at load: scheme, and that a server answers.
    database_url: str = ""
    upload_limit_mb: float = 500.0
    default_profile: str = DEFAULT_PROFILE
    log_level: str = "info"


@dataclass(frozen=True)
class WorkerSettings:
    """``[workers]``: the pipeline worker processes."""

    #: Workers ``serve`` starts itself; -1: one per core; 0: none (run ``printprep worker``).
    count: int = -1
    #: Claims of one job (the first run included) before it is failed for good.
    max_attempts: int = 3
    #: How often a busy worker refreshes its claim.
    heartbeat_s: float = 2.0
    #: A claim not refreshed for this long belongs to a dead worker and is taken back.
    stale_after_s: float = 30.0
    #: Idle workers look for new jobs this often.
    poll_s: float = 0.5
    #: Niceness of worker processes, so the API stays quick while they slice.
    nice: int = 10
    #: On SIGTERM, how long ``serve`` waits for busy workers to finish their job.
    drain_timeout_s: float = 60.0


@dataclass(frozen=True)
class WatchSettings:
    """``[watch]``: the watch folder (``watch/`` and ``watch/<profile-name>/``)."""

    enabled: bool = True
    #: Empty: ``<data_dir>/watch``.
    dir: str = ""
    poll_s: float = 1.0
    #: A file is taken once its size and mtime have not changed for this long.
    stable_s: float = 2.0
    #: Files taken per scan at most (a folder of thousands is worked through in turns).
    max_per_scan: int = 100


@dataclass(frozen=True)
class PipelineSettings:
    """``[pipeline]``: what the workers do to each job."""

    repair: bool = True
    #: Casting preparation (orientation, supports, sprues) before slicing.
    prepare: bool = True
    #: Alloy used for metal weight and casting minimums when a job names none; empty: none.
    alloy: str = ""
    #: Material profile used when a job names none; empty: the profile's default.
    material: str = ""


def _default_printers() -> tuple[dict[str, Any], ...]:
    return (
        {"name": "virtual-1", "type": "virtual", "profile": DEFAULT_PROFILE, "time_scale": 0.01},
    )


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration (picklable: worker processes receive it)."""

    server: ServerSettings = field(default_factory=ServerSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    #: ``[[printers]]`` tables as dicts, passed to ``printers.registry.create_printer``.
    printers: tuple[dict[str, Any], ...] = field(default_factory=_default_printers)
    #: ``[dispatch]``: keys of ``printprep.service.dispatch.DispatchSettings`` (checked).
    dispatch: dict[str, Any] = field(default_factory=dict)
    #: The file the settings came from, if any.
    source: str | None = None

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir).expanduser().resolve()

    @property
    def database_url(self) -> str:
        if self.server.database_url:
            return self.server.database_url
        return f"sqlite:///{self.data_dir / 'printprep.db'}"

    @property
    def watch_dir(self) -> Path:
        if self.watch.dir:
            return Path(self.watch.dir).expanduser().resolve()
        return self.data_dir / "watch"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def upload_limit_bytes(self) -> int:
        return int(self.server.upload_limit_mb * 1024 * 1024)

    @property
    def worker_count(self) -> int:
        if self.workers.count < 0:
            return max(os.cpu_count() or 1, 1)
        return self.workers.count

    def replace(self, section: str, **values: Any) -> Settings:
        """A copy with some keys of one section changed (validated like the file)."""
        current = getattr(self, section)
        raw = {f.name: getattr(current, f.name) for f in fields(current)}
        raw.update(values)
        new = _build_section(section, raw, where="command line")
        return dataclasses.replace(self, **{section: new})


_SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "workers": WorkerSettings,
    "watch": WatchSettings,
    "pipeline": PipelineSettings,
}

#: (section, key) -> (minimum, maximum) for numbers; None: unbounded on that side.
_BOUNDS: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("server", "port"): (1, 65535),
    ("server", "upload_limit_mb"): (0.001, None),
    ("workers", "count"): (-1, 256),
    ("workers", "max_attempts"): (1, 100),
    ("workers", "heartbeat_s"): (0.05, 600),
    ("workers", "stale_after_s"): (0.5, 86400),
    ("workers", "poll_s"): (0.01, 60),
    ("workers", "nice"): (0, 19),
    ("workers", "drain_timeout_s"): (0, 86400),
    ("watch", "poll_s"): (0.05, 3600),
    ("watch", "stable_s"): (0, 3600),
    ("watch", "max_per_scan"): (1, 100000),
}
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_SHORT_ENV = {
    "PRINTPREP_HOST": ("server", "host"),
    "PRINTPREP_PORT": ("server", "port"),
    "PRINTPREP_DATA_DIR": ("server", "data_dir"),
    "PRINTPREP_DATABASE_URL": ("server", "database_url"),
    "PRINTPREP_WORKERS": ("workers", "count"),
}


def _check_type(value: Any, expected: type, where: str) -> Any:
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


def _build_section(name: str, raw: Mapping[str, Any], *, where: str) -> Any:
    cls = _SECTIONS[name]
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in [{name}]; known: {', '.join(known)}",
            where=where,
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        key_where = f"{where}: [{name}] {key}"
        expected = {"int": int, "float": float, "bool": bool, "str": str}[str(known[key].type)]
        value = _check_type(value, expected, key_where)
        lo, hi = _BOUNDS.get((name, key), (None, None))
        if lo is not None and value < lo or hi is not None and value > hi:
            raise ConfigError(f"{value} is outside [{lo}, {hi}]", where=key_where)
        values[key] = value
    section = cls(**values)
    if name == "server":
        if section.log_level not in _LOG_LEVELS:
            raise ConfigError(
                f"log_level must be one of {', '.join(_LOG_LEVELS)}, got {section.log_level!r}",
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
            _check_database_url(section.database_url, f"{where}: [server] database_url")
    if name == "workers" and section.stale_after_s <= section.heartbeat_s:
        raise ConfigError(
            f"stale_after_s ({section.stale_after_s}) must exceed heartbeat_s "
            f"({section.heartbeat_s}), or live workers would lose their jobs",
            where=f"{where}: [workers] stale_after_s",
        )
    return section


def _check_database_url(url: str, where: str, *, connect: bool = False) -> None:
    """A ``database_url`` the store can open: known scheme (sqlite, postgresql), a file or
    database named; with ``connect``, a database server must also answer now, so
    ``serve`` and ``worker`` stop at startup (exit 2) rather than after they began."""
    from printprep.errors import PrintprepError
    from printprep.service.store.engine import parse_database_url, probe_database

    try:
        parsed = parse_database_url(url)
        if connect and parsed.get_backend_name() != "sqlite":
            probe_database(url)
    except PrintprepError as exc:
        problem = str(exc)[len(exc.where) + 2 :] if exc.where else str(exc)
        shown = exc.where.removeprefix("database_url ") if exc.where else url
        raise ConfigError(f"{problem} ({shown})", where=where) from None


def _validate_printers(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
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
        if not _NAME_RE.match(name):
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


def _parse_env_value(text: str, expected: type, where: str) -> Any:
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


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``PRINTPREP_*`` variables as {section: {key: value}} (values typed, not bounded)."""
    out: dict[str, dict[str, Any]] = {}
    targets: dict[str, tuple[str, str]] = dict(_SHORT_ENV)
    for section, cls in _SECTIONS.items():
        for f in fields(cls):
            targets[f"PRINTPREP_{section.upper()}_{f.name.upper()}"] = (section, f.name)
    for var, (section, key) in targets.items():
        if var not in env:
            continue
        ftype = {f.name: f.type for f in fields(_SECTIONS[section])}[key]
        expected = {"int": int, "float": float, "bool": bool, "str": str}[str(ftype)]
        out.setdefault(section, {})[key] = _parse_env_value(env[var], expected, var)
    return out


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
    raw: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        p = Path(path)
        where = str(p)
        if not p.is_file():
            if explicit:
                raise ConfigError("configuration file not found", where=where)
        else:
            try:
                raw = tomllib.loads(p.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"not valid TOML: {exc}", where=where) from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read: {exc}", where=where) from None
    unknown = sorted(set(raw) - set(_SECTIONS) - {"printers", "dispatch"})
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(unknown)}; known: "
            f"{', '.join([*_SECTIONS, 'printers', 'dispatch'])}",
            where=where,
        )
    sections: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table", where=where)
        sections[name] = dict(table)
    for layer in (_env_overrides(env), overrides or {}):
        for name, values in layer.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown section {name!r}", where="overrides")
            sections[name].update({k: v for k, v in values.items() if v is not None})
    built = {name: _build_section(name, sections[name], where=where) for name in _SECTIONS}
    # Folders become absolute now, so every process (workers too) sees the same ones.
    built["server"] = dataclasses.replace(
        built["server"], data_dir=str(Path(built["server"].data_dir).expanduser().resolve())
    )
    if built["watch"].dir:
        built["watch"] = dataclasses.replace(
            built["watch"], dir=str(Path(built["watch"].dir).expanduser().resolve())
        )
    printers = (
        _validate_printers(raw["printers"], where) if "printers" in raw else _default_printers()
    )
    # A printer that names no valid profile is caught here only for the shape; the
    # registry and profiles module check that the profile exists.
    dispatch = _validate_dispatch(raw.get("dispatch", {}), where)
    if check_database and built["server"].database_url:
        _check_database_url(built["server"].database_url, f"{where}: [server] database_url",
                            connect=True)
    return Settings(
        **built,
        printers=printers,
        dispatch=dispatch,
        source=str(Path(path).resolve()) if path else None,
    )


def _validate_dispatch(raw: Any, where: str) -> dict[str, Any]:
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
        _check_type(value, expected, f"{where}: [dispatch] {key}")
    try:
        DispatchSettings(**raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), where=f"{where}: [dispatch]") from None
    return dict(raw)


def settings_to_toml(settings: Settings) -> str:
    """The settings as TOML text (``printprep serve --print-config``; test fixtures)."""
    lines: list[str] = []
    for name in _SECTIONS:
        section = getattr(settings, name)
        lines.append(f"[{name}]")
        for f in fields(section):
            lines.append(f"{f.name} = {_toml_value(getattr(section, f.name))}")
        lines.append("")
    if settings.dispatch:
        lines.append("[dispatch]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in settings.dispatch.items()]
        lines.append("")
    for printer in settings.printers:
        lines.append("[[printers]]")
        for key, value in printer.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} as TOML")
