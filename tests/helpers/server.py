"""Start the REAL service (``printprep serve`` in a subprocess) for a test.

    from helpers.server import running_server

    def test_something(tmp_path):
        with running_server(tmp_path, {"workers": {"count": 1}}) as srv:
            r = srv.client().get("/api/jobs")

or the pytest fixture ``service`` (a :class:`ServiceFactory`)::

    pytest_plugins = ["helpers.server"]
    def test_x(service):
        srv = service({"printers": [...]})

The server listens on a free 127.0.0.1 port with a temporary data folder; a token is
created with ``printprep token create`` before it starts. ``config`` is TOML text or a
dict of sections (``{"server": {...}, "printers": [{...}]}``) written as TOML; the
helper fills in host, port and data_dir. The server's output goes to
``<data_dir>/server.log`` (shown in the assertion message when startup fails).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PRINTPREP = [sys.executable, "-m", "printprep"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(config: dict[str, Any]) -> str:
    """A dict of sections (and a ``printers`` list of dicts) as TOML text."""
    lines: list[str] = []
    if "printers" in config and not config["printers"]:
        lines.append("printers = []")  # no printers at all (not the embedded default)
    for section, table in config.items():
        if section == "printers":
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
        lines.append("")
    for printer in config.get("printers", []):
        lines.append("[[printers]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in printer.items()]
        lines.append("")
    return "\n".join(lines)


#: Settings that keep tests quick: fast polling, short claims, a fast virtual printer.
TEST_DEFAULTS: dict[str, dict[str, Any]] = {
    "workers": {"count": 1, "heartbeat_s": 0.5, "stale_after_s": 5.0, "poll_s": 0.2,
                "drain_timeout_s": 20.0, "nice": 0},
    "watch": {"poll_s": 0.2, "stable_s": 0.5},
}


@dataclass
class Server:
    """A running ``printprep serve``: its URL, token, folders and process."""

    base_url: str
    token: str
    data_dir: Path
    config_path: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    log_path: Path = field(default=Path())
    _log: Any = None

    @property
    def watch_dir(self) -> Path:
        return self.data_dir / "watch"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kw: Any) -> httpx.Client:
        """An httpx client with the token (close it, or use it in a ``with``)."""
        return httpx.Client(base_url=self.base_url, headers=self.headers(), timeout=60, **kw)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and wait until ``/api/health`` answers."""
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*PRINTPREP, "serve", "--config", str(self.config_path)],
            cwd=self.data_dir.parent,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"printprep serve exited with {self.proc.returncode}:\n{self.log()}"
                )
            try:
                if httpx.get(f"{self.base_url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"printprep serve did not answer in {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def _children(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            return []

    def kill(self) -> None:
        """SIGKILL the server (its workers die with it, as on a crash)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        children = self._children()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        _wait_gone(children, 15)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM (graceful drain), then SIGKILL after ``timeout_s``; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            children = self._children()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
            _wait_gone(children, 15)
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def wait_for(self, job_id: str, states: str | tuple[str, ...], timeout_s: float = 120.0
                 ) -> dict[str, Any]:
        """Poll a job until it is in one of ``states``; the job (AssertionError on timeout)."""
        wanted = (states,) if isinstance(states, str) else states
        deadline = time.monotonic() + timeout_s
        job: dict[str, Any] = {}
        with self.client() as c:
            while time.monotonic() < deadline:
                job = c.get(f"/api/jobs/{job_id}").json()
                if job.get("state") in wanted:
                    return job
                time.sleep(0.2)
        raise AssertionError(
            f"job {job_id} is {job.get('state')} after {timeout_s}s, wanted {wanted}; "
            f"events: {[e['message'] for e in job.get('events', [])]}\n{self.log()}"
        )


def _wait_gone(pids: list[int], timeout_s: float) -> None:
    import psutil

    deadline = time.monotonic() + timeout_s
    for pid in pids:
        try:
            psutil.Process(pid).wait(timeout=max(0.1, deadline - time.monotonic()))
        except (psutil.Error, psutil.TimeoutExpired):
            pass


def create_token(config_path: Path, env: dict[str, str], name: str = "test") -> str:
    """A token in the server's database, made in-process with the same library call as
    ``printprep token create`` (one interpreter start less per test server)."""
    from printprep.service.config import load_settings
    from printprep.service.store import Store

    store = Store.from_settings(load_settings(config_path, env=env))
    try:
        return store.create_token(name)
    finally:
        store.close()


def make_server(tmp_path: Path, config: dict[str, Any] | str | None = None,
                *, env: dict[str, str] | None = None) -> Server:
    """Prepare (not start) a server: data folder, config file, token."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if isinstance(config, str):
        text = config
    else:
        merged: dict[str, Any] = {k: dict(v) for k, v in TEST_DEFAULTS.items()}
        for section, table in (config or {}).items():
            if section == "printers":
                merged["printers"] = table
            else:
                merged.setdefault(section, {}).update(table)
        text = to_toml(merged)
    config_path = tmp_path / "printprep.toml"
    config_path.write_text(text)
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTPREP_")}
    run_env.update({"PRINTPREP_HOST": "127.0.0.1", "PRINTPREP_PORT": str(port),
                    "PRINTPREP_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
    if "PRINTPREP_SHARED" in os.environ:
        run_env["PRINTPREP_SHARED"] = os.environ["PRINTPREP_SHARED"]
    run_env.update(env or {})
    token = create_token(config_path, run_env)
    return Server(base_url=f"http://127.0.0.1:{port}", token=token, data_dir=data_dir,
                  config_path=config_path, port=port, env=run_env,
                  log_path=data_dir / "server.log")


@contextmanager
def running_server(tmp_path: Path, config: dict[str, Any] | str | None = None,
                   *, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A started server; stopped (SIGTERM, then SIGKILL) when the block ends."""
    srv = make_server(tmp_path, config, env=env)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop(timeout_s=30)


class ServiceFactory:
    """The ``service`` fixture: ``service(config)`` starts a server; all stop at teardown."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._factory = tmp_path_factory
        self._servers: list[Server] = []

    def __call__(self, config: dict[str, Any] | str | None = None, *,
                 env: dict[str, str] | None = None) -> Server:
        srv = make_server(self._factory.mktemp("service"), config, env=env)
        srv.start()
        self._servers.append(srv)
        return srv

    def close(self) -> None:
        for srv in self._servers:
            srv.stop(timeout_s=30)


@pytest.fixture
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceFactory]:
    factory = ServiceFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.close()
