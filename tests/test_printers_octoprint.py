"""The OctoPrint connector against a REAL OctoPrint server with its virtual printer.

OctoPrint runs from its own venv (``$PRINTPREP_OCTOPRINT_VENV`` or ``.octoprint-venv``,
installed by scripts/install-system-deps), set up as domain.md §4 describes, on a free
127.0.0.1 port. The G-code is a real slice of a ring (prusa-slicer, castable profile);
its heat-and-wait commands are dropped because OctoPrint's virtual printer heats at
simulated speed, which would only make the test slow.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trimesh
from conftest import REPO, require, require_tool

from printprep.errors import PrinterError
from printprep.printers.registry import create_printer

API_KEY = "PRINTPREPTESTKEY0123456789ABCDEF"
CONFIG_YAML = """\
server:
  firstRun: false
  onlineCheck:
    enabled: false
plugins:
  virtual_printer:
    enabled: true
    simulated_errors: []
  _disabled:
  - announcements
  - pluginmanager
  - softwareupdate
  - tracking
  - errortracking
  - achievements
  - backup
  - firmware_check
  - healthcheck
"""
HEAT_WAITS = ("M109", "M190", "M104", "M140")


def octoprint_exe() -> Path:
    venv = Path(os.environ.get("PRINTPREP_OCTOPRINT_VENV", REPO / ".octoprint-venv"))
    return venv / "bin" / "octoprint"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class OctoPrintServer:
    url: str
    proc: subprocess.Popen


@pytest.fixture(scope="module")
def octoprint(tmp_path_factory: pytest.TempPathFactory):
    """A running OctoPrint (admin user with API key ``API_KEY``): its URL and process."""
    exe = octoprint_exe()
    require(exe.is_file(), f"OctoPrint is not installed at {exe} (make system-deps)")
    base = tmp_path_factory.mktemp("octoprint")
    (base / "config.yaml").write_text(CONFIG_YAML)
    subprocess.run([str(exe), "-b", str(base), "user", "add", "admin", "--password",
                    "printprep-test-pw", "--admin"], check=True, capture_output=True,
                   timeout=120)
    users = base / "users.yaml"
    text = users.read_text()
    assert "apikey: null" in text, text
    users.write_text(text.replace("apikey: null", f"apikey: {API_KEY}"))
    port = free_port()
    log = open(base / "serve.log", "wb")
    proc = subprocess.Popen([str(exe), "-b", str(base), "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--iknowwhatimdoing"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        while True:
            try:
                r = httpx.get(f"{url}/api/version", headers={"X-Api-Key": API_KEY}, timeout=1)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() - t0 > 90:
                raise AssertionError("OctoPrint did not start:\n"
                                     + (base / "serve.log").read_text()[-3000:])
            time.sleep(0.25)
        yield OctoPrintServer(url, proc)
    finally:
        proc.send_signal(signal.SIGCONT)  # should a test have stopped it
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def ring_gcode(meshes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sliced ring's first 400 commands, without heat-and-wait commands."""
    require_tool("prusa-slicer")
    from printprep.slicing import slice_gcode

    out = tmp_path_factory.mktemp("octo-gcode")
    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    full = slice_gcode([ring], "prusa-mk4-castable", out / "ring-full.gcode").path
    kept = []
    for line in full.read_text().splitlines():
        cmd = line.split(";", 1)[0].strip()
        if cmd and not cmd.startswith(HEAT_WAITS):
            kept.append(line)
        if len(kept) >= 400:
            break
    path = out / "ring.gcode"
    path.write_text("\n".join(kept) + "\n")
    return path


def printer(url: str, key: str = API_KEY, **kw):
    return create_printer({"name": "octo", "type": "octoprint", "profile": "prusa-mk4-castable",
                           "url": url, "api_key": key, "serial_port": "VIRTUAL",
                           "poll_s": 0.25, "timeout_s": 10.0, **kw})


def wait_state(p, states: tuple[str, ...], timeout_s: float) -> str:
    t0 = time.monotonic()
    while (st := p.status().state) not in states:
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"still {st} after {timeout_s} s: {p.status()}")
        time.sleep(0.1)
    return st


def octoprint_job(server: OctoPrintServer) -> dict:
    """OctoPrint's own view of its job (``GET /api/job``)."""
    return httpx.get(f"{server.url}/api/job", headers={"X-Api-Key": API_KEY}, timeout=10).json()


def test_print_to_completion_then_cancel_a_second(octoprint, ring_gcode, tmp_path):
    p = printer(octoprint.url)
    try:
        p.connect()
        assert p.status().state == "idle"
        p.send(ring_gcode, {"job_id": "job1"})
        # the file is on the server under the job's name
        files = httpx.get(f"{octoprint.url}/api/files/local", headers={"X-Api-Key": API_KEY},
                          timeout=10).json()["files"]
        assert any(f["name"] == "printprep-job1-ring.gcode" for f in files)
        p.start()
        seen = set()
        t0 = time.monotonic()
        while (st := p.status()).state != "finished":
            seen.add(st.state)
            assert st.state in ("printing", "busy"), st
            assert time.monotonic() - t0 < 120, st
            time.sleep(0.1)
        st = p.status()
        assert st.job_id == "job1" and st.progress_pct == 100.0
        assert "printing" in seen
        assert "tool0" in st.temperatures

        # a second job, cancelled while it prints
        p.clear()
        second = tmp_path / "second.gcode"
        shutil.copy(ring_gcode, second)
        p.send(second, {"job_id": "job2"})
        p.start()
        wait_state(p, ("printing",), 30)
        time.sleep(1.0)
        p.cancel()
        st = p.status()
        assert st.state == "idle" and st.job_id is None and st.last_error == "cancelled"
        job = octoprint_job(octoprint)
        t0 = time.monotonic()
        while job["state"].lower().startswith(("cancelling", "printing")):
            assert time.monotonic() - t0 < 30
            time.sleep(0.2)
            job = octoprint_job(octoprint)
        # OctoPrint stopped the print short of the end
        assert job["state"] == "Operational"
        assert (job["progress"]["completion"] or 0) < 100
    finally:
        p.close()


def test_wrong_api_key_is_a_clear_error(octoprint):
    p = printer(octoprint.url, key="not-the-key")
    with pytest.raises(PrinterError, match=r"printer octo: .*rejected the API key \(403\)"):
        p.connect()
    assert p.status().state == "offline"


def test_unreachable_server_is_offline(tmp_path):
    p = printer(f"http://127.0.0.1:{free_port()}", timeout_s=2.0)
    with pytest.raises(PrinterError, match="cannot reach the server"):
        p.connect()
    assert p.status().state == "offline"


def test_resin_archive_is_refused_before_upload(octoprint, tmp_path):
    p = printer(octoprint.url)
    try:
        p.connect()
        archive = tmp_path / "ring.sl1"
        archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
        with pytest.raises(PrinterError, match="G-code files only"):
            p.send(archive, {"job_id": "j"})
    finally:
        p.close()


def test_a_cancel_while_octoprint_is_unreachable_is_sent_when_it_answers(
    octoprint, ring_gcode, tmp_path
):
    """OctoPrint stops answering mid-print (its process frozen: no reply, as with a pulled
    network cable); the job is cancelled meanwhile. When it answers again, the cancel is
    sent: OctoPrint stops the print short of the end instead of printing it through."""
    p = printer(octoprint.url, timeout_s=1.5)
    try:
        p.connect()
        third = tmp_path / "third.gcode"
        shutil.copy(ring_gcode, third)
        p.send(third, {"job_id": "job3"})
        p.start()
        wait_state(p, ("printing",), 30)
        time.sleep(0.5)
        octoprint.proc.send_signal(signal.SIGSTOP)
        try:
            wait_state(p, ("offline",), 15)
            p.cancel()  # what the dispatcher does for a job cancelled in the store
            st = p.status()
            assert st.state == "offline" and st.job_id is None
            assert "cancel pending" in st.last_error and octoprint.url in st.last_error
            time.sleep(1.0)  # polls that still fail keep the cancel pending
            assert "cancel pending" in p.status().last_error
        finally:
            octoprint.proc.send_signal(signal.SIGCONT)
        t0 = time.monotonic()
        while "on reconnect" not in (p.status().last_error or ""):
            assert time.monotonic() - t0 < 30, p.status()
            time.sleep(0.1)
        assert "printprep-job3-third.gcode" in p.status().last_error
        job = octoprint_job(octoprint)
        while job["state"].lower().startswith(("cancelling", "printing")):
            assert time.monotonic() - t0 < 60, job
            time.sleep(0.2)
            job = octoprint_job(octoprint)
        assert job["state"] == "Operational"
        assert job["job"]["file"]["name"] == "printprep-job3-third.gcode"
        assert (job["progress"]["completion"] or 0) < 100, "cancelled, not printed through"
        assert wait_state(p, ("idle",), 15) == "idle" and p.status().job_id is None
    finally:
        p.close()


def test_a_pending_cancel_outlives_a_restart_of_the_service(octoprint, ring_gcode, tmp_path):
    """The dispatcher follows a job on OctoPrint; OctoPrint stops answering; the job is
    cancelled; printprep itself stops and starts again before OctoPrint is back. The new
    run still sends the cancel (kept in cancels.json), and the job's history says so."""
    from printprep.service.dispatch import Dispatcher
    from printprep.service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path)
    config = {"dispatch": {"poll_s": 0.1, "reconnect_s": 0.5}, "data_dir": tmp_path}
    stopped = False
    try:
        job = store.create_job(name="bangle", source="api", profile="prusa-mk4-castable").id
        folder = store.job_folder(job)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(ring_gcode, folder / "bangle.gcode")
        store.transition(job, "queued", "sliced", archive="bangle.gcode")
        first = printer(octoprint.url, timeout_s=1.5)
        d = Dispatcher(store, {"octo": first}, config)
        d.start()
        try:
            wait_state(first, ("printing",), 60)
            time.sleep(0.5)
            octoprint.proc.send_signal(signal.SIGSTOP)
            stopped = True
            wait_state(first, ("offline",), 15)
            store.transition(job, "cancelled", "cancelled by test", expect="printing")
            t0 = time.monotonic()
            while not (tmp_path / "cancels.json").is_file():
                assert time.monotonic() - t0 < 10, "the pending cancel was not written down"
                time.sleep(0.05)
        finally:
            d.stop()  # printprep stops while OctoPrint is still unreachable
        assert "octo" in (tmp_path / "cancels.json").read_text()

        second = printer(octoprint.url, timeout_s=1.5)  # the next run's connector
        d = Dispatcher(store, {"octo": second}, config)
        d.start()
        try:
            octoprint.proc.send_signal(signal.SIGCONT)
            stopped = False
            t0 = time.monotonic()
            while not any("settled" in e.message for e in store.events(job)):
                assert time.monotonic() - t0 < 60, second.status()
                time.sleep(0.1)
            job_view = octoprint_job(octoprint)
            while job_view["state"].lower().startswith(("cancelling", "printing")):
                assert time.monotonic() - t0 < 90, job_view
                time.sleep(0.2)
                job_view = octoprint_job(octoprint)
        finally:
            d.stop()
        assert (job_view["progress"]["completion"] or 0) < 100, "cancelled, not printed through"
        settled = [e.message for e in store.events(job) if "settled" in e.message]
        assert "on reconnect" in settled[0], settled
        assert "cancelling the print on octo (offline: the cancel is sent when it is back)" in [
            e.message for e in store.events(job)]
        assert "octo" not in (tmp_path / "cancels.json").read_text()
    finally:
        if stopped:
            octoprint.proc.send_signal(signal.SIGCONT)
        store.close()
