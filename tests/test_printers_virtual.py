"""The virtual printer and the connector registry: real archives, real G-code, bad configs."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
import trimesh
from conftest import require_tool

from printprep.errors import ConfigError, PrinterError
from printprep.printers.base import Printer
from printprep.printers.registry import CONNECTORS, create_printer, validate_printers
from printprep.printers.virtual import archive_layers
from printprep.profiles import load_profile
from printprep.slicing import read_archive, slice_to_archive


@pytest.fixture(scope="module")
def ring_sl1(meshes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("virtual")
    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    return slice_to_archive([ring], load_profile("prusa-sl1s"), out / "ring.sl1",
                            layer_height_mm=0.1).path


def virtual(**kw):
    return create_printer({"name": "v", "type": "virtual", "profile": "prusa-sl1s", **kw})


def wait(p, states, timeout_s=20.0):
    t0 = time.monotonic()
    while p.status().state not in states:
        assert time.monotonic() - t0 < timeout_s, p.status()
        time.sleep(0.02)
    return p.status()


def test_every_connector_satisfies_the_protocol():
    from printprep.printers.registry import printer_class

    for ptype in CONNECTORS:
        cls = printer_class(ptype)
        for method in ("connect", "status", "send", "start", "pause", "resume", "cancel",
                       "clear", "close", "from_config"):
            assert callable(getattr(cls, method, None)), f"{ptype} lacks {method}"
    assert isinstance(virtual(), Printer)


def test_virtual_prints_the_archive_layer_by_layer(ring_sl1: Path):
    names, print_time_s = archive_layers(ring_sl1)
    assert len(names) == read_archive(ring_sl1).layer_count
    assert print_time_s and print_time_s > 0
    p = virtual(time_scale=0.0005)
    p.connect()
    p.send(ring_sl1, {"job_id": "j"})
    st = p.status()
    assert st.layer_count == len(names) and st.layer == 0
    assert st.time_left_s == pytest.approx(print_time_s)
    p.start()
    layers = []
    while (st := p.status()).state == "printing":
        layers.append(st.layer)
        time.sleep(0.01)
    assert st.state == "finished" and st.layer == len(names) and st.progress_pct == 100.0
    assert layers == sorted(layers) and len(set(layers)) > 3  # it advanced in steps


def test_virtual_pause_resume_cancel(ring_sl1: Path):
    p = virtual(time_scale=0.002)
    p.connect()
    p.send(ring_sl1, {"job_id": "j"})
    p.start()
    time.sleep(0.3)
    p.pause()
    layer = p.status().layer
    time.sleep(0.3)
    assert p.status().state == "paused" and p.status().layer == layer
    p.resume()
    time.sleep(0.2)
    assert p.status().layer > layer
    p.cancel()
    st = p.status()
    assert st.state == "idle" and st.job_id is None and st.last_error == "cancelled"
    with pytest.raises(PrinterError, match="cannot start: no file was sent"):
        p.start()


def test_virtual_prints_gcode_line_by_line(meshes: Path, tmp_path: Path):
    require_tool("prusa-slicer")
    from printprep.slicing import slice_gcode

    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    gcode = slice_gcode([ring], "prusa-mk4-castable", tmp_path / "ring.gcode").path
    n = sum(1 for line in gcode.read_text().splitlines() if line.split(";")[0].strip())
    p = create_printer({"name": "fff", "type": "virtual", "profile": "prusa-mk4-castable",
                        "time_scale": 0.01, "line_s": 0.01})
    p.connect()
    p.send(gcode, {"job_id": "g"})
    assert p.status().line_count == n
    p.start()
    st = wait(p, ("finished", "error"))
    assert st.state == "finished" and st.line == n


def test_damaged_archive_fails_where_the_damage_is(ring_sl1: Path, tmp_path: Path):
    bad = tmp_path / "bad.sl1"
    data = bytearray(ring_sl1.read_bytes())
    names, _ = archive_layers(ring_sl1)
    with zipfile.ZipFile(ring_sl1) as zf:
        info = zf.getinfo(names[len(names) // 2])
    # flip bytes inside the middle layer's compressed data: its CRC check must fail
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 8
    for i in range(start, start + 16):
        data[i] ^= 0xFF
    bad.write_bytes(bytes(data))
    p = virtual(time_scale=0.0005)
    p.connect()
    p.send(bad, {"job_id": "j"})
    p.start()
    st = wait(p, ("finished", "error"))
    assert st.state == "error" and "cannot read layer" in st.last_error
    assert 0 < st.progress_pct < 100


def test_send_refuses_files_that_are_not_prints(tmp_path: Path):
    p = virtual()
    p.connect()
    empty_zip = tmp_path / "empty.sl1"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("config.ini", "")
    with pytest.raises(PrinterError, match="printer v: .*empty.sl1: archive holds no layer"):
        p.send(empty_zip, {"job_id": "j"})
    with pytest.raises(PrinterError, match="file not found"):
        p.send(tmp_path / "missing.sl1", {"job_id": "j"})
    assert p.status().state == "idle" and p.status().job_id is None


@pytest.mark.parametrize("config, message", [
    ({"name": "x", "type": "teleporter"}, "unknown printer type 'teleporter'"),
    ({"name": "x"}, "missing key 'type'"),
    ({"name": "x", "type": "virtual", "speed": 2}, "unknown key 'speed' for a virtual printer"),
    ({"name": "x", "type": "virtual", "time_scale": 0}, "'time_scale' must be > 0"),
    ({"name": "x", "type": "virtual", "fail_at_pct": 150}, "between 0 and 100"),
    ({"name": "x", "type": "virtual", "reboot_on_reconnect": 1}, "must be bool"),
    ({"name": "x y", "type": "virtual"}, "'name' must be"),
    ({"name": "x", "type": "octoprint", "url": "http://h"}, "missing key 'api_key'"),
    ({"name": "x", "type": "folder"}, "missing key 'path'"),
    ({"name": "x", "type": "virtual", "profile": "nope"}, "key 'profile': .*unknown printer profile"),
])
def test_bad_configs_name_the_printer_and_key(config, message):
    with pytest.raises(ConfigError, match=message) as err:
        create_printer(config)
    assert "printer" in str(err.value)


def test_duplicate_names_are_refused():
    with pytest.raises(ConfigError, match="printers\\[1\\]: duplicate printer name 'a'"):
        validate_printers([{"name": "a", "type": "virtual"}, {"name": "a", "type": "virtual"}])
