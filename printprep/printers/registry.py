"""Printer connectors by type: validate a printer's config up front, then build it.

A printer config is a flat mapping (one ``[[printers]]`` table of the service config)::

    {"name": "sl1s-1", "type": "prusalink", "profile": "prusa-sl1s",
     "url": "http://10.0.0.5", "api_key": "..."}

``type`` picks the connector class from :data:`CONNECTORS`; each connector declares its own
keys in :data:`KEYS`. Unknown keys, missing keys and values of the wrong type are refused
with a :class:`~printprep.errors.ConfigError` naming the printer and the key, so a typo
stops the service at startup, not in the middle of a print.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from printprep.errors import ConfigError, PrintprepError
from printprep.printers.base import Printer
from printprep.profiles.printer import DEFAULT_PROFILE

#: Connector type -> "module:Class" (imported only when a printer of that type is built).
CONNECTORS: dict[str, str] = {
    "virtual": "printprep.printers.virtual:VirtualPrinter",
    "serial": "printprep.printers.serial.printer:SerialPrinter",
    "octoprint": "printprep.printers.octoprint:OctoPrintPrinter",
    "prusalink": "printprep.printers.prusalink:PrusaLinkPrinter",
    "folder": "printprep.printers.folder:FolderPrinter",
}

#: What a printer name may be (it names folders, URLs and CLI arguments). The one rule:
#: the service config and the API check names against it too.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


@dataclass(frozen=True)
class Key:
    """One config key: its Python type(s), whether it is required, its default, a check."""

    types: tuple[type, ...]
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None  # returns a problem or None
    help: str = ""


def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be > 0"


def _pct(v: Any) -> str | None:
    return None if 0 <= v <= 100 else "must be between 0 and 100"


def _url(v: Any) -> str | None:
    return None if re.match(r"^https?://[^\s/]+", v) else "must be an http:// or https:// URL"


_NUM = (int, float)

COMMON_KEYS: dict[str, Key] = {
    "name": Key((str,), required=True, help="unique printer name"),
    "type": Key((str,), required=True, help="connector: " + ", ".join(CONNECTORS)),
    "profile": Key((str,), default=DEFAULT_PROFILE, help="printer profile it prints for"),
    "poll_s": Key(_NUM, default=1.0, check=_positive, help="status poll period"),
    "auto_clear": Key((bool,), help="take the next job as soon as a print finishes, without "
                                    "anyone confirming the plate is cleared (default: on for "
                                    "virtual and folder printers, off for real printers)"),
}

KEYS: dict[str, dict[str, Key]] = {
    "virtual": {
        "time_scale": Key(_NUM, default=1.0, check=_positive,
                          help="simulated time per real second divisor (0.01 = 100x faster)"),
        "layer_s": Key(_NUM, default=8.0, check=_positive,
                       help="simulated seconds per resin layer when the archive has no printTime"),
        "line_s": Key(_NUM, default=0.02, check=_positive,
                      help="simulated seconds per G-code line"),
        "fail_at_pct": Key(_NUM, check=_pct, help="report an error at this progress"),
        "offline_at_pct": Key(_NUM, check=_pct, help="drop off the network at this progress"),
        "offline_s": Key(_NUM, default=2.0, check=_positive,
                         help="how long the simulated outage lasts (real seconds)"),
        "reboot_on_reconnect": Key((bool,), default=False,
                                   help="come back from the outage idle, the print lost"),
    },
    "serial": {
        "port": Key((str,), required=True, help="serial device, e.g. /dev/ttyACM0"),
        "baudrate": Key((int,), default=115200, check=_positive),
        "timeout_s": Key(_NUM, default=30.0, check=_positive,
                         help="no reply for this long: poke with M105"),
        "busy_timeout_s": Key(_NUM, default=3.0, check=_positive,
                              help="the timeout once the firmware has said busy:"),
        "rx_buffer_bytes": Key((int,), default=128, check=_positive,
                               help="firmware receive buffer the host may fill"),
        "max_inflight": Key((int,), default=4, check=_positive,
                            help="commands in flight at most (firmware BUFSIZE)"),
    },
    "octoprint": {
        "url": Key((str,), required=True, check=_url),
        "api_key": Key((str,), required=True),
        "timeout_s": Key(_NUM, default=10.0, check=_positive, help="timeout of every call"),
        "serial_port": Key((str,), help="port OctoPrint should connect to when it is not "
                                        "connected (e.g. /dev/ttyACM0, VIRTUAL)"),
        "serial_baudrate": Key((int,), check=_positive, help="baud rate for serial_port"),
    },
    "prusalink": {
        "url": Key((str,), required=True, check=_url),
        "api_key": Key((str,)),
        "user": Key((str,), help="digest auth user (instead of api_key)"),
        "password": Key((str,), help="digest auth password"),
        "storage": Key((str,), default="local", help="storage the files are uploaded to"),
        "timeout_s": Key(_NUM, default=30.0, check=_positive),
    },
    "folder": {
        "path": Key((str,), required=True, help="directory the archive is written into"),
        "min_free_mb": Key(_NUM, default=50.0, help="free space left after the write"),
    },
}


def validate_printer_config(config: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """Check one printer's config and return it with defaults filled in.

    Raises ConfigError naming the printer (or its position ``where``) and the key.
    """
    if not isinstance(config, Mapping):
        raise ConfigError("a printer must be a table of keys", where=where or "printers")
    name = config.get("name")
    label = f"printer {name!r}" if isinstance(name, str) and name else (where or "printer")
    if where and isinstance(name, str):
        label = f"{where} ({name})"
    ptype = config.get("type")
    if ptype is None:
        raise ConfigError(f"missing key 'type' (one of {', '.join(CONNECTORS)})", where=label)
    if ptype not in CONNECTORS:
        raise ConfigError(
            f"key 'type': unknown printer type {ptype!r} (one of {', '.join(CONNECTORS)})",
            where=label,
        )
    spec = {**COMMON_KEYS, **KEYS[ptype]}
    unknown = sorted(set(config) - set(spec))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} for a {ptype} printer "
            f"(known: {', '.join(sorted(spec))})",
            where=label,
        )
    out: dict[str, Any] = {}
    for key, k in spec.items():
        if key not in config or config[key] is None:
            if k.required:
                raise ConfigError(f"missing key {key!r} ({k.help or k.types[0].__name__})",
                                  where=label)
            out[key] = k.default
            continue
        value = config[key]
        # bool is an int in Python: refuse True where a number is meant and vice versa
        bad_bool = isinstance(value, bool) and bool not in k.types
        if bad_bool or not isinstance(value, k.types):
            want = " or ".join(t.__name__ for t in k.types)
            raise ConfigError(f"key {key!r} must be {want}, got {value!r}", where=label)
        if k.check is not None:
            problem = k.check(value)
            if problem:
                raise ConfigError(f"key {key!r} {problem} (got {value!r})", where=label)
        out[key] = value
    if out["auto_clear"] is None:
        out["auto_clear"] = bool(getattr(printer_class(ptype), "auto_clear", False))
    if not NAME_RE.match(out["name"]):
        raise ConfigError(f"key 'name' must be {NAME_RULE}", where=label)
    try:
        from printprep.profiles import load_profile

        load_profile(out["profile"])
    except ImportError:  # pragma: no cover - profiles ship with the package
        pass
    except PrintprepError as exc:
        raise ConfigError(f"key 'profile': {exc}", where=label) from None
    if ptype == "prusalink":
        has_key = out["api_key"] is not None
        has_user = out["user"] is not None or out["password"] is not None
        if has_key == has_user:
            raise ConfigError("give either 'api_key' or 'user' and 'password'", where=label)
        if has_user and (out["user"] is None or out["password"] is None):
            missing = "user" if out["user"] is None else "password"
            raise ConfigError(f"missing key {missing!r} (digest auth needs both)", where=label)
    return out


def validate_printers(configs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate a list of printer configs; names must be unique."""
    out = []
    seen: set[str] = set()
    for i, cfg in enumerate(configs):
        checked = validate_printer_config(cfg, where=f"printers[{i}]")
        if checked["name"] in seen:
            raise ConfigError(f"duplicate printer name {checked['name']!r}",
                              where=f"printers[{i}]")
        seen.add(checked["name"])
        out.append(checked)
    return out


def printer_class(ptype: str) -> type:
    """The connector class for ``ptype`` (imports its module)."""
    module_name, cls_name = CONNECTORS[ptype].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def create_printer(config: Mapping[str, Any]) -> Printer:
    """Validate ``config`` and build its connector (not yet connected)."""
    cfg = validate_printer_config(config)
    cls = printer_class(cfg["type"])
    printer = cls.from_config(cfg)
    printer.auto_clear = cfg["auto_clear"]
    return printer
