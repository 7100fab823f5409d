"""Binary STL read-and-weld and write kernels (printprep.mesh.stl_kernels) against their
numpy readings: the records of real and generated files welded exactly as np.unique of
the float32 corners would, -0.0 and round-off around zero made 0, NaN refused, a soup
that outgrows the first hash table; and the written records equal to numpy's."""

from __future__ import annotations

import numpy as np
import pytest

from printprep.errors import MeshError
from printprep.mesh import load_mesh
from printprep.mesh.io_stl import STL_RECORD, write_stl_binary
from printprep.mesh.stl_kernels import weld_records
from printprep.mesh.weld import TINY_RATIO


def _records(tri: np.ndarray) -> np.ndarray:
    """The record bytes (50 m,) uint8 of a soup ``tri`` (m, 3, 3) float32."""
    rec = np.zeros(len(tri), dtype=STL_RECORD)
    rec["vertices"] = tri
    rec["normal"] = 0.25  # must not matter
    rec["attr"] = 7
    return rec.view(np.uint8).reshape(-1)


def _reference(tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy reading: canonical corners, unique rows in first-occurrence order."""
    flat = tri.reshape(-1, 3).astype(np.float32)
    thr = np.float32(float(np.abs(flat).max()) * TINY_RATIO)
    flat = np.where(np.abs(flat) < thr, np.float32(0), flat) + np.float32(0)
    uniq, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return uniq[order], rank[inverse.reshape(-1)].reshape(-1, 3)


def _check(tri: np.ndarray) -> None:
    ref_v, ref_f = _reference(tri)
    status, max_abs, bits, faces = weld_records(_records(tri), len(tri), TINY_RATIO)
    assert status == 0
    assert max_abs == float(np.abs(tri).max())
    assert np.array_equal(bits.view(np.float32), ref_v)
    assert np.array_equal(faces, ref_f)


def test_weld_records_of_a_real_stl(meshes):
    loaded = load_mesh(meshes / "jewelry/solitaire_ring.stl", units="mm")
    _check(loaded.vertices[loaded.faces].astype(np.float32))


def test_weld_records_zero_signs_round_off_and_one_ulp():
    rng = np.random.default_rng(3)
    pts = (rng.integers(-30, 30, (3000, 3)) * 0.25).astype(np.float32)
    pts[:50] = -0.0
    pts[50:100, 0] = np.float32(1e-17)  # round-off around zero: counts as 0
    pts[100:150, 1] = np.float32(-3e-16)
    pts[200] = pts[201]
    pts[200, 2] = np.nextafter(pts[201, 2], np.float32(np.inf))  # one ulp apart: distinct
    tri = pts[rng.integers(0, len(pts), (4000, 3))]
    _check(tri)


def test_weld_records_outgrowing_the_first_table():
    # every corner its own vertex: four times what the first table is sized for
    tri = np.random.default_rng(4).random((3000, 3, 3)).astype(np.float32) * 20
    _check(tri)


def test_weld_records_extent_at_the_end_and_tiny_files():
    # the largest coordinate and the round-off around zero only in the last record
    rng = np.random.default_rng(5)
    pts = (rng.integers(-8, 8, (500, 3)) * 0.5).astype(np.float32)
    tri = pts[rng.integers(0, len(pts), (3001, 3))]
    tri[-1, 2] = [1e6, -1e-7, 3e-8]  # extent 1e6: below 1e-12 * 1e6 = 1e-6 counts as 0
    _check(tri)
    _check(tri[:1])  # one triangle
    _check(np.ones((2, 3, 3), np.float32))  # one vertex


def test_weld_records_refuses_nan_and_load_names_the_file(tmp_path):
    tri = np.ones((4, 3, 3), np.float32)
    tri[2, 1, 0] = np.nan
    assert weld_records(_records(tri), 4, TINY_RATIO)[0] == 1
    path = tmp_path / "nan.stl"
    path.write_bytes(b"x" * 80 + np.uint32(4).tobytes() + _records(tri).tobytes())
    with pytest.raises(MeshError, match="NaN") as err:
        load_mesh(path)
    assert "nan.stl" in str(err.value)


@pytest.mark.parametrize(("name", "count"), [("jewelry/solitaire_ring.stl", 300), ("jewelry/solitaire_ring.stl", None),
                                           ("bench/pave_band_336k.stl", None)])
def test_written_records_are_numpys(tmp_path, meshes, name, count):
    # 300 faces of the ring are written on one thread, the ring and the 336k band in two
    # halves on two threads
    from printprep.mesh.stl_kernels import MIN_SPLIT_RECORDS

    loaded = load_mesh(meshes / name, units="mm")
    v, f = loaded.vertices, loaded.faces[:count].copy()
    assert (len(f) >= MIN_SPLIT_RECORDS) == (count is None)
    f[0] = [f[0, 0], f[0, 0], f[0, 1]]  # a degenerate face gets a zero normal
    path = tmp_path / "out.stl"
    write_stl_binary(path, v, f)
    rec = np.fromfile(path, dtype=STL_RECORD, offset=84)
    tri = v[f]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(n, axis=1)
    n = np.divide(n, length[:, None], out=np.zeros_like(n), where=length[:, None] > 0)
    assert path.stat().st_size == 84 + 50 * len(f)
    assert int(np.frombuffer(path.read_bytes()[80:84], "<u4")[0]) == len(f)
    assert np.array_equal(rec["vertices"], tri.astype(np.float32))
    assert np.array_equal(rec["normal"], n.astype(np.float32))
    assert not rec["attr"].any()
    assert not rec["normal"][0].any()
    again = load_mesh(path, units="mm")
    assert np.array_equal(again.vertices[again.faces], tri.astype(np.float32).astype(np.float64))
