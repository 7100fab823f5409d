"""``[dispatch]`` settings of the dispatcher."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class DispatchSettings:
    """Dispatcher settings (the ``[dispatch]`` section of the service config, if any)."""

    poll_s: float = 0.5
    #: How long a printer may stay offline with a job before the job is moved on.
    offline_grace_s: float = 300.0
    #: Offline printers are asked to reconnect this often.
    reconnect_s: float = 5.0
    #: Place several queued resin jobs of one profile and material on one plate.
    batching: bool = False
    #: Jobs per plate at most when batching.
    batch_max: int = 8
    #: Gap between parts on a batched plate.
    batch_gap_mm: float = 3.0


def dispatch_settings(config: Any) -> DispatchSettings:
    """Read :class:`DispatchSettings` from ``config.dispatch`` (object or mapping), if any."""
    section = getattr(config, "dispatch", None)
    if section is None and isinstance(config, Mapping):
        section = config.get("dispatch")
    if section is None:
        return DispatchSettings()
    names = {f.name for f in fields(DispatchSettings)}
    if isinstance(section, Mapping):
        values = {k: v for k, v in section.items() if k in names}
    else:
        values = {k: getattr(section, k) for k in names if hasattr(section, k)}
    return DispatchSettings(**values)
