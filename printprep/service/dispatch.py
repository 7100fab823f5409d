"""Dispatcher: queued jobs -> idle, matching printers (stub; the printers work fills it in).

Contract (docs/architecture.md): ``Dispatcher(store, printers, config)`` with ``start()``
(starts its thread) and ``stop()``; ``printers`` maps printer name -> Printer.
"""

from __future__ import annotations

from typing import Any


class Dispatcher:
    def __init__(self, store: Any, printers: dict[str, Any], config: Any) -> None:
        self.store = store
        self.printers = printers
        self.config = config

    def start(self) -> None:
        """Start dispatching (stub: does nothing yet)."""

    def stop(self) -> None:
        """Stop dispatching (stub: does nothing yet)."""
