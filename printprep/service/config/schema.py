"""The schema of the service configuration: its sections, keys, defaults and bounds.

One frozen dataclass per section (``[server]``, ``[workers]``, ``[watch]``,
``[pipeline]``) whose fields are the keys, their types and embedded defaults; the bounds
of numeric keys; and :class:`Settings`, the whole validated configuration with the paths
derived from it. Reading and checking live in ``load``, ``validate`` and ``env``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from printprep.printers.registry import CONNECTORS
from printprep.profiles.printer import DEFAULT_PROFILE

DEFAULT_CONFIG_NAME = "printprep.toml"
PRINTER_TYPES = tuple(CONNECTORS)
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


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


def default_printers() -> tuple[dict[str, Any], ...]:
    """The printers of a configuration without ``[[printers]]``: one virtual printer."""
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
    printers: tuple[dict[str, Any], ...] = field(default_factory=default_printers)
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
        from printprep.service.config.validate import build_section

        current = getattr(self, section)
        raw = {f.name: getattr(current, f.name) for f in fields(current)}
        raw.update(values)
        new = build_section(section, raw, where="command line")
        return dataclasses.replace(self, **{section: new})


SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "workers": WorkerSettings,
    "watch": WatchSettings,
    "pipeline": PipelineSettings,
}
#: Top-level tables besides :data:`SECTIONS`, checked by their own functions.
OTHER_TABLES = ("printers", "dispatch")

#: (section, key) -> (minimum, maximum) for numbers; None: unbounded on that side.
BOUNDS: dict[tuple[str, str], tuple[float | None, float | None]] = {
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
    ("dispatch", "poll_s"): (0.01, 60),
    ("dispatch", "offline_grace_s"): (0, None),
    ("dispatch", "reconnect_s"): (0.05, 3600),
    ("dispatch", "batch_max"): (1, None),
    ("dispatch", "batch_gap_mm"): (0, None),
}

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def key_types(section: str) -> dict[str, type]:
    """{key: int | float | bool | str} of one of :data:`SECTIONS`."""
    return {f.name: _TYPES[str(f.type)] for f in fields(SECTIONS[section])}


def dispatch_key_types() -> dict[str, type] | None:
    """{key: type} of ``[dispatch]``, from the dispatcher's ``DispatchSettings`` and its
    defaults; None when this build has no dispatcher."""
    try:
        from printprep.service.dispatch import DispatchSettings
    except ImportError:
        return None
    defaults = DispatchSettings()
    return {f.name: str if getattr(defaults, f.name) is None else type(getattr(defaults, f.name))
            for f in fields(DispatchSettings)}
