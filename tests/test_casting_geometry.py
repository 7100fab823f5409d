"""Casting preparation, geometric proof on the solitaire ring and the necklace.

Ground truth is measured here from the ring's own geometry, not from printprep's detail
analysis: the solitaire (../shared/meshes/jewelry/solitaire_ring.stl) has its ring axis
along y, the head on top (+z): the six prongs end at z = 14.05 mm and the stone seat
is the cup inside them above the band (z > 10.35 mm, the band's outer radius).
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from printprep.casting import PrepareOptions, SprueSettings, prepare
from printprep.casting.solids import to_manifold
from printprep.errors import CastingError

PRONG_TIP_Z_MM = 13.0  # the top 1 mm of the prongs (they end at 14.05)
BAND_OUTER_MM = 10.35


def _seat_or_tip(points_mm: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """Points on a prong tip or on the seat of the solitaire (its own frame)."""
    x, y, z = points_mm.T
    tip = z >= PRONG_TIP_Z_MM
    r = np.hypot(x, y)
    seat = (z > BAND_OUTER_MM) & (r < 3.0)  # the cup inside the prong circle
    return tip | seat


def _to_part_frame(prepared, pts: np.ndarray) -> np.ndarray:
    return (pts - prepared.offset_mm) @ prepared.rotation


@pytest.fixture(scope="module")
def solitaire(meshes):
    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    return mesh, prepare(mesh, "phrozen-sonic-4k", PrepareOptions(verify_rounds=0))


def test_ground_truth_regions_exist(solitaire):
    mesh, _ = solitaire
    # the test's own regions are not empty: prong tips and a seat exist where stated
    assert _seat_or_tip(mesh.vertices).sum() > 50
    assert mesh.vertices[:, 2].max() == pytest.approx(14.05, abs=0.01)


def test_detail_analysis_covers_prong_tips_and_seat(solitaire):
    mesh, prepared = solitaire
    truth = _seat_or_tip(mesh.triangles_center)
    covered = prepared.analysis.detail[truth].mean()
    assert covered > 0.85, f"only {covered:.0%} of prong tips and seat marked as detail"


def test_no_support_tip_and_no_gate_on_prong_tips_or_seat(solitaire):
    mesh, prepared = solitaire
    plan = prepared.supports
    assert plan is not None and len(plan.tips_mm) > 0
    tips = _to_part_frame(prepared, plan.tips_mm)
    # a tip is a 0.4 mm disc: its rim must stay off the regions too
    near = _seat_or_tip(tips) | _seat_or_tip(tips + [0, 0, 0.2]) | _seat_or_tip(tips - [0, 0, 0.2])
    assert not near.any(), f"tips on prong tips/seat at {tips[near].round(2).tolist()}"
    assert prepared.gates
    for g in prepared.gates:
        p = g.position_mm[None]
        rim = p + np.array([[g.diameter_mm / 2, 0, 0], [0, 0, g.diameter_mm / 2], [0, 0, -g.diameter_mm / 2]])
        assert not _seat_or_tip(np.vstack([p, rim])).any(), f"gate on detail at {g.position_mm}"


def test_supports_do_not_pass_through_the_part(solitaire):
    _, prepared = solitaire
    part = to_manifold(prepared.part_mesh)
    supports = to_manifold(prepared.support_mesh)
    tips = np.vstack([prepared.supports.tips_mm, prepared.supports.landings_mm])
    # supports may enter the part only at their heads (tip ball + 1 mm head): every
    # overlapping piece lies next to a tip; a pillar through the part would not
    for piece in (part ^ supports).decompose():
        lo, hi = np.asarray(piece.bounding_box()).reshape(2, 3)
        centre = (lo + hi) / 2
        assert np.linalg.norm(tips - centre, axis=1).min() < 1.3, f"support inside the part at {centre}"


def test_casting_is_one_watertight_body_with_volume_part_plus_sprues(solitaire):
    mesh, prepared = solitaire
    cast = prepared.casting_mesh
    assert cast.is_watertight and cast.is_volume
    assert len(cast.split(only_watertight=False)) == 1
    part_v = to_manifold(mesh).volume()
    sprue_solid = to_manifold(prepared.sprue_mesh)
    part_solid = to_manifold(prepared.part_mesh)
    expected = part_v + sprue_solid.volume() - (sprue_solid ^ part_solid).volume()
    assert cast.volume == pytest.approx(expected, rel=1e-4)
    assert cast.volume > part_v + 1.0  # the sprue adds metal
    assert prepared.report["casting_volume_mm3"] == pytest.approx(cast.volume, rel=1e-4)


def _ball_diameter_sdf(mesh: trimesh.Trimesh, point: np.ndarray, normal: np.ndarray) -> float:
    """Largest inscribed ball on the inward normal line, from trimesh's signed distance."""
    ts = np.linspace(0.02, 8.0, 400)
    sd = trimesh.proximity.signed_distance(mesh, point[None] - ts[:, None] * normal[None])
    return 2.0 * float(sd.max())


@pytest.mark.parametrize("name", ["solitaire_ring", "jjg_pendant", "pixelverse_ring"])
def test_gate_diameter_follows_the_rule(meshes, name):
    mesh = trimesh.load(meshes / "jewelry" / f"{name}.stl")
    prepared = prepare(mesh, "phrozen-sonic-4k", PrepareOptions(supports=False))
    assert prepared.gates
    for g in prepared.gates:
        t = _ball_diameter_sdf(mesh, g.position_mm, mesh.face_normals[g.face])
        rule = float(np.clip(1.1 * t, 1.5, 4.5))
        # d_gate = clamp(1.0-1.2 x local thickness, 1.5, 4.5): 15 % for the two measures
        assert g.diameter_mm == pytest.approx(rule, rel=0.15), (g.diameter_mm, t)
        assert g.outer_diameter_mm >= g.diameter_mm  # tapers toward the piece


def test_necklace_keeps_every_link_a_separate_watertight_casting(meshes):
    mesh = trimesh.load(meshes / "jewelry" / "diara628_necklace.stl")
    prepared = prepare(mesh, "phrozen-sonic-4k", PrepareOptions(supports=False))
    bodies = prepared.casting_mesh.split(only_watertight=False)
    assert len(bodies) == 10
    assert all(b.is_watertight for b in bodies)
    fed = {g.body for g in prepared.gates}
    assert fed == set(range(10)), "every link needs its own gate"


def test_sprue_overrides(meshes):
    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    none = prepare(mesh, "phrozen-sonic-4k", PrepareOptions(supports=False, sprues=SprueSettings(count=0)))
    assert none.gates == [] and none.report["sprue_volume_mm3"] == 0.0
    forced = prepare(
        mesh,
        "phrozen-sonic-4k",
        PrepareOptions(
            supports=False,
            sprues=SprueSettings(count=2, diameter_mm=2.0, length_mm=8.0, reservoir=True),
        ),
    )
    assert len(forced.gates) == 2
    assert all(g.diameter_mm == 2.0 and g.length_mm == 8.0 for g in forced.gates)
    for g in forced.gates:
        # reservoir ball within 2 mm of the gate: the sprue mesh has metal at the ball's
        # near side, 1 mm out along the sprue, wider than the sprue itself
        assert g.reservoir_diameter_mm and g.reservoir_diameter_mm > g.diameter_mm
    assert len(forced.casting_mesh.split(only_watertight=False)) == 1
    # a gate asked for on the seat is refused, naming the problem
    with pytest.raises(CastingError, match="detail"):
        prepare(
            mesh,
            "phrozen-sonic-4k",
            PrepareOptions(supports=False, sprues=SprueSettings(positions_mm=((0.0, 0.0, 12.6),))),
        )


def test_prepare_is_deterministic(meshes):
    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    a = prepare(mesh, "phrozen-sonic-4k", PrepareOptions(verify_rounds=0))
    b = prepare(mesh.copy(), "phrozen-sonic-4k", PrepareOptions(verify_rounds=0))
    assert np.array_equal(a.print_mesh.vertices, b.print_mesh.vertices)
    ra = {k: v for k, v in a.report.items() if k != "timings_s"}
    rb = {k: v for k, v in b.report.items() if k != "timings_s"}
    assert ra == rb


@pytest.mark.parametrize(
    ("name", "is_ring"),
    [("pixelverse_ring", True), ("solitaire_ring", True), ("jmarsik_twisted_ring", True),
     ("franout_bracelet_fused", False), ("jjg_pendant", False)],
)  # fmt: skip
def test_ring_recognised_by_its_hole(meshes, name, is_ring):
    from printprep.casting.orient import ring_axis

    mesh = trimesh.load(meshes / "jewelry" / f"{name}.stl")
    axis = ring_axis(mesh)
    assert (axis is not None) == is_ring
    if is_ring:
        # the axis runs along the band's width: the smallest extent of a finger ring
        thin = np.zeros(3)
        thin[int(np.argmin(mesh.extents))] = 1.0
        assert abs(float(axis @ thin)) > 0.99, f"{name}: axis {axis} is not across the band"


def test_detail_marks_prong_tips_not_a_cuffs_rims_or_prong_shafts(meshes):
    """The tip rule: a thin end pointing out of the piece (a prong's top) is hard detail;
    a thin sheet's rim running along the hull (a cuff's tapered edge) and the middle of a
    prong are not (thin, so no overhang tip, but an island may be held there)."""
    from printprep.casting import analyse_surface

    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    a = analyse_surface(ring)
    c = ring.triangles_center
    r = np.hypot(c[:, 0], c[:, 1])
    tops = c[:, 2] >= 13.6  # the top 0.45 mm of the six prongs
    shafts = (c[:, 2] > 11.8) & (c[:, 2] < 12.4) & (r > 3.2)  # prong middles, outside the seat
    assert tops.sum() > 30 and shafts.sum() > 30
    assert a.hard[tops].mean() > 0.9
    assert a.hard_core[shafts].mean() < 0.1 and a.detail[shafts].mean() > 0.9

    cuff = trimesh.load(meshes / "jewelry" / "franout_bracelet_fused.stl")
    a = analyse_surface(cuff)
    z = cuff.triangles_center[:, 2]
    lo, hi = cuff.bounds[:, 2]
    rims = (z < lo + 0.6) | (z > hi - 0.6)  # the two tapered edges of the cuff
    area = cuff.area_faces
    thin_tip = a.reasons["thin_tip"]
    assert rims.sum() > 100 and thin_tip < 0.1 * len(cuff.faces)
    tips_on_rims = area[rims & a.hard_core].sum() / area[rims].sum()
    assert tips_on_rims < 0.25, f"{tips_on_rims:.0%} of the cuff's rims marked hard"
    # hard detail is the engraving, not a quarter of the piece
    assert area[a.hard].sum() / area.sum() < 0.15


def test_loose_part_beside_the_piece_gets_its_own_clear_sprue(meshes):
    """A loose bead 0.25 mm off the band is a separate casting: it gets its own gate, and
    no sprue comes within the body gap of the other piece."""
    import manifold3d

    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    bead = manifold3d.Manifold.sphere(1.2, 48).translate((0.0, 3.82 + 0.25 + 1.2, -9.0))
    both = to_manifold(ring) + bead
    mesh = trimesh.Trimesh(*_mesh_arrays(both), process=False)
    assert mesh.body_count == 2
    prepared = prepare(mesh, "phrozen-sonic-4k", PrepareOptions(supports=False))
    assert {g.body for g in prepared.gates} == {0, 1}
    bodies = prepared.casting_mesh.split(only_watertight=False)
    assert len(bodies) == 2 and all(b.is_watertight for b in bodies)
    # each body's sprues stay off the other body: the casting's two bodies are apart
    a, b = (to_manifold(x) for x in bodies)
    assert (a ^ b).volume() == 0.0
    pa = trimesh.proximity.ProximityQuery(bodies[0])
    assert float(np.abs(pa.signed_distance(bodies[1].vertices)).min()) >= 0.2


def test_refusal_of_loose_parts_names_the_bodies_and_the_room(meshes):
    mesh = trimesh.load(meshes / "jewelry" / "franout_bracelet_11shells.stl")
    try:
        prepared = prepare(mesh, "phrozen-sonic-4k", PrepareOptions(supports=False))
    except CastingError as exc:
        text = str(exc)
        assert "bodies" in text and "mm" in text and "--gate" in text, text
        return
    # when every loose part fits a gate, each has one and the pieces stay apart
    assert {g.body for g in prepared.gates} == set(range(11))
    assert len(prepared.casting_mesh.split(only_watertight=False)) == 11


def _mesh_arrays(solid):
    out = solid.to_mesh()
    return np.asarray(out.vert_properties, dtype=np.float64)[:, :3], np.asarray(out.tri_verts, dtype=np.int64)
