"""Helpers shared by the CLI modules: JSON output, progress bars, stderr messages."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (the ``--json`` output of a command)."""
    json.dump(obj, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "to_dict"):
        return o.to_dict()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def warn(message: str) -> None:
    print(f"printprep: {message}", file=sys.stderr)


class Progress:
    """A one-line progress bar on stderr, shown only on a terminal and never with --json.

    ``step(label)`` marks the start of a stage; the bar appears once the work has taken
    more than ``delay_s`` so quick commands print nothing extra.
    """

    def __init__(self, total: int, *, enabled: bool = True, delay_s: float = 1.0) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.delay_s = delay_s
        self.shown = False

    def step(self, label: str) -> None:
        self.done += 1
        if not self.enabled or time.monotonic() - self.t0 < self.delay_s:
            return
        width = 24
        filled = int(width * min(self.done, self.total) / self.total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {label:<40.40}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()


@contextmanager
def progress(total: int, *, enabled: bool = True) -> Iterator[Progress]:
    bar = Progress(total, enabled=enabled)
    try:
        yield bar
    finally:
        bar.close()
