"""Helpers shared by the CLI modules: JSON output, progress bars, stderr messages, and the
client side of the REST API (``--server``/``--token`` options, one request, its answer)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from printprep.errors import PrintprepError


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

    ``step(label)`` marks the start of a stage. Nothing is drawn for work that ends within
    ``delay_s``; past it the bar shows the stage under way (a timer draws it even when no
    new stage starts) and each later stage redraws it.
    """

    def __init__(self, total: int, *, enabled: bool = True, delay_s: float = 1.0) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.delay_s = delay_s
        self.shown = False
        self.label = ""
        self._closed = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        if self.enabled:
            self._timer = threading.Timer(delay_s, self._late)
            self._timer.daemon = True
            self._timer.start()

    def step(self, label: str) -> None:
        with self._lock:
            self.done += 1
            self.label = label
            if self.enabled and (self.shown or time.monotonic() - self.t0 >= self.delay_s):
                self._draw()

    def _late(self) -> None:
        """The delay ran out with the work still going: show where it is."""
        with self._lock:
            if not self._closed and not self.shown:
                self._draw()

    def _draw(self) -> None:
        width = 24
        filled = int(width * min(self.done, self.total) / self.total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {self.label:<40.40}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
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


# -- REST API clients ---------------------------------------------------------------------
class ClientError(PrintprepError):
    """The service answered with an error (exit 1)."""

    exit_code = 1


def client_args(p: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """``--server``, ``--token``, ``--json`` (and a hidden ``--config``) of a client command.

    ``subcommand``: ``p`` is an action (``jobs show``) of a command that has these options
    too; the action's copies then have no defaults, so ``printprep jobs --token T show ID``
    keeps the token given before the action instead of resetting it.
    """
    default = argparse.SUPPRESS if subcommand else None
    p.add_argument("--server", metavar="URL", default=default, help="service URL (default: "
                   "$PRINTPREP_SERVER or the configured host and port)")
    p.add_argument("--token", default=default, help="API token (default: $PRINTPREP_TOKEN)")
    p.add_argument("--config", metavar="FILE", default=default, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", default=default if subcommand else False,
                   help="print the service's JSON answer")


def open_client(args: argparse.Namespace) -> Any:
    """An ``httpx.Client`` on the service with the caller's token. The address comes from
    ``--server``, ``$PRINTPREP_SERVER`` or the configuration (host and port only: the
    service's database need not be reachable from here)."""
    import httpx

    url = args.server or os.environ.get("PRINTPREP_SERVER")
    if not url:
        from printprep.service.config import load_settings

        s = load_settings(args.config, check_database=False)  # a client needs only the address
        host = "127.0.0.1" if s.server.host in ("0.0.0.0", "::") else s.server.host
        url = f"http://{host}:{s.server.port}"
    token = args.token or os.environ.get("PRINTPREP_TOKEN")
    if not token:
        raise PrintprepError("no API token: pass --token or set PRINTPREP_TOKEN "
                             "(create one with 'printprep token create --name NAME')")
    return httpx.Client(base_url=url.rstrip("/"), timeout=120.0,
                        headers={"Authorization": f"Bearer {token}"})


def call(client: Any, method: str, path: str, **kw: Any) -> Any:
    """One request; its JSON answer, ClientError (exit 1) for a 4xx/5xx answer, or
    PrintprepError (exit 2) when the service cannot be reached."""
    import httpx

    try:
        r = client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        raise PrintprepError(f"cannot reach the service: {exc}", where=str(client.base_url)) from None
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        raise ClientError(f"{r.status_code}: {detail}", where=f"{method} {path}")
    return r.json()


def call_and_show(args: argparse.Namespace, method: str, path: str,
                  show: Callable[[dict[str, Any]], str], **kw: Any) -> int:
    """One request to the service; print its JSON answer with ``--json``, else
    ``show(answer)``. Exit code 0 (errors raise)."""
    with open_client(args) as client:
        data = call(client, method, path, **kw)
    if args.json:
        print_json(data)
    else:
        print(show(data))
    return 0
