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
JOBS = 5
PIPELINE = ("checking", "repairing", "preparing", "slicing")


def _wait_for_text(path: Path, pattern: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and re.search(pattern, path.read_text(errors="replace")):
            return
        time.sleep(0.1)
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    raise AssertionError(f"{pattern!r} not in {path.name} after {timeout_s}s:\n{text[-4000:]}")


def _start_worker(srv, log_path: Path) -> subprocess.Popen:
    """``printprep worker`` on the server's config (same database, same data folder)."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*PRINTPREP, "worker", "--config", str(srv.config_path)],
                                env=srv.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc


def _job_held_by(postgres_url: str, pid: int, timeout_s: float) -> str:
    """Poll the database until the worker with ``pid`` holds a job inside the pipeline."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT id FROM jobs WHERE claimed_by LIKE %s AND state IN "
                "('checking', 'repairing', 'preparing', 'slicing')", (f"%:{pid}:%",)
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.05)
    raise AssertionError(f"worker {pid} never held a job in the pipeline")


def test_serve_and_standalone_workers_share_one_postgresql_database(
    tmp_path: Path, meshes: Path, postgres_url: str
) -> None:
    """Rings reach ``done`` through serve's worker and two ``printprep worker`` processes
    on the same PostgreSQL database; one of those is SIGKILLed mid-job, and its job is
    taken back and finished by another worker."""
    srv = make_server(tmp_path, {
        "server": {"database_url": postgres_url},
        "workers": {"count": 1, "max_attempts": 3},
        "watch": {"enabled": False},
        "pipeline": {"prepare": False},
        "printers": [{"name": "v1", "type": "virtual", "profile": PROFILE,
                      "time_scale": 0.0002}],
    })
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    workers: list[subprocess.Popen] = []
    srv.start()
    try:
        with srv.client() as c:
            assert c.get("/api/health").json()["database"] == "postgresql"
        _wait_for_text(srv.log_path, r"worker \S+ ready", 60)
        workers = [_start_worker(srv, log) for log in logs]
        for log in logs:
            _wait_for_text(log, r"worker \S+ ready", 60)

        ids = []
        with srv.client() as c:
            data = (meshes / RING).read_bytes()
            for i in range(JOBS):
                r = c.post("/api/jobs", files={"file": (f"ring{i}.stl", data)},
                           data={"profile": PROFILE})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
        killed_job = _job_held_by(postgres_url, workers[1].pid, 120)
        workers[1].kill()  # a crash mid-job: its transaction and claim are left behind
        workers[1].wait(timeout=30)

        jobs = {job_id: srv.wait_for(job_id, ("done", "failed", "needs_attention"), 240)
                for job_id in ids}
        assert [j["state"] for j in jobs.values()] == ["done"] * JOBS, \
            [j["error"] for j in jobs.values()]
        claimers: dict[str, list[int]] = {}
        for job_id, job in jobs.items():
            claims = [e["message"] for e in job["events"] if e["message"].startswith("claimed")]
            claimers[job_id] = [int(m.split()[3].split(":")[1]) for m in claims]
            assert job["archive"] and job["archive"] in job["artifacts"]
            with srv.client() as c:
                r = c.get(f"/api/jobs/{job_id}/files/{job['archive']}")
                assert r.status_code == 200 and r.content[:2] == b"PK"
        # each job claimed once, but for the one whose worker died: twice, first by it
        for job_id, pids in claimers.items():
            assert len(pids) == (2 if job_id == killed_job else 1), (job_id, claimers)
        assert claimers[killed_job][0] == workers[1].pid
        assert claimers[killed_job][1] != workers[1].pid
        assert jobs[killed_job]["attempts"] == 2
        assert any("stopped while the job was" in e["message"]
                   and "queued for another attempt" in e["message"]
                   for e in jobs[killed_job]["events"]), jobs[killed_job]["events"]
        finished_by = {pids[-1] for pids in claimers.values()}
        assert workers[0].pid in finished_by, f"the standalone worker finished nothing: {claimers}"
        assert len(finished_by) >= 2, f"serve's own worker finished nothing: {claimers}"
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
                w.wait(timeout=60)
        srv.stop()
    assert workers[0].returncode == 0, logs[0].read_text()

    # Everything lives in PostgreSQL: the rows are there, no SQLite file was made.
    assert not (srv.data_dir / "printprep.db").exists()
    with psycopg.connect(postgres_url) as conn:
        states = conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
        assert states == [("done", JOBS)]
        held = conn.execute("SELECT count(*) FROM jobs WHERE claimed_by IS NOT NULL")
        assert held.fetchone()[0] == 0


def test_sigkill_of_serve_on_postgresql_loses_no_job(tmp_path: Path, meshes: Path,
                                                    postgres_url: str) -> None:
    """SIGKILL the server (its worker dies with it) while jobs are in the pipeline and
    others wait; after a restart on the same database every job ends ``done``."""
    srv = make_server(tmp_path, {
        "server": {"database_url": postgres_url},
        "workers": {"count": 1, "max_attempts": 4},
        "watch": {"enabled": False},
        "pipeline": {"prepare": False},
        "printers": [{"name": "v1", "type": "virtual", "profile": PROFILE,
                      "time_scale": 0.0002}],
    })
    srv.start()
    try:
        ids = []
        with srv.client() as c:
            data = (meshes / RING).read_bytes()
            for i in range(3):
                r = c.post("/api/jobs", files={"file": (f"ring{i}.stl", data)},
                           data={"profile": PROFILE})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
        deadline = time.monotonic() + 120
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            while True:
                states = dict(conn.execute("SELECT id, state FROM jobs").fetchall())
                if (set(states.values()) & set(PIPELINE) and "received" in states.values()
                        and "printing" not in states.values()):
                    break
                assert time.monotonic() < deadline, f"never saw a job in the pipeline: {states}"
                time.sleep(0.05)
        srv.kill()
        srv.start()
        for job_id in ids:
            job = srv.wait_for(job_id, ("done", "failed", "needs_attention", "cancelled"), 240)
            assert job["state"] == "done", (states, job["error"],
                                            [e["message"] for e in job["events"]])
        with srv.client() as c:
            events = [e["message"] for job_id in ids
                      for e in c.get(f"/api/jobs/{job_id}").json()["events"]]
        assert any("stopped while the job was" in m for m in events), (states, events)
    finally:
        srv.stop()


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
    # a value from the environment is blamed on the variable, not on the file's key
    with pytest.raises(ConfigError, match=r"PRINTPREP_DATABASE_URL: unsupported database"):
        load_settings(config, env={"PRINTPREP_DATABASE_URL": "oracle://x@h/db"},
                      check_database=False)
