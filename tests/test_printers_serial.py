"""The serial host against a Marlin-like firmware simulator on a real pty.

The G-code is a real print: a ring sliced by prusa-slicer for the castable-filament
profile (its first 1500 commands, to keep each test about a second). Every test checks
the firmware's own record: the commands it accepted must be the file's commands,
exactly once and in order (plus the host's closing ``M400`` check line), or the print
must end in ``error`` with the reason - never a silent loss.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import trimesh
from conftest import require_tool

from printprep.errors import ConfigError, PrinterError
from printprep.printers.registry import create_printer
from printprep.printers.serial.lines import LineQueue, ResendError, checksum, encode
from printprep.printers.serial.parser import parse_line
from printprep.printers.serial.printer import SerialPrinter, read_gcode

sys.path.insert(0, str(Path(__file__).parent))
from firmware_sim import FirmwareSim  # noqa: E402

BAUD = 1_000_000  # paced like a real link, but fast enough for a test suite
N_COMMANDS = 1500


@pytest.fixture(scope="session")
def ring_gcode(meshes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("prusa-slicer")
    from printprep.slicing import slice_gcode

    out = tmp_path_factory.mktemp("gcode")
    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    full = slice_gcode([ring], "prusa-mk4-castable", out / "ring-full.gcode").path
    kept, n = [], 0
    for line in full.read_text().splitlines():
        kept.append(line)
        if line.split(";", 1)[0].strip():
            n += 1
            if n >= N_COMMANDS:
                break
    path = out / "ring.gcode"
    path.write_text("\n".join(kept) + "\n")
    return path


def host(sim: FirmwareSim, **kw) -> SerialPrinter:
    opts = dict(baudrate=BAUD, timeout_s=1.0, busy_timeout_s=1.0, reconnect_s=0.2,
                long_timeout_s=2.0)
    opts.update(kw)
    return SerialPrinter("marlin", "prusa-mk4-castable", port=sim.port, **opts)


def print_file(p: SerialPrinter, path: Path, *, timeout_s: float = 60.0,
               end_states: tuple[str, ...] = ("finished", "error", "idle")) -> str:
    p.connect()
    p.send(path, {"job_id": "job-1"})
    p.start()
    t0 = time.monotonic()
    while True:
        st = p.status()
        if st.state in end_states:
            return st.state
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"print still {st.state} after {timeout_s} s; log {p.log[-5:]}")
        time.sleep(0.02)


def assert_exact(sim: FirmwareSim, path: Path) -> None:
    want = read_gcode(path) + ["M400"]
    got = sim.executed
    assert len(got) == len(want), f"{len(got)} commands arrived, {len(want)} expected"
    first_bad = next((i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b),
                     None)
    assert first_bad is None, f"command {first_bad}: {got[first_bad]!r} != {want[first_bad]!r}"


@pytest.fixture
def sim_factory(tmp_path: Path):
    sims: list[FirmwareSim] = []
    printers: list[SerialPrinter] = []

    def make(**kw) -> tuple[FirmwareSim, SerialPrinter]:
        host_kw = kw.pop("host", {})
        sim = FirmwareSim(tmp_path, baudrate=BAUD, **kw).start()
        sims.append(sim)
        p = host(sim, **host_kw)
        printers.append(p)
        return sim, p

    yield make
    for p in printers:
        p.close()
    for s in sims:
        s.stop()


# -- pure pieces -------------------------------------------------------------------------

def test_checksum_matches_the_reprap_example():
    # RepRap wiki, G-code page: "N3 T0*57"
    assert checksum(b"N3 T0") == 57
    assert encode(3, "T0") == b"N3 T0*57\n"


def test_parser_reads_marlin_replies():
    assert parse_line("ok T:210.5 /215.0 B:60.1 /60.0 @:64").temperatures == {
        "tool0": 210.5, "tool0_target": 215.0, "bed": 60.1, "bed_target": 60.0}
    assert parse_line("Resend: 42").line == 42
    assert parse_line("rs N7").line == 7
    r = parse_line("Error:checksum mismatch, Last Line: 41")
    assert (r.kind, r.line) == ("error", 41)
    assert parse_line("Error:Printer halted. kill() called!").kind == "fatal"
    assert parse_line("echo:busy: processing").kind == "busy"
    assert parse_line("start").kind == "start"
    assert parse_line("Cap:AUTOREPORT_TEMP:1").message == "AUTOREPORT_TEMP"
    assert parse_line("FIRMWARE_NAME:Marlin 2.1.2 SOURCE_CODE_URL:x").message == "Marlin 2.1.2"


def test_resend_outside_the_history_is_refused():
    q = LineQueue(history=10, max_lineno=100)
    q.reset(iter([f"G1 X{i}" for i in range(50)]))
    while q.next_to_write() is not None or q.inflight:
        q.on_ok()
    with pytest.raises(ResendError, match="not in the resend history"):
        q.on_resend(3, 2)


def test_read_gcode_refuses_bad_files(tmp_path: Path):
    long = tmp_path / "long.gcode"
    long.write_text("G1 X1\nG1 " + "X1" * 60 + "\n")
    with pytest.raises(PrinterError, match=r"long.gcode:2: command is"):
        read_gcode(long)
    binary = tmp_path / "bin.gcode"
    binary.write_bytes("G1 X1 ; \u00e9\n".encode())
    with pytest.raises(PrinterError, match="not an ASCII"):
        read_gcode(binary)
    empty = tmp_path / "empty.gcode"
    empty.write_text("; only comments\n\n")
    with pytest.raises(PrinterError, match="no commands"):
        read_gcode(empty)


def test_serial_config_is_checked():
    with pytest.raises(ConfigError, match="missing key 'port'"):
        create_printer({"name": "m", "type": "serial"})
    with pytest.raises(ConfigError, match="'baudrate' must be int"):
        create_printer({"name": "m", "type": "serial", "port": "/dev/x", "baudrate": "fast"})


# -- against the simulator ---------------------------------------------------------------

def test_clean_print_arrives_exactly_once(sim_factory, ring_gcode):
    sim, p = sim_factory()
    assert print_file(p, ring_gcode) == "finished"
    assert_exact(sim, ring_gcode)
    st = p.status()
    assert st.progress_pct == 100.0 and st.line == N_COMMANDS and st.job_id == "job-1"
    assert p.firmware.startswith("Marlin") and p.capabilities["AUTOREPORT_TEMP"]
    assert st.temperatures["tool0"] == 210.0
    assert sim.overflow_bytes == 0  # the window never overfilled the receive buffer


def test_checksum_errors_are_resent(sim_factory, ring_gcode):
    sim, p = sim_factory(corrupt_lines=(5, 6, 700), corrupt_rate=0.02)
    assert print_file(p, ring_gcode) == "finished"
    assert_exact(sim, ring_gcode)
    # a rewind can cover two corrupted lines in flight together, never none
    assert sim.corrupted > 10 and sim.corrupted / 2 <= p.lq.resends <= sim.corrupted


def test_duplicated_resend_requests_do_not_loop(sim_factory, ring_gcode):
    sim, p = sim_factory(corrupt_rate=0.03, duplicate_resend_lines=tuple(range(1, 2000)))
    assert print_file(p, ring_gcode) == "finished"
    assert_exact(sim, ring_gcode)
    assert p.lq.swallowed > 0
    # each corrupted line cost one rewind, not one per duplicated request
    assert p.lq.resends <= sim.corrupted + 2


def test_stale_resend_requests_are_ignored(sim_factory, ring_gcode):
    sim, p = sim_factory(stale_resend_after=(100, 400, 900))
    assert print_file(p, ring_gcode) == "finished"
    assert_exact(sim, ring_gcode)
    assert p.lq.stale == 3 and p.lq.resends == 0


def test_resend_without_ok_is_answered_by_the_host(sim_factory, ring_gcode):
    sim, p = sim_factory(corrupt_rate=0.02, ok_after_resend=False)
    assert print_file(p, ring_gcode) == "finished"
    assert_exact(sim, ring_gcode)
    assert p.lq.faked_oks > 0 and not p.lq.ok_after_resend


def test_dropped_ok_is_recovered_by_a_poke(sim_factory, ring_gcode):
    # the last one is the M400 check line: the host must ask again, not hang or guess
    sim, p = sim_factory(drop_ok_lines=(50, N_COMMANDS + 1))
    assert print_file(p, ring_gcode) == "finished"
    assert_exact(sim, ring_gcode)
    assert any("poking with M105" in m for m in p.log)


def test_busy_keepalive_during_long_moves_is_not_a_timeout(sim_factory, tmp_path, ring_gcode):
    lines = ring_gcode.read_text().splitlines()
    lines.insert(200, "G4 P2500 ; dwell longer than the host timeout")
    path = tmp_path / "dwell.gcode"
    path.write_text("\n".join(lines) + "\n")
    sim, p = sim_factory(busy_interval_s=0.4, host={"timeout_s": 1.0, "busy_timeout_s": 1.0})
    assert print_file(p, path) == "finished"
    assert_exact(sim, path)
    assert not any("poking" in m for m in p.log), p.log


def test_firmware_reset_mid_print_ends_the_job(sim_factory, ring_gcode):
    sim, p = sim_factory(reset_at_line=600)
    assert print_file(p, ring_gcode) == "error"
    st = p.status()
    assert "firmware restarted" in st.last_error and "at line" in st.last_error
    # nothing after the reset was taken, and nothing twice
    want = read_gcode(ring_gcode)
    assert sim.executed == want[: len(sim.executed)]
    assert len(sim.executed) == 600  # N1..N600: the reset came after line 600


def test_fatal_error_ends_the_job(sim_factory, ring_gcode):
    sim, p = sim_factory(fatal_at_line=300)
    assert print_file(p, ring_gcode) == "error"
    assert "Printer halted" in p.status().last_error


def test_resend_outside_history_fails_the_print(sim_factory, ring_gcode):
    sim, p = sim_factory(rewind_at={500: 10}, host={"history": 100, "max_lineno": 1000})
    assert print_file(p, ring_gcode) == "error"
    assert "not in the resend history" in p.status().last_error


def test_line_counter_wraps_with_m110(sim_factory, ring_gcode):
    sim, p = sim_factory(corrupt_rate=0.01, host={"history": 100, "max_lineno": 250})
    assert print_file(p, ring_gcode) == "finished"
    assert_exact(sim, ring_gcode)


def test_pause_and_resume(sim_factory, ring_gcode):
    sim, p = sim_factory()
    p.connect()
    p.send(ring_gcode, {"job_id": "j"})
    p.start()
    while p.status().line in (None, 0) or p.status().line < 200:
        time.sleep(0.01)
    p.pause()
    time.sleep(0.2)
    n = len(sim.executed)
    time.sleep(0.5)
    assert len(sim.executed) == n and p.status().state == "paused"
    p.resume()
    t0 = time.monotonic()
    while p.status().state != "finished":
        assert time.monotonic() - t0 < 30
        time.sleep(0.02)
    assert_exact(sim, ring_gcode)


def test_cancel_stops_streaming_and_cools_down(sim_factory, ring_gcode):
    sim, p = sim_factory()
    p.connect()
    p.send(ring_gcode, {"job_id": "j"})
    p.start()
    while (p.status().line or 0) < 300:
        time.sleep(0.01)
    p.cancel()
    time.sleep(0.5)
    st = p.status()
    assert st.state == "idle" and st.job_id is None and st.last_error == "cancelled"
    assert sim.executed[-4:] == ["M104 S0", "M140 S0", "M107", "M84"]
    assert len(sim.executed) < N_COMMANDS


def test_cable_pulled_and_replugged_without_restart_carries_on(sim_factory, ring_gcode):
    sim, p = sim_factory(pull_at_line=700, replug_after_s=0.3, reset_on_replug=False)
    assert print_file(p, ring_gcode, end_states=("finished", "error", "idle")) == "finished"
    assert_exact(sim, ring_gcode)
    assert any("connection lost" in m for m in p.log), p.log[-30:]
    # the burst of resend requests after the replug is summed up, not one entry a line
    resends = [i for i, m in enumerate(p.log) if " resend request" in m]
    assert all(b - a > 1 for a, b in zip(resends, resends[1:], strict=False)), p.log[-30:]


def test_cable_pulled_and_printer_restarted_loses_the_print(sim_factory, ring_gcode):
    sim, p = sim_factory(pull_at_line=700, replug_after_s=0.3, reset_on_replug=True)
    assert print_file(p, ring_gcode) == "idle"
    st = p.status()
    assert "connection was lost" in st.last_error and "restarted" in st.last_error
    assert st.job_id is None


def test_cable_pulled_for_good_keeps_the_job_offline(sim_factory, ring_gcode):
    sim, p = sim_factory(pull_at_line=700)
    assert print_file(p, ring_gcode, end_states=("offline",)) == "offline"
    st = p.status()
    assert st.job_id == "job-1" and "connection lost" in st.last_error


def test_port_that_does_not_exist(tmp_path):
    p = SerialPrinter("m", "prusa-mk4-castable", port=str(tmp_path / "nope"))
    with pytest.raises(PrinterError, match="printer m: cannot open .*nope"):
        p.connect()
    assert p.status().state == "offline"


def test_device_that_never_answers(tmp_path):
    master, slave = os.openpty()
    try:
        p = SerialPrinter("m", "prusa-mk4-castable", port=os.ttyname(slave), timeout_s=0.5)
        with pytest.raises(PrinterError, match="no reply from the firmware"):
            p.connect()
    finally:
        os.close(master)
        os.close(slave)


def test_serial_job_through_the_dispatcher(sim_factory, ring_gcode, tmp_path):
    from printprep.service.dispatch import Dispatcher
    from printprep.service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path)
    job = store.create_job(name="ring", source="api", profile="prusa-mk4-castable")
    folder = store.job_folder(job.id)
    folder.mkdir(parents=True)
    (folder / "ring.gcode").write_bytes(ring_gcode.read_bytes())
    store.transition(job.id, "queued", "sliced", archive="ring.gcode")
    sim, p = sim_factory(corrupt_rate=0.01)
    d = Dispatcher(store, {"marlin": p}, {"dispatch": {"poll_s": 0.05}})
    d.start()
    try:
        t0 = time.monotonic()
        while store.get(job.id).state not in ("done", "failed", "needs_attention"):
            assert time.monotonic() - t0 < 60, [e.message for e in store.events(job.id)]
            time.sleep(0.05)
    finally:
        d.stop()
    done = store.get(job.id)
    assert done.state == "done" and done.printer == "marlin", done.error
    assert_exact(sim, ring_gcode)
    assert any(e.message.startswith("printed on marlin") for e in store.events(job.id))
    store.close()


def test_job_cancelled_while_the_cable_is_out_does_not_resume(sim_factory, ring_gcode):
    sim, p = sim_factory(pull_at_line=700, replug_after_s=1.0, reset_on_replug=False)
    assert print_file(p, ring_gcode, end_states=("offline",)) == "offline"
    p.cancel()  # what the dispatcher does when the job is cancelled meanwhile
    time.sleep(2.5)  # the cable is back and the port reopened
    st = p.status()
    assert st.state == "idle" and st.job_id is None
    assert len(sim.executed) < 710  # nothing of the file after the pull
