"""Loading: every format, every kind of bad file, unit detection and limits.

Damaged files are written into tmp_path from the shared meshes (never edited in place).
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from printprep.errors import MeshError
from printprep.mesh import LoadLimits, load_mesh, save_mesh
from printprep.mesh.load import detect_units


def _binary_stl(path: Path, tri: np.ndarray, header: bytes = b"") -> Path:
    """Write a binary STL by hand (independent of the code under test)."""
    with open(path, "wb") as fh:
        fh.write(header.ljust(80, b" ")[:80])
        fh.write(struct.pack("<I", len(tri)))
        for t in tri:
            fh.write(struct.pack("<12fH", 0, 0, 0, *t.reshape(-1), 0))
    return path


def _cube_soup(size: float = 10.0) -> np.ndarray:
    """(12, 3, 3) float triangles of an outward cube of edge ``size``."""
    v = np.array([[x, y, z] for x in (0, size) for y in (0, size) for z in (0, size)], dtype=float)
    f = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
         (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]
    return v[np.array(f)]


def test_binary_stl_fast_path_matches_numpy_stl(meshes: Path) -> None:
    from stl import mesh as npstl

    path = meshes / "io" / "numpystl_rear_case.stl"
    loaded = load_mesh(path, units="mm")
    ref = npstl.Mesh.from_file(str(path))
    assert len(loaded.mesh.faces) == len(ref.vectors) == 18808
    assert loaded.mesh.volume == pytest.approx(ref.get_mass_properties()[0], rel=1e-6)
    assert loaded.format == "stl"


def test_binary_stl_whose_header_starts_with_solid(tmp_path: Path) -> None:
    path = _binary_stl(tmp_path / "solid.stl", _cube_soup(), header=b"solid looks like ascii but is binary")
    loaded = load_mesh(path, units="mm")
    assert len(loaded.mesh.faces) == 12
    assert loaded.mesh.volume == pytest.approx(1000.0)


def test_ascii_stl(meshes: Path) -> None:
    loaded = load_mesh(meshes / "io" / "numpystl_bwb.stl")
    assert len(loaded.mesh.faces) == 4464
    assert loaded.mesh.is_watertight


@pytest.mark.parametrize("name", ["numpystl_CubeInvalidUnicode.stl", "numpystl_StarWithEmptyHeader.stl"])
def test_odd_binary_headers(meshes: Path, name: str) -> None:
    loaded = load_mesh(meshes / "io" / name)
    assert len(loaded.mesh.faces) > 0
    assert loaded.mesh.is_watertight


def test_obj_ply_and_3mf_load(meshes: Path) -> None:
    assert len(load_mesh(meshes / "broken" / "manifold_self_intersectA.obj").mesh.faces) == 17160
    assert len(load_mesh(meshes / "broken" / "pymeshfix_planar_mesh.ply").mesh.faces) == 2553
    three = load_mesh(meshes / "broken" / "trimesh_featuretype.3MF")
    assert three.units == "inch" and three.scale == 25.4 and not three.units_detected
    assert three.mesh.extents.max() == pytest.approx(5.0 * 25.4, rel=1e-6)


def _write_3mf(path: Path, unit: str, items: list[str]) -> Path:
    verts = "".join(f'<vertex x="{x}" y="{y}" z="{z}"/>' for x, y, z in _cube_soup(1.0).reshape(-1, 3))
    tris = "".join(f'<triangle v1="{3 * i}" v2="{3 * i + 1}" v3="{3 * i + 2}"/>' for i in range(12))
    model = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<model unit="{unit}" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">'
        f'<resources><object id="1" type="model"><mesh><vertices>{verts}</vertices>'
        f"<triangles>{tris}</triangles></mesh></object>"
        '<object id="2" type="model"><components><component objectid="1" transform="2 0 0 0 2 0 0 0 2 0 0 0"/></components></object>'
        f"</resources><build>{''.join(items)}</build></model>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("3D/3dmodel.model", model)
    return path


def test_3mf_build_items_transforms_components_and_unit(tmp_path: Path) -> None:
    path = _write_3mf(
        tmp_path / "two.3mf", "centimeter",
        ['<item objectid="1" transform="1 0 0 0 1 0 0 0 1 5 0 0"/>', '<item objectid="2"/>'],
    )
    loaded = load_mesh(path)
    assert loaded.units == "cm" and loaded.scale == 10.0
    # a 1 cm cube moved 5 cm along x, plus the same cube scaled ×2 by a component
    assert loaded.mesh.volume == pytest.approx(1000.0 + 8000.0)
    assert loaded.mesh.bounds[1][0] == pytest.approx(60.0)


def test_3mf_missing_object_is_a_clear_error(tmp_path: Path) -> None:
    path = _write_3mf(tmp_path / "bad.3mf", "millimeter", ['<item objectid="9"/>'])
    with pytest.raises(MeshError, match=r"bad\.3mf.*missing object id"):
        load_mesh(path)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("empty.stl", lambda p: p.write_bytes(b""), "empty"),
        ("short.stl", lambda p: p.write_bytes(b"\x00" * 40), "truncated"),
        ("zero.stl", lambda p: _binary_stl(p, np.zeros((0, 3, 3))), "zero triangles"),
        ("count.stl", lambda p: p.write_bytes(_binary_stl(p, _cube_soup()).read_bytes()[:-30]), "12 triangles"),
        ("nan.stl", lambda p: _binary_stl(p, np.where(np.eye(3)[None], np.nan, _cube_soup())), "NaN"),
        ("ascii_cut.stl", lambda p: p.write_text("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n"), "truncated|endsolid"),
        ("bad.xyz", lambda p: p.write_text("1 2 3"), "unknown mesh format"),
        ("bad.obj", lambda p: p.write_text("this is not an obj\n"), "triangles|cannot read"),
        ("bad.3mf", lambda p: p.write_bytes(b"PK not really"), "not a 3MF"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, name, make, message) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(MeshError, match=message) as info:
        load_mesh(path)
    assert name in str(info.value)
    assert info.value.exit_code == 2


def test_absurd_coordinates_are_refused(meshes: Path) -> None:
    with pytest.raises(MeshError, match="absurd coordinates"):
        load_mesh(meshes / "io" / "manifold_Cray_right.obj")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MeshError, match="cannot open"):
        load_mesh(tmp_path / "nope.stl")


def test_limits(meshes: Path) -> None:
    path = meshes / "jewelry" / "solitaire_ring.stl"
    with pytest.raises(MeshError, match="exceed the limit of 1000"):
        load_mesh(path, limits=LoadLimits(max_triangles=1000))
    with pytest.raises(MeshError, match="over the limit of 1000 bytes"):
        load_mesh(path, limits=LoadLimits(max_bytes=1000))


def test_units_are_detected_and_reported(tmp_path: Path, meshes: Path) -> None:
    ring = load_mesh(meshes / "jewelry" / "solitaire_ring.stl")
    assert ring.units == "mm" and ring.scale == 1.0 and ring.units_detected
    inch = tmp_path / "ring_inch.stl"
    _binary_stl(inch, ring.mesh.triangles / 25.4)
    loaded = load_mesh(inch)
    assert loaded.units == "inch" and loaded.scale == 25.4 and loaded.units_detected
    assert loaded.mesh.volume == pytest.approx(ring.mesh.volume, rel=1e-4)
    metre = tmp_path / "ring_m.stl"
    _binary_stl(metre, ring.mesh.triangles / 1000.0)
    assert load_mesh(metre).units == "m"
    told = load_mesh(inch, units="mm")
    assert told.units == "mm" and not told.units_detected and told.scale == 1.0
    assert load_mesh(inch, units="cm").scale == 10.0
    with pytest.raises(MeshError, match="unknown units"):
        load_mesh(inch, units="furlong")


def test_detect_units_thresholds() -> None:
    assert detect_units(20.0)[0] == "mm"  # a ring
    assert detect_units(110.0)[0] == "mm"  # a bangle
    assert detect_units(0.8)[0] == "inch"  # a ring exported in inches
    assert detect_units(0.02)[0] == "m"  # a ring exported in metres
    assert detect_units(300.0)[0] == "mm"  # nothing fits: keep mm and say so
    assert "assumed mm" in detect_units(300.0)[1]


@pytest.mark.parametrize("ext", ["stl", "3mf", "ply", "obj"])
def test_save_and_reload_every_format(tmp_path: Path, meshes: Path, ext: str) -> None:
    ring = load_mesh(meshes / "jewelry" / "solitaire_ring.stl")
    out = save_mesh(ring.mesh, tmp_path / f"ring.{ext}")
    back = load_mesh(out, units="mm")
    assert len(back.mesh.faces) == len(ring.mesh.faces)
    assert back.mesh.volume == pytest.approx(ring.mesh.volume, rel=1e-5)


def test_save_refuses_unknown_format(tmp_path: Path, meshes: Path) -> None:
    ring = load_mesh(meshes / "jewelry" / "solitaire_ring.stl")
    with pytest.raises(MeshError, match="cannot write format"):
        save_mesh(ring.mesh, tmp_path / "ring.dxf")


@pytest.mark.parametrize("header", [b"", b"STLB ATF 10.10.0.24 COLOR=", b"solid exported by CAD"])
def test_binary_stl_cut_to_a_third_says_truncated(meshes: Path, tmp_path: Path, header: bytes) -> None:
    from printprep.mesh.io_stl import looks_like_binary_stl

    data = bytearray((meshes / "jewelry" / "solitaire_ring.stl").read_bytes())
    data[: len(header)] = header
    count = int(np.frombuffer(bytes(data[80:84]), "<u4")[0])
    cut = bytes(data[: len(data) // 3])
    path = tmp_path / "cut.stl"
    path.write_bytes(cut)
    held = (len(cut) - 84) // 50
    with pytest.raises(MeshError, match=rf"truncated: header says {count} triangles .*file holds {held} ") as info:
        load_mesh(path)
    assert "cut.stl" in str(info.value)
    # the service's content sniffing can tell it is a (cut) binary STL, not unknown bytes
    assert looks_like_binary_stl(cut[:4096], len(cut))
    assert not looks_like_binary_stl(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16, 4096 * 3)


def test_cli_reports_a_truncated_stl(meshes: Path, tmp_path: Path) -> None:
    data = (meshes / "jewelry" / "solitaire_ring.stl").read_bytes()
    path = tmp_path / "third.stl"
    path.write_bytes(data[: len(data) // 3])
    out = subprocess.run([sys.executable, "-m", "printprep", "check", str(path)], capture_output=True, text=True)
    assert out.returncode == 2
    count = struct.unpack_from("<I", data, 80)[0]
    assert "third.stl" in out.stderr and f"truncated: header says {count} triangles" in out.stderr, out.stderr
