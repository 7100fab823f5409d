"""One error hierarchy for the whole project.

Every error says what went wrong, where (file, key, job, printer) and the limit that was
broken. The CLI prints ``printprep: <message>`` on stderr and exits with ``exit_code``.
"""

from __future__ import annotations


class PrintprepError(Exception):
    """Base of every error printprep raises on purpose."""

    exit_code: int = 2

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class MeshError(PrintprepError):
    """A mesh file cannot be read or is not usable (unreadable input: exit 2)."""


class ProfileError(PrintprepError):
    """A printer or material profile is missing or invalid."""


class ConfigError(PrintprepError):
    """The service configuration is invalid."""


class SliceError(PrintprepError):
    """Slicing or archive writing/reading failed."""


class CastingError(PrintprepError):
    """Casting preparation (orientation, supports, sprues, plate) failed."""


class PrinterError(PrintprepError):
    """A printer connector failed: connection, upload, protocol."""


class ToolMissingError(PrintprepError):
    """An external program printprep drives (prusa-slicer, admesh...) is not installed."""
