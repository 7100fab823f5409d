"""Printers: one interface for every kind of machine, and the connectors behind it.

    PrinterStatus, Printer          printers/base.py: the status model and the protocol
    create_printer(config)          printers/registry.py: type -> connector, config checked
    validate_printer_config(config) the same checks alone (startup, ``printers check``)

Connectors (imported when a printer of that type is built): ``virtual``, ``serial``
(printers/serial/: transport, line queue, parser, printer), ``octoprint``, ``prusalink``,
``folder``. They receive a finished file plus metadata; the dispatcher in
``printprep.service.dispatch`` decides what to print where.
"""

from printprep.printers.base import Printer, PrinterStatus
from printprep.printers.registry import create_printer, validate_printer_config

__all__ = ["Printer", "PrinterStatus", "create_printer", "validate_printer_config"]
