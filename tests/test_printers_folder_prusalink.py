"""Folder printer on the real file system; PrusaLink connector against a local HTTP stand-in.

PrusaLink itself runs only on Prusa printers (it needs their firmware over serial), so the
PrusaLink tests talk to a small HTTP server on 127.0.0.1 that answers the documented
endpoints the way an SL1S does: /api/version with or without ``upload-by-put``,
PUT /api/v1/files with ``Print-After-Upload``, the OctoPrint-style POST /api/files, and
/api/v1/status moving from PRINTING to FINISHED. It checks the API key on every request.
"""

from __future__ import annotations

import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from printprep.errors import ConfigError, PrinterError
from printprep.printers.registry import create_printer
from printprep.service.dispatch import Dispatcher
from printprep.service.store import Store

KEY = "sl1s-test-key"


def sl1(path: Path, layers: int = 5) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.ini", "printTime = 10\n")
        zf.writestr("prusaslicer.ini", "display_pixels_x = 10\n")
        for i in range(layers):
            zf.writestr(f"ring{i:05d}.png", b"\x89PNG fake layer")
    return path


# -- folder ----------------------------------------------------------------------------

def test_folder_writes_atomically_and_never_overwrites(tmp_path: Path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "ring.sl1").write_bytes(b"somebody else's file")
    src = sl1(tmp_path / "ring.sl1")
    p = create_printer({"name": "usb", "type": "folder", "path": str(stick), "min_free_mb": 0})
    p.connect()
    p.send(src, {"job_id": "j1"})
    p.start()
    st = p.status()
    assert st.state == "finished" and st.job_id == "j1" and st.progress_pct == 100.0
    assert (stick / "ring.sl1").read_bytes() == b"somebody else's file"
    assert (stick / "ring-2.sl1").read_bytes() == src.read_bytes()
    assert not list(stick.glob(".*.part"))


def test_folder_checks_free_space_and_presence(tmp_path: Path):
    stick = tmp_path / "stick"
    stick.mkdir()
    src = sl1(tmp_path / "ring.sl1")
    p = create_printer({"name": "usb", "type": "folder", "path": str(stick),
                        "min_free_mb": 1e12})
    p.connect()
    p.send(src, {"job_id": "j1"})
    with pytest.raises(PrinterError, match=r"printer usb: not enough space in .*stick"):
        p.start()
    assert list(stick.iterdir()) == []
    stick.rmdir()  # the stick is pulled out
    assert p.status().state == "offline"
    assert "does not exist" in p.status().last_error
    with pytest.raises(PrinterError, match="does not exist"):
        p.connect()


def test_folder_job_is_done_through_the_dispatcher(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    stick = tmp_path / "stick"
    stick.mkdir()
    job = store.create_job(name="ring", source="api", profile="prusa-sl1s")
    folder = store.job_folder(job.id)
    folder.mkdir(parents=True)
    sl1(folder / "ring.sl1")
    store.transition(job.id, "queued", "sliced", archive="ring.sl1")
    p = create_printer({"name": "usb", "type": "folder", "profile": "prusa-sl1s",
                        "path": str(stick), "min_free_mb": 0})
    d = Dispatcher(store, {"usb": p}, {"dispatch": {"poll_s": 0.05}})
    d.start()
    try:
        t0 = time.monotonic()
        while store.get(job.id).state != "done":
            assert time.monotonic() - t0 < 10, [e.message for e in store.events(job.id)]
            time.sleep(0.05)
    finally:
        d.stop()
        store.close()
    assert (stick / "ring.sl1").is_file()


# -- PrusaLink stand-in ----------------------------------------------------------------

class _Link:
    def __init__(self, put: bool) -> None:
        self.put = put
        self.files: dict[str, bytes] = {}
        self.state = "IDLE"
        self.progress = 0.0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.job_id = 41
        #: Progress per status request while printing (a long print: a small step).
        self.step_pct = 25.0
        #: Off the network: every request is dropped unanswered (connection closed).
        self.down = False


def _handler(link: _Link):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def _reply(self, code: int, body: object | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _auth(self) -> bool:
            if link.down:
                self.close_connection = True
                return False
            link.requests.append((self.command, self.path, dict(self.headers)))
            if self.headers.get("X-Api-Key") != KEY:
                self._reply(401, {"error": "unauthorized"})
                return False
            return True

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_GET(self):
            if not self._auth():
                return
            if self.path == "/api/version":
                caps = {"upload-by-put": True} if link.put else {}
                self._reply(200, {"api": "2.0.0", "server": "2.1.2", "text": "PrusaLink",
                                  "capabilities": caps})
            elif self.path == "/api/v1/status":
                if link.state == "PRINTING":
                    link.progress = min(100.0, link.progress + link.step_pct)
                    if link.progress >= 100.0:
                        link.state = "FINISHED"
                self._reply(200, {"printer": {"state": link.state, "temp_bed": 25.0,
                                              "temp_nozzle": 24.0},
                                  "job": {"id": link.job_id, "progress": link.progress,
                                          "time_remaining": 100 - link.progress}})
            else:
                self._reply(404, {"error": "not found"})

        def do_PUT(self):
            if not self._auth():
                return
            body = self._body()
            if self.path.startswith("/api/v1/files/local/"):
                link.files[self.path.rsplit("/", 1)[1]] = body
                if self.headers.get("Print-After-Upload") == "?1":
                    link.state, link.progress = "PRINTING", 0.0
                self._reply(201, {})
            elif self.path == f"/api/v1/job/{link.job_id}/pause":
                link.state = "PAUSED"
                self._reply(204)
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self):
            if not self._auth():
                return
            body = self._body()
            if self.path == "/api/files/local":
                link.files["multipart"] = body
                if b'name="print"' in body:
                    link.state, link.progress = "PRINTING", 0.0
                self._reply(201, {"done": True})
            else:
                self._reply(404, {"error": "not found"})

        def do_DELETE(self):
            if not self._auth():
                return
            if self.path == f"/api/v1/job/{link.job_id}":
                link.state = "STOPPED"
                self._reply(204)
            else:
                self._reply(404, {"error": "not found"})

    return H


@pytest.fixture(params=[True, False], ids=["upload-by-put", "octoprint-style"])
def link(request):
    state = _Link(put=request.param)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def prusalink(url: str, **kw):
    cfg = {"name": "sl1s", "type": "prusalink", "profile": "prusa-sl1s", "url": url,
           "api_key": KEY, "poll_s": 0.05, "timeout_s": 5.0, **kw}
    return create_printer(cfg)


def test_prusalink_uploads_starts_and_finishes(link, tmp_path: Path):
    src = sl1(tmp_path / "ring.sl1")
    p = prusalink(link.url)
    try:
        p.connect()
        assert p.upload_by_put is link.put
        p.send(src, {"job_id": "j7"})
        p.start()
        t0 = time.monotonic()
        while p.status().state != "finished":
            assert time.monotonic() - t0 < 10, p.status()
            time.sleep(0.05)
        st = p.status()
        assert st.job_id == "j7" and st.progress_pct == 100.0 and st.temperatures["bed"] == 25.0
    finally:
        p.close()
    if link.put:
        assert link.files["printprep-j7-ring.sl1"] == src.read_bytes()
        put = next(r for r in link.requests if r[0] == "PUT")
        assert put[2]["Print-After-Upload"] == "?1"
    else:
        assert src.read_bytes() in link.files["multipart"]


def test_prusalink_cancel_and_wrong_key(link, tmp_path: Path):
    p = prusalink(link.url)
    try:
        p.connect()
        p.send(sl1(tmp_path / "ring.sl1", layers=50), {"job_id": "j8"})
        link.step_pct = 0.01  # a long print
        p.start()
        time.sleep(0.2)
        assert p.status().state == "printing"
        p.cancel()
        assert p.status().state == "idle" and link.state in ("STOPPED", "PRINTING")
    finally:
        p.close()
    bad = prusalink(link.url, api_key="wrong")
    with pytest.raises(PrinterError, match=r"refused the credentials \(401\)"):
        bad.connect()


def _wait(p, cond, what: str, timeout_s: float = 10.0) -> None:
    t0 = time.monotonic()
    while not cond(p.status()):
        assert time.monotonic() - t0 < timeout_s, f"waiting for {what}: {p.status()}"
        time.sleep(0.05)


def test_prusalink_cancel_while_unreachable_is_sent_when_it_answers(link, tmp_path: Path):
    """The printer drops off the network mid-print and prints on; the job is cancelled
    meanwhile. When it answers again the cancel goes out - unless the print has ended."""
    p = prusalink(link.url, timeout_s=1.0)
    try:
        p.connect()
        p.send(sl1(tmp_path / "ring.sl1", layers=50), {"job_id": "j9"})
        link.step_pct = 0.01  # a long print
        p.start()
        _wait(p, lambda st: st.state == "printing", "printing")
        link.down = True
        _wait(p, lambda st: st.state == "offline", "offline")
        p.cancel()  # what the dispatcher does for a job cancelled in the store
        st = p.status()
        assert st.state == "offline" and st.job_id is None and "cancel pending" in st.last_error
        time.sleep(0.3)
        assert link.state == "PRINTING" and "cancel pending" in p.status().last_error
        link.down = False
        _wait(p, lambda st: "on reconnect" in (st.last_error or ""), "the late cancel")
        assert link.state == "STOPPED"
        assert ("DELETE", f"/api/v1/job/{link.job_id}") in [r[:2] for r in link.requests]
        _wait(p, lambda st: st.state == "idle", "idle after the cancel")

        # Again, but the print ends at the printer before it answers: nothing is sent.
        link.state = "IDLE"
        p.send(sl1(tmp_path / "ring2.sl1"), {"job_id": "j10"})
        p.start()
        _wait(p, lambda st: st.state == "printing", "printing")
        link.down = True
        _wait(p, lambda st: st.state == "offline", "offline")
        p.cancel()
        link.state = "STOPPED"  # stopped at the printer's screen meanwhile
        deletes = sum(r[0] == "DELETE" for r in link.requests)
        link.down = False
        _wait(p, lambda st: "no longer running" in (st.last_error or ""), "the dropped cancel")
        assert sum(r[0] == "DELETE" for r in link.requests) == deletes
    finally:
        p.close()


def test_prusalink_config_needs_one_way_to_log_in():
    with pytest.raises(ConfigError, match="either 'api_key' or 'user' and 'password'"):
        create_printer({"name": "p", "type": "prusalink", "url": "http://127.0.0.1:1"})
    with pytest.raises(ConfigError, match="missing key 'password'"):
        create_printer({"name": "p", "type": "prusalink", "url": "http://127.0.0.1:1",
                        "user": "maker"})
    with pytest.raises(ConfigError, match="must be an http"):
        create_printer({"name": "p", "type": "prusalink", "url": "ftp://x", "api_key": "k"})
