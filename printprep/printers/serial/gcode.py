"""G-code files for the serial host: read and checked up front, and the commands that
end a cancelled print."""

from __future__ import annotations

from pathlib import Path

from printprep.errors import PrinterError
from printprep.printers.serial.lines import MAX_LINE_BYTES, clean_command

#: Sent when a print is cancelled: heaters, part fan and motors off.
CANCEL_GCODE = ("M104 S0", "M140 S0", "M107", "M84")


def read_gcode(path: Path, *, where: str = "") -> list[str]:
    """The commands of a G-code file (comments and blank lines dropped), checked up front.

    Raises PrinterError naming the file and line for a non-ASCII or over-long command.
    """
    commands: list[str] = []
    limit = MAX_LINE_BYTES - len("N2000000000 *255\n")
    try:
        fh = open(path, encoding="ascii", errors="strict")
    except OSError as exc:
        raise PrinterError(f"{path}: cannot read ({exc.strerror})", where=where) from None
    with fh:
        try:
            for i, raw in enumerate(fh, start=1):
                cmd = clean_command(raw)
                if not cmd:
                    continue
                if len(cmd) > limit:
                    raise PrinterError(f"{path}:{i}: command is {len(cmd)} characters; "
                                       f"the firmware takes {limit} at most", where=where)
                if "*" in cmd:
                    cmd = cmd.split("*", 1)[0].rstrip()
                commands.append(cmd)
        except UnicodeDecodeError as exc:
            raise PrinterError(f"{path}: not an ASCII G-code file ({exc.reason} at byte "
                               f"{exc.start})", where=where) from None
    if not commands:
        raise PrinterError(f"{path}: G-code file holds no commands", where=where)
    return commands
