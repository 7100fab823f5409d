"""The serial port: open, read chunks, write, close - pyserial behind PrinterError.

Reads return whatever bytes are waiting (at least one, or none after ``read_timeout_s``),
never one byte per call: a Python loop per byte would cap the host far below the link.
"""

from __future__ import annotations

import serial

from printprep.errors import PrinterError


class LinkLost(PrinterError):
    """The port went away (cable pulled, device reset, permissions)."""


class Transport:
    """One open serial port."""

    def __init__(self, port: str, baudrate: int, *, read_timeout_s: float = 0.05,
                 where: str = "") -> None:
        self.port = port
        self.baudrate = baudrate
        self.read_timeout_s = read_timeout_s
        self.where = where or f"serial port {port}"
        self._ser: serial.Serial | None = None

    @property
    def is_open(self) -> bool:
        return self._ser is not None and self._ser.is_open

    def open(self) -> None:
        try:
            self._ser = serial.Serial(self.port, self.baudrate, timeout=self.read_timeout_s,
                                      write_timeout=10.0, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._ser = None
            raise LinkLost(f"cannot open {self.port} at {self.baudrate} baud: {exc}",
                           where=self.where) from None

    def read(self) -> bytes:
        ser = self._require()
        try:
            n = ser.in_waiting
            return ser.read(n if n > 0 else 1)
        except (serial.SerialException, OSError, TypeError) as exc:
            self.close()
            raise LinkLost(f"connection lost on {self.port}: {exc}", where=self.where) from None

    def write(self, data: bytes) -> None:
        ser = self._require()
        try:
            ser.write(data)
        except (serial.SerialException, OSError, TypeError) as exc:
            self.close()
            raise LinkLost(f"connection lost on {self.port}: {exc}", where=self.where) from None

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def _require(self) -> serial.Serial:
        if self._ser is None:
            raise LinkLost(f"{self.port} is not open", where=self.where)
        return self._ser
