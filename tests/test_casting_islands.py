"""Islands next to detail: the support goes beside the detail, never onto it.

The parts are small solids built here with manifold3d, in the print frame (z up, mm), so
each test knows exactly where its island and its detail are:

* a "C" bracket: a plate on a wall over a shelf. A cone hangs under the plate (an island:
  a local minimum facing down) with the shelf 1.2 mm below it. The shelf is marked as hard
  detail (an engraved face, say): no straight pillar, no bent leg fits under the plate,
  and a pillar landing on the shelf would touch the detail. The island must still be held,
  by a route that stays off the shelf.
* a slot 0.28 mm wide in a wall, its ceiling an island: too narrow for the 0.4 mm beam,
  wide enough for the 0.25 mm filigree beam.
* a box with one face marked hard: the orientation search must not turn it down.
"""

from __future__ import annotations

import manifold3d
import numpy as np
import trimesh

from printprep.casting.analysis import ray_engine
from printprep.casting.orient import OrientSettings, choose_orientation
from printprep.casting.solids import to_trimesh
from printprep.casting.supports import SupportSettings, plan_supports

SHELF_TOP_MM = 4.0
SHELF_X_MM = 4.0  # the shelf spans x 0..4; the bracket opens toward +x
ISLAND = np.array([3.0, 3.0, 5.2])


def _box(lo, hi) -> manifold3d.Manifold:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return manifold3d.Manifold.cube(tuple(hi - lo)).translate(tuple(lo))


def _bracket() -> trimesh.Trimesh:
    plate = _box([0, 0, 6], [7, 6, 7])
    wall = _box([0, 0, 3], [1, 6, 7])
    shelf = _box([0, 0, 3], [SHELF_X_MM, 6, SHELF_TOP_MM])
    # a four-sided cone under the plate, its point (the island) at ISLAND
    cone = manifold3d.Manifold.cylinder(1.0, 0.6, 0.0, 4).rotate((180.0, 0.0, 0.0))  # point at z = -1
    cone = cone.translate((float(ISLAND[0]), float(ISLAND[1]), float(ISLAND[2]) + 1.0))
    return to_trimesh(plate + wall + shelf + cone)


def _shelf_faces(mesh: trimesh.Trimesh) -> np.ndarray:
    c = mesh.triangles_center
    return (c[:, 2] <= SHELF_TOP_MM + 1e-6) & (c[:, 0] > 1.0 - 1e-6)


def _plan(mesh: trimesh.Trimesh, hard: np.ndarray):
    s = SupportSettings(lift_mm=3.0)
    return plan_supports(mesh, hard, s, ray_engine(mesh), hard=hard)


def test_island_over_hard_detail_is_held_beside_it():
    mesh = _bracket()
    assert mesh.is_watertight and mesh.vertices[:, 2].min() >= 3.0 - 1e-9
    hard = _shelf_faces(mesh)
    assert hard.sum() > 0
    plan = _plan(mesh, hard)
    near = np.linalg.norm(plan.tips_mm - ISLAND, axis=1) < 0.05
    assert near.sum() == 1, f"no tip on the island at {ISLAND}: tips {plan.tips_mm.round(2).tolist()}"
    i = int(np.argmax(near))
    assert plan.kinds[i] == "island"
    assert not plan.on_detail[i]
    assert plan.routes[i] not in ("straight", "tree", "on-part"), plan.routes[i]
    assert not (np.linalg.norm(plan.dropped_mm - ISLAND, axis=1) < 0.05).any()
    # nothing stands on the shelf, and no support touches it: a skin 0.02 mm thick over
    # its top and its open side stays empty (pillars may pass beside it)
    if len(plan.landings_mm):
        assert not (plan.landings_mm[:, 0] < SHELF_X_MM + 0.01).any(), plan.landings_mm
    skin = _box([1.0, 0.0, 3.0], [SHELF_X_MM + 0.02, 6.0, SHELF_TOP_MM + 0.02]) - _box(
        [0.0, -1.0, 2.0], [SHELF_X_MM, 7.0, SHELF_TOP_MM]
    )
    assert (plan.solid ^ skin).volume() < 1e-9


def test_without_the_mark_the_island_may_stand_on_the_shelf():
    # the control: the same bracket with no detail takes the cheap route, a strut on the
    # shelf, so the test above fails if the hard mask is ignored
    mesh = _bracket()
    plan = _plan(mesh, np.zeros(len(mesh.faces), dtype=bool))
    i = int(np.argmin(np.linalg.norm(plan.tips_mm - ISLAND, axis=1)))
    assert plan.routes[i] == "on-part"
    assert np.isclose(plan.landings_mm[:, 2], SHELF_TOP_MM, atol=1e-3).any()


def _slotted_wall(width_mm: float) -> tuple[trimesh.Trimesh, np.ndarray]:
    """A wall 6 mm high and 2 mm thick, its face toward +y, with a slot ``width_mm``
    wide cut 1 mm into the face and 3 mm tall (a stroke of engraved lettering on a
    vertical face). Returns the mesh and a point of the slot's ceiling, where the layer
    check finds slivers in such strokes."""
    wall = _box([0, 0, 3], [8, 2, 9])
    slot = _box([4 - width_mm / 2, 1, 5], [4 + width_mm / 2, 2.5, 8])
    return to_trimesh(wall - slot), np.array([4.0, 1.5, 8.0])


def test_island_in_a_narrow_slot_gets_the_fine_side_beam():
    mesh, island = _slotted_wall(0.28)
    # the slot's faces are hard detail (engraving): only islands may be held there
    c = mesh.triangles_center
    hard = (np.abs(c[:, 0] - 4.0) <= 0.14 + 1e-6) & (c[:, 1] > 0.99) & (c[:, 2] > 5 - 1e-6) & (c[:, 2] < 8 + 1e-6)
    s = SupportSettings(lift_mm=3.0)
    extra = (island[None], np.array([int(np.argmin(np.linalg.norm(c - island, axis=1)))]))
    plan = plan_supports(mesh, hard, s, ray_engine(mesh), hard=hard, extra_tips=extra)
    k = np.linalg.norm(plan.tips_mm - island, axis=1) < 1e-6
    assert k.sum() == 1, f"the slot's island got no support (dropped {plan.dropped_mm.round(2).tolist()})"
    assert plan.routes[int(np.argmax(k))] == "side"
    # the beam inside the slot is the fine one: 0.25 mm wide, clear of the slot's walls
    inside = _box([3.5, 1.0, 5.0], [4.5, 2.0, 8.0])
    cut = plan.solid ^ inside
    lo, hi = np.asarray(cut.bounding_box()).reshape(2, 3)
    assert hi[0] - lo[0] <= max(s.fine_tip_diameters_mm) + 1e-3
    # a standard tip does not fit: with the fine beam turned off the island is dropped
    plain = plan_supports(
        mesh, hard, SupportSettings(lift_mm=3.0, fine_tip_diameters_mm=()), ray_engine(mesh), hard=hard, extra_tips=extra
    )
    assert (np.linalg.norm(plain.dropped_mm - island, axis=1) < 1e-6).any()


def test_orientation_keeps_hard_detail_from_facing_down():
    # a flat box: its best pose by area, height and peel tilts it on an edge with the
    # big bottom face partly down; with that face marked hard the search turns it away
    box = to_trimesh(_box([0, 0, 0], [10, 8, 3]))
    n = box.face_normals
    bottom = n[:, 2] < -0.99
    plain = choose_orientation(box, np.zeros(len(n), bool), np.zeros(len(n), bool), ring=False)
    marked = choose_orientation(box, np.zeros(len(n), bool), bottom, ring=False)
    # the hard face (normal -z in the part frame) faces down beyond the critical angle
    # (45 degrees) when "up" is within 45 degrees of +z: unmarked, the best pose does
    # so; marked, it must not
    assert float(plain.up[2]) > np.cos(np.radians(45.0))
    assert float(marked.up[2]) < np.cos(np.radians(45.0))
    assert marked.terms["hard_overhang_mm2"] < 1e-6
    # and the search is deterministic
    again = choose_orientation(box, np.zeros(len(n), bool), bottom, ring=False)
    np.testing.assert_array_equal(marked.rotation, again.rotation)
    assert plain.terms["hard_overhang_mm2"] == 0.0
    assert OrientSettings().w_hard_down > 0
