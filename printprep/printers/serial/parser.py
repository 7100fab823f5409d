"""Firmware reply lines -> :class:`Reply` records (pure functions, no I/O).

One line in, one record out: ``kind`` is one of ``ok``, ``resend``, ``error``, ``fatal``,
``busy``, ``wait``, ``start``, ``action``, ``firmware``, ``capability``, ``temperature``,
``echo``. Temperatures are taken from any line that carries them (``ok T:...``, auto-reports).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from printprep.printers.serial import regexes as rx


@dataclass(frozen=True)
class Reply:
    kind: str
    text: str
    line: int | None = None  # resend target, or ADVANCED_OK / Last Line number
    message: str = ""
    temperatures: dict[str, float] = field(default_factory=dict)
    buffer_free: int | None = None  # ADVANCED_OK command buffer space


_SENSOR_NAMES = {"T": "tool0", "B": "bed", "C": "chamber"}


def parse_temperatures(text: str) -> dict[str, float]:
    """``T:210.0 /215.0 B:60 /60`` -> {"tool0": 210.0, "tool0_target": 215.0, "bed": 60.0, ...}."""
    out: dict[str, float] = {}
    for m in rx.TEMPERATURE.finditer(text):
        sensor = m.group("sensor")
        base = _SENSOR_NAMES[sensor[0]]
        if sensor[0] == "T" and len(sensor) > 1:
            base = f"tool{sensor[1:]}"
        if sensor == "T" and "tool0" in out:
            continue  # "T:" after "T0:" repeats the active tool
        out[base] = float(m.group("actual"))
        if m.group("target") is not None:
            out[f"{base}_target"] = float(m.group("target"))
    return out


def parse_line(text: str) -> Reply:
    """Classify one line received from the firmware (without its line ending)."""
    s = text.strip()
    if m := rx.OK.match(s):
        rest = m.group("rest")
        adv = rx.ADVANCED_OK.search(rest)
        return Reply(
            "ok", s,
            line=int(adv.group("line")) if adv else None,
            temperatures=parse_temperatures(rest),
            buffer_free=int(adv.group("buffer")) if adv else None,
        )
    if m := rx.RESEND.match(s):
        return Reply("resend", s, line=int(m.group("line")))
    if m := rx.ERROR.match(s):
        msg = m.group("message").strip()
        last = rx.LAST_LINE.search(msg)
        if last:
            return Reply("error", s, line=int(last.group("line")), message=msg)
        kind = "fatal" if rx.FATAL.search(msg) else "error"
        return Reply(kind, s, message=msg)
    if m := rx.BUSY.match(s):
        return Reply("busy", s, message=m.group("what"))
    if rx.WAIT.match(s):
        return Reply("wait", s)
    if rx.START.match(s):
        return Reply("start", s)
    if m := rx.ACTION.match(s):
        return Reply("action", s, message=f"{m.group('action')} {m.group('arg')}".strip())
    if m := rx.CAPABILITY.match(s):
        return Reply("capability", s, message=m.group("name"), line=int(m.group("value")))
    if m := rx.FIRMWARE.search(s):
        return Reply("firmware", s, message=m.group("name").strip())
    temps = parse_temperatures(s)
    if temps and ("T:" in s or "B:" in s):
        return Reply("temperature", s, temperatures=temps)
    return Reply("echo", s)
