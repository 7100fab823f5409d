"""Printers through the real service: ``GET /api/printers``, SSE ``/api/events``, the CLI.

One ``printprep serve`` with two virtual printers of different profiles; a ring is
submitted for one profile and must be printed there (never on the other printer), with
the printer's status changes and the job's state changes arriving as server-sent events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from helpers.server import running_server

RING = "jewelry/solitaire_ring.stl"
PRINTERS = [
    {"name": "mars", "type": "virtual", "profile": "elegoo-mars-4-dlp", "time_scale": 0.002},
    {"name": "sl1s", "type": "virtual", "profile": "prusa-sl1s", "time_scale": 0.002},
    # as a real printer is configured: a person confirms the plate is cleared
    {"name": "mk4", "type": "virtual", "profile": "prusa-mk4-castable", "time_scale": 0.01,
     "auto_clear": False},
]


def read_sse(url: str, headers: dict[str, str], out: list[tuple[str, dict]],
             stop: threading.Event) -> None:
    """Collect (event, data) pairs from an SSE stream until ``stop`` is set."""
    with httpx.Client(timeout=httpx.Timeout(10.0, read=60.0)) as c:
        with c.stream("GET", url, headers=headers) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind:
                    out.append((kind, json.loads(line[6:])))
                    kind = None
                if stop.is_set():
                    return


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("printers-api")
    with running_server(tmp, {"printers": PRINTERS, "watch": {"enabled": False},
                              "pipeline": {"prepare": False}}) as srv:
        yield srv


def test_printers_need_a_token(server):
    assert httpx.get(f"{server.base_url}/api/printers").status_code == 401
    assert httpx.get(f"{server.base_url}/api/events").status_code == 401


def test_list_and_unknown_printer(server):
    with server.client() as c:
        data = c.get("/api/printers").json()
        names = {p["name"]: p for p in data["printers"]}
        assert set(names) == {"mars", "sl1s", "mk4"}
        assert names["mars"]["profile"] == "elegoo-mars-4-dlp"
        assert names["mars"]["state"] == "idle" and names["mars"]["kind"] == "virtual"
        r = c.get("/api/printers/nope")
        assert r.status_code == 404 and "mars" in r.json()["detail"]
        assert c.post("/api/printers/sl1s/pause").status_code == 409  # nothing to pause


def test_job_prints_on_its_profile_with_live_events(server, meshes: Path):
    events: list[tuple[str, dict]] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_sse, daemon=True, args=(
        f"{server.base_url}/api/events?max_s=120", server.headers(), events, stop))
    reader.start()
    time.sleep(0.5)
    with server.client() as c:
        with open(meshes / RING, "rb") as fh:
            r = c.post("/api/jobs", files={"file": ("ring.stl", fh)},
                       data={"profile": "elegoo-mars-4-dlp"})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        job = server.wait_for(job_id, ("done", "failed", "needs_attention"), timeout_s=180)
        assert job["state"] == "done", job
        assert job["printer"] == "mars"
        msgs = [e["message"] for e in job["events"]]
        assert any(m.startswith("printing on mars") for m in msgs), msgs
        assert any(m.startswith("printed on mars") for m in msgs), msgs
        sl1s = c.get("/api/printers/sl1s").json()
        assert sl1s["state"] == "idle" and sl1s["job_id"] is None
    t0 = time.monotonic()
    while not any(k == "job" and d["id"] == job_id and d["state"] == "done" for k, d in events):
        assert time.monotonic() - t0 < 10, events[-5:]
        time.sleep(0.1)
    stop.set()
    mars_states = [d["state"] for k, d in events if k == "printer" and d["name"] == "mars"]
    assert "printing" in mars_states
    job_states = [d["state"] for k, d in events if k == "job" and d["id"] == job_id]
    assert "queued" in job_states and "printing" in job_states and job_states[-1] == "done"
    assert any(k == "progress" and d["id"] == job_id for k, d in events)
    assert not any(k == "printer" and d["name"] == "sl1s" and d["state"] == "printing"
                   for k, d in events)


def test_cli_shows_live_status(server):
    cmd = [sys.executable, "-m", "printprep", "printers", "--server", server.base_url,
           "--token", server.token]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("mars") for line in lines)
    assert any(line.startswith("sl1s") and "prusa-sl1s" in line for line in lines)
    js = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=60)
    assert {p["name"] for p in json.loads(js.stdout)["printers"]} == {"mars", "sl1s", "mk4"}
    bad = subprocess.run([*cmd, "show", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "no printer named 'nope'" in bad.stderr


def test_cli_check_shows_who_waits_for_the_plate(tmp_path: Path):
    cfg = tmp_path / "printprep.toml"
    cfg.write_text('[[printers]]\nname = "usb"\ntype = "serial"\nprofile = "prusa-mk4-castable"\n'
                   'port = "/dev/ttyACM0"\n\n[[printers]]\nname = "v"\ntype = "virtual"\n'
                   'profile = "prusa-sl1s"\n')
    out = subprocess.run([sys.executable, "-m", "printprep", "printers", "check", "--config",
                          str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    usb, v = out.stdout.splitlines()
    assert usb.startswith("usb") and "waits for plate cleared" in usb and usb.endswith("ok")
    assert v.startswith("v ") and "clears its plate itself" in v


def test_cli_check_and_clients_do_not_need_the_database(tmp_path: Path):
    """A technician's host may reach the service but not its PostgreSQL: checking the
    printers and asking the service for jobs need only the configuration's address."""
    from helpers.server import free_port

    dead = free_port()  # nothing listens there
    cfg = tmp_path / "printprep.toml"
    cfg.write_text(f'[server]\nport = {dead}\n'
                   f'database_url = "postgresql://u:pw@127.0.0.1:{dead}/printprep"\n\n'
                   '[[printers]]\nname = "v"\ntype = "virtual"\nprofile = "prusa-sl1s"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTPREP_")}
    check = subprocess.run([sys.executable, "-m", "printprep", "printers", "check", "--config",
                            str(cfg)], capture_output=True, text=True, timeout=60, env=env)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("v ")
    jobs = subprocess.run([sys.executable, "-m", "printprep", "jobs", "--config", str(cfg),
                           "--token", "t"], capture_output=True, text=True, timeout=60, env=env)
    # it got as far as the (absent) service at the configured port, not a database error
    assert jobs.returncode == 2
    assert "database_url" not in jobs.stderr and str(dead) in jobs.stderr, jobs.stderr


def test_cli_check_names_the_bad_key(tmp_path: Path):
    cfg = tmp_path / "printprep.toml"
    cfg.write_text('[[printers]]\nname = "usb"\ntype = "serial"\nprofile = "prusa-mk4-castable"\n'
                   'port = "/dev/ttyACM0"\nbaud = 115200\n')
    out = subprocess.run([sys.executable, "-m", "printprep", "printers", "check", "--config",
                          str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "printers[0] (usb)" in out.stderr and "unknown key 'baud'" in out.stderr


def _queue_gcode(server, name: str) -> str:
    """A job as the pipeline leaves it for a filament printer: queued, with its G-code
    (a real file the virtual printer reads line by line), written with the store's own
    functions beside the running service."""
    from printprep.service.config import load_settings
    from printprep.service.store import Store

    store = Store.from_settings(load_settings(server.config_path, env=server.env))
    try:
        # created out of the workers' reach (they take "received" jobs), then queued
        job = store.create_job(name=name, source="api", profile="prusa-mk4-castable",
                               state="needs_attention")
        folder = store.job_folder(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["G28", "G90"] + [f"G1 X{10 + i % 30} Y{10 + i // 30} E{i * 0.01:.2f}"
                                  for i in range(300)]
        (folder / f"{name}.gcode").write_text("\n".join(lines) + "\n")
        store.transition(job.id, "queued", "sliced", expect="needs_attention",
                         archive=f"{name}.gcode")
        return job.id
    finally:
        store.close()


def test_a_finished_print_waits_for_the_plate_to_be_cleared(server):
    """mk4 (auto_clear off) finishes a job and holds it; the next job waits until
    ``printprep printers clear mk4`` (the API's POST /api/printers/mk4/clear)."""
    first = _queue_gcode(server, "bangle")
    done = server.wait_for(first, ("done", "failed"), timeout_s=60)
    assert done["state"] == "done" and done["printer"] == "mk4"
    second = _queue_gcode(server, "pendant")
    with server.client() as c:
        time.sleep(1.0)  # a couple of dispatcher ticks
        assert c.get(f"/api/jobs/{second}").json()["state"] == "queued"
        mk4 = c.get("/api/printers/mk4").json()
        assert (mk4["state"], mk4["job_id"], mk4["job_name"]) == ("finished", first, "bangle")
    assert (server.data_dir / "plates.json").is_file(), "held plates survive a restart"
    cmd = [sys.executable, "-m", "printprep", "printers", "--server", server.base_url,
           "--token", server.token]
    shown = subprocess.run([*cmd, "show", "mk4"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "bangle" in shown.stdout
    assert shown.stdout.rstrip().endswith("plate holds the print: printprep printers clear mk4")
    out = subprocess.run([*cmd, "clear", "mk4"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("mk4") and " idle " in out.stdout, out.stdout
    done = server.wait_for(second, ("done", "failed"), timeout_s=60)
    assert done["state"] == "done" and done["printer"] == "mk4"
    with server.client() as c:
        events = [e["message"] for e in c.get(f"/api/jobs/{first}").json()["events"]]
        assert "plate of mk4 cleared by test; it takes the next job" in events, events
        assert c.get("/api/printers/mk4").json()["state"] == "finished"  # the pendant now
        assert c.post("/api/printers/mk4/clear").json()["state"] == "idle"
        assert c.post("/api/printers/nope/clear").status_code == 404
