"""The service's command line against a real server: token create, submit, jobs, jobs show,
jobs cancel; first-start token; SIGTERM drain; standalone ``printprep worker``; systemd
units verified by systemd-analyze."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import require_tool
from helpers.server import PRINTPREP, free_port, make_server, running_server

REPO = Path(__file__).resolve().parent.parent
RING = "jewelry/solitaire_ring.stl"


def _cli(srv, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    """The real ``printprep`` program in a subprocess."""
    env = dict(srv.env)
    env["PRINTPREP_SERVER"] = srv.base_url
    env["PRINTPREP_TOKEN"] = token if token is not None else srv.token
    return subprocess.run([*PRINTPREP, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_cli_clients_submit_list_show_cancel(tmp_path: Path, meshes: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from printprep.cli import main

    def run(*args: str, token: str | None = None) -> tuple[int, str, str]:
        """The same ``main()`` in this process (saves an interpreter start per call)."""
        monkeypatch.setenv("PRINTPREP_TOKEN", token if token is not None else srv.token)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    with running_server(tmp_path, {"workers": {"count": 0}, "printers": [],
                                   "watch": {"enabled": False}}) as srv:
        monkeypatch.setenv("PRINTPREP_SERVER", srv.base_url)
        r = _cli(srv, "submit", str(meshes / RING), "--profile", "phrozen-sonic-4k",
                 "--priority", "2", "--order-ref", "A-1042", "--json")
        assert r.returncode == 0, r.stderr
        job = json.loads(r.stdout)
        assert job["state"] == "received" and job["priority"] == 2
        assert job["source"] == "cli" and job["submitter"] == "test"

        code, out, _ = run("jobs", "--state", "received")
        assert code == 0 and job["id"] in out and "received" in out
        code, out, _ = run("jobs", "show", job["id"])
        assert code == 0
        assert f"id:           {job['id']}" in out and "received from cli by test" in out
        assert "order_ref:    A-1042" in out
        code, out, _ = run("submit", str(meshes / RING), "--profile", "phrozen-sonic-mini-8k")
        assert code == 0
        mini_id = out.split()[0]
        code, out, _ = run("jobs", "--profile", "phrozen-sonic-mini-8k")
        assert code == 0 and mini_id in out and job["id"] not in out
        code, out, err = run("jobs", "--printer", "nobody")
        assert code == 0 and out == "" and "(0 of 0 job(s))" in err
        code, out, _ = run("jobs", "cancel", job["id"])
        assert code == 0 and "cancelled" in out
        code, _, err = run("jobs", "cancel", job["id"])
        assert code == 1 and "409" in err and err.startswith("printprep: ")
        code, out, _ = run("jobs", "retry", job["id"])
        assert code == 0 and "received" in out

        # bad input: exit 2 with the file named; refused token: exit 1
        code, _, err = run("submit", str(tmp_path / "missing.stl"), "--profile",
                           "phrozen-sonic-4k")
        assert code == 2 and "missing.stl: no such file" in err
        code, _, err = run("jobs", token="pp_wrong")
        assert code == 1 and "401" in err

        # a token made by 'token create' on the same data folder works at once
        code, out, _ = run("token", "create", "--name", "kiosk", "--data-dir",
                           str(srv.data_dir))
        assert code == 0 and out.startswith("pp_")
        code, _, _ = run("jobs", token=out.strip())
        assert code == 0
        with pytest.raises(SystemExit) as info:
            run("token", "create")
        assert info.value.code == 2 and "--name" in capsys.readouterr().err
    code, _, err = run("jobs")  # server gone
    assert code == 2 and "cannot reach the service" in err


def test_first_start_prints_one_token_once(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTPREP_")}
    cfg = tmp_path / "printprep.toml"
    cfg.write_text(f'printers = []\n[server]\nhost = "127.0.0.1"\nport = {port}\n'
                   '[workers]\ncount = 0\n[watch]\nenabled = false\n')
    tokens = []
    for _ in range(2):
        proc = subprocess.Popen([*PRINTPREP, "serve", "--config", str(cfg)], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        # uvicorn re-raises SIGTERM after its graceful shutdown: death by SIGTERM is clean
        assert proc.returncode in (0, -signal.SIGTERM)
        tokens.append([line.strip() for line in out.splitlines() if line.strip().startswith("pp_")])
    assert len(tokens[0]) == 1 and tokens[1] == []  # printed on the first start only
    assert (tmp_path / "printprep-data" / "printprep.db").is_file()  # embedded default folder


def test_sigterm_drains_the_job_in_hand(tmp_path: Path, meshes: Path) -> None:
    srv = make_server(tmp_path, {"printers": [], "watch": {"enabled": False},
                                 "pipeline": {"prepare": False}})
    srv.start()
    try:
        with srv.client() as c, open(meshes / RING, "rb") as fh:
            job = c.post("/api/jobs", files={"file": ("ring.stl", fh)},
                         data={"profile": "phrozen-sonic-4k"}).json()
        srv.wait_for(job["id"], ("checking", "repairing", "preparing", "slicing"), 60)
        assert srv.stop(timeout_s=90) in (0, -signal.SIGTERM)
    finally:
        srv.stop()
    assert "Application shutdown complete" in srv.log()
    srv.start()  # no worker would be needed: the job finished its stage before the exit
    try:
        with srv.client() as c:
            after = c.get(f"/api/jobs/{job['id']}").json()
        assert after["state"] == "queued", after["events"]
        assert not any("stopped while" in e["message"] for e in after["events"])
    finally:
        srv.stop()


def test_standalone_worker_process_runs_jobs(tmp_path: Path, meshes: Path) -> None:
    with running_server(tmp_path, {"workers": {"count": 0}, "printers": [],
                                   "watch": {"enabled": False},
                                   "pipeline": {"prepare": False}}) as srv:
        with srv.client() as c, open(meshes / RING, "rb") as fh:
            job = c.post("/api/jobs", files={"file": ("ring.stl", fh)},
                         data={"profile": "phrozen-sonic-4k"}).json()
        time.sleep(1.0)
        assert srv.wait_for(job["id"], "received", 5)["state"] == "received"  # no workers
        worker = subprocess.Popen([*PRINTPREP, "worker", "--config", str(srv.config_path)],
                                  env=srv.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        try:
            done = srv.wait_for(job["id"], ("queued", "failed"), 120)
            assert done["state"] == "queued", done["error"]
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        assert "draining" in err


@pytest.mark.parametrize("unit", ["printprep.service", "printprep-worker@.service"])
def test_systemd_units_verify(unit: str, tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    text = (REPO / "systemd" / unit).read_text()
    for needle in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                   "ReadWritePaths=/var/lib/printprep", "Restart=on-failure", "User=printprep",
                   "--config /etc/printprep/printprep.toml"):
        assert needle in text, needle
    exe = shutil.which("printprep") or str(Path(sys.executable).parent / "printprep")
    # verify needs the program to exist: point the unit at this checkout's printprep
    local = tmp_path / unit.replace("@.service", "@1.service")
    local.write_text(text.replace("/opt/printprep/venv/bin/printprep", exe))
    r = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
