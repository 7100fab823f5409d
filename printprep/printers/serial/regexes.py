"""Every pattern the serial host matches against firmware replies, in one place.

Named groups carry the values; :mod:`printprep.printers.serial.parser` turns a matched
line into a :class:`~printprep.printers.serial.parser.Reply`.
"""

from __future__ import annotations

import re

#: ``ok``, optionally followed by temperatures or ADVANCED_OK fields (``ok N10 P15 B3``).
OK = re.compile(r"^ok\b\s*(?P<rest>.*)$")
#: ``Resend: 42`` (Marlin, RepRapFirmware) or ``rs N42`` / ``rs 42`` (Repetier, Teacup).
RESEND = re.compile(r"^(?:resend:?|rs)\s*N?:?\s*(?P<line>\d+)", re.IGNORECASE)
#: ``Error:...`` / ``!! ...``; ``Last Line: 41`` is in line-number/checksum errors.
ERROR = re.compile(r"^(?:error:|!!)\s*(?P<message>.*)$", re.IGNORECASE)
LAST_LINE = re.compile(r"Last Line:\s*(?P<line>\d+)", re.IGNORECASE)
#: Errors after which the firmware stops: the print cannot continue.
FATAL = re.compile(
    r"halted|kill\(\) called|stopped|thermal runaway|mintemp|maxtemp|heating failed"
    r"|probing failed|emergency",
    re.IGNORECASE,
)
#: ``echo:busy: processing`` / ``busy: paused for user`` (Marlin HOST_KEEPALIVE).
BUSY = re.compile(r"^(?:echo:)?\s*busy:\s*(?P<what>.*)$", re.IGNORECASE)
WAIT = re.compile(r"^wait$")
#: The firmware (re)started: anything it was doing is gone.
START = re.compile(r"^start$")
#: ``//action:pause`` and friends (host action commands).
ACTION = re.compile(r"^//\s*action:(?P<action>\S+)\s*(?P<arg>.*)$")
#: ``FIRMWARE_NAME:Marlin 2.1.2 (...) SOURCE_CODE_URL:...`` from M115.
FIRMWARE = re.compile(r"FIRMWARE_NAME:\s*(?P<name>.+?)(?:\s+[A-Z_]+:|$)")
#: ``Cap:AUTOREPORT_TEMP:1`` capability lines from M115.
CAPABILITY = re.compile(r"^Cap:(?P<name>[A-Z0-9_]+):(?P<value>[01])$")
#: One temperature field: ``T:210.0 /210.0``, ``T1:...``, ``B:60.0 /60.0``, ``C:...``.
TEMPERATURE = re.compile(
    r"(?<![A-Za-z@])(?P<sensor>[TBC]\d?):\s*(?P<actual>-?\d+(?:\.\d+)?)"
    r"(?:\s*/\s*(?P<target>-?\d+(?:\.\d+)?))?"
)
#: ADVANCED_OK: ``ok N123 P15 B3`` (last line, planner and command buffer space).
ADVANCED_OK = re.compile(r"\bN(?P<line>\d+)\s+P(?P<planner>\d+)\s+B(?P<buffer>\d+)")
#: G-code commands the firmware may take long to acknowledge (no timeout while waiting).
LONG_COMMAND = re.compile(r"^(?:G28|G29|G4|M400|M600|M109|M190|M191|M303|G33|G34|M48)\b")
