"""The real service on PostgreSQL: ``printprep serve`` with ``database_url =
"postgresql://..."`` runs a ring to ``done`` on the virtual printer while a separate
``printprep worker`` process, on the same database and data folder, claims jobs too; and a
bad ``database_url`` stops ``serve`` with exit 2 and a message naming the key."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from helpers.server import PRINTPREP, free_port, make_server

if TYPE_CHECKING:
    from helpers.postgres import PostgresServer

pytest_plugins = ["helpers.postgres"]

RING = "jewelry/solitaire_ring.stl"
PROFILE = "elegoo-mars-4-dlp"
JOBS = 4


def _wait_for_text(path: Path, pattern: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and re.search(pattern, path.read_text(errors="replace")):
            return
        time.sleep(0.1)
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    raise AssertionError(f"{pattern!r} not in {path.name} after {timeout_s}s:\n{text[-4000:]}")


def test_serve_and_a_standalone_worker_share_one_postgresql_database(
    tmp_path: Path, meshes: Path, postgres_url: str
) -> None:
    srv = make_server(tmp_path, {
        "server": {"database_url": postgres_url},
        "workers": {"count": 1},
        "watch": {"enabled": False},
        "pipeline": {"prepare": False},
        "printers": [{"name": "v1", "type": "virtual", "profile": PROFILE,
                      "time_scale": 0.0002}],
    })
    worker_log = tmp_path / "worker.log"
    worker = None
    srv.start()
    try:
        with srv.client() as c:
            assert c.get("/api/health").json()["database"] == "postgresql"
        _wait_for_text(srv.log_path, r"worker \S+ ready", 60)
        with open(worker_log, "wb") as log:
            worker = subprocess.Popen(
                [*PRINTPREP, "worker", "--config", str(srv.config_path)], env=srv.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_text(worker_log, r"worker \S+ ready", 60)

        ids = []
        with srv.client() as c, open(meshes / RING, "rb") as fh:
            data = fh.read()
            for i in range(JOBS):
                r = c.post("/api/jobs", files={"file": (f"ring{i}.stl", data)},
                           data={"profile": PROFILE})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
        jobs = [srv.wait_for(job_id, ("done", "failed", "needs_attention"), 240)
                for job_id in ids]
        assert [j["state"] for j in jobs] == ["done"] * JOBS, [j["error"] for j in jobs]

        claimers = []
        for job in jobs:
            claims = [e["message"] for e in job["events"] if e["message"].startswith("claimed")]
            assert len(claims) == 1 and claims[0].endswith("(attempt 1)"), job["events"]
            claimers.append(claims[0].split()[3])  # host:pid:start
            assert job["archive"] and job["archive"] in job["artifacts"]
            with srv.client() as c:
                r = c.get(f"/api/jobs/{job['id']}/files/{job['archive']}")
                assert r.status_code == 200 and r.content[:2] == b"PK"
        pids = {int(w.split(":")[1]) for w in claimers}
        assert worker.pid in pids, f"the standalone worker claimed nothing: {claimers}"
        assert len(pids) >= 2, f"serve's own worker claimed nothing: {claimers}"
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        srv.stop()
    assert worker.returncode == 0, worker_log.read_text()

    # Everything lives in PostgreSQL: the rows are there, no SQLite file was made.
    assert not (srv.data_dir / "printprep.db").exists()
    with psycopg.connect(postgres_url) as conn:
        states = conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
        assert states == [("done", JOBS)]
        ordered = conn.execute("SELECT id FROM job_events ORDER BY id").fetchall()
        assert len(ordered) >= JOBS * 6


def _serve_exit(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess:
    config = tmp_path / "printprep.toml"
    config.write_text(f'[server]\nport = {free_port()}\ndata_dir = "{tmp_path / "data"}"\n'
                      f'database_url = "{database_url}"\n[workers]\ncount = 0\n')
    return subprocess.run([*PRINTPREP, "serve", "--config", str(config)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


def test_a_bad_database_url_stops_serve_with_exit_2_naming_the_key(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    r = _serve_exit(tmp_path, f"postgresql://printprep:s3cret@127.0.0.1:{port}/jobs")
    assert r.returncode == 2, r.stderr
    assert "[server] database_url: cannot connect to the database" in r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and "s3cret" not in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("printprep: ")
    r = _serve_exit(tmp_path, "mysql://u@127.0.0.1/jobs")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "[server] database_url: unsupported database 'mysql'" in r.stderr


def test_an_unknown_database_on_a_live_server_is_named(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    r = _serve_exit(tmp_path, postgres_server.url("no_such_db"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "[server] database_url: cannot connect" in r.stderr
    assert 'database "no_such_db" does not exist' in r.stderr


def test_load_settings_checks_the_database_server_only_when_asked(tmp_path: Path) -> None:
    from printprep.errors import ConfigError
    from printprep.service.config import load_settings

    config = tmp_path / "printprep.toml"
    url = f"postgresql://printprep@127.0.0.1:{free_port()}/jobs"
    config.write_text(f'[server]\ndatabase_url = "{url}"\n')
    # API clients read the file only for the server's address: no connection is made.
    assert load_settings(config, env={}, check_database=False).database_url == url
    with pytest.raises(ConfigError, match=r"\[server\] database_url: cannot connect"):
        load_settings(config, env={})
    with pytest.raises(ConfigError, match=r"\[server\] database_url: unsupported database"):
        load_settings(config, env={"PRINTPREP_DATABASE_URL": "oracle://x@h/db"},
                      check_database=False)
