"""What casting asks of a mesh again and again, measured once: :class:`PartFacts`.

Face normals, areas and centroids (one compiled pass), the mass integrals (volume,
centre of mass, inertia), the bounding box and, on first use, the face-connected bodies.
:func:`facts_of` keeps them on the mesh object, so analysis, gates, sprues, orientation
and supports share one copy per mesh and frame instead of trimesh recomputing (and
re-hashing) them behind each property. Meshes are never changed in place in casting: a
moved mesh is a new mesh with its own facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from printprep.casting import facts_kernels as kernels

_ATTR = "_printprep_facts"


@dataclass(eq=False)
class PartFacts:
    """Per-face measures and mass properties of one mesh in one frame.

    vertices : (v, 3) float64, mm; faces : (f, 3) int64
    normals : (f, 3) float64 unit outward (zero for a degenerate face)
    areas : (f,) float64, mm²; centers : (f, 3) float64, mm (face centroids)
    volume_mm3 : float; center_mass : (3,) float64 mm (unit density);
    inertia : (3, 3) float64 mm⁵ (unit density, about the centre of mass; trimesh's
    ``moment_inertia``); bounds : (2, 3) float64 mm of the vertices
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    areas: np.ndarray
    centers: np.ndarray
    volume_mm3: float
    center_mass: np.ndarray
    inertia: np.ndarray
    bounds: np.ndarray
    _bodies: np.ndarray | None = field(default=None, repr=False)
    _adjacency: np.ndarray | None = field(default=None, repr=False)

    @property
    def area_mm2(self) -> float:
        """Total surface area (mm²)."""
        return float(self.areas.sum())

    @property
    def scale_mm(self) -> float:
        """Length of the bounding box diagonal (mm), trimesh's ``scale``."""
        return float(np.linalg.norm(self.bounds[1] - self.bounds[0]))

    def triangles(self, faces: np.ndarray) -> np.ndarray:
        """Corner coordinates of the chosen ``faces`` (k,) int64: (k, 3, 3) float64 mm."""
        return self.vertices[self.faces[faces]]

    @property
    def adjacency(self) -> np.ndarray:
        """Pairs of faces sharing an edge that exactly two faces use: (k, 2) int64
        (trimesh's ``face_adjacency``, in another order)."""
        if self._adjacency is None:
            from printprep.mesh.topology import edge_info

            if len(self.faces) == 0:
                self._adjacency = np.zeros((0, 2), dtype=np.int64)
            else:
                a, b = edge_info(self.faces, len(self.vertices)).manifold_pairs()
                self._adjacency = np.column_stack([a // 3, b // 3])
        return self._adjacency

    @property
    def bodies(self) -> np.ndarray:
        """Body of each face, connected across :attr:`adjacency`: (f,) int64, numbered
        by each body's lowest face (compiled union-find)."""
        if self._bodies is None:
            from printprep.mesh.topology import components

            adj = self.adjacency
            _, labels = components(len(self.faces), adj[:, 0], adj[:, 1])
            self._bodies = np.asarray(labels, dtype=np.int64)
        return self._bodies

    @property
    def body_count(self) -> int:
        return int(self.bodies.max()) + 1 if len(self.bodies) else 0


def measure(vertices: np.ndarray, faces: np.ndarray) -> PartFacts:
    """The facts of ``vertices[faces]`` (mm): (v, 3) float64 and (f, 3) int64."""
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    normals, areas, centers = kernels.face_geometry(v, f)
    bounds = np.array([v.min(axis=0), v.max(axis=0)]) if len(v) else np.zeros((2, 3))
    origin = (bounds[0] + bounds[1]) / 2
    m = kernels.mass_integrals(v, f, origin)
    vol = float(m[0])
    if abs(vol) > 1e-12:
        c_rel = m[1:4] / vol
    else:
        c_rel = np.zeros(3)
    second = np.array([[m[4], m[7], m[9]], [m[7], m[5], m[8]], [m[9], m[8], m[6]]])
    # about the centre of mass: ∫x xᵀ - V c cᵀ, then I = tr(S) E - S
    s_cm = second - vol * np.outer(c_rel, c_rel)
    inertia = np.trace(s_cm) * np.eye(3) - s_cm
    return PartFacts(
        vertices=v,
        faces=f,
        normals=normals,
        areas=areas,
        centers=centers,
        volume_mm3=vol,
        center_mass=origin + c_rel,
        inertia=inertia,
        bounds=bounds,
    )


def facts_of(mesh) -> PartFacts:
    """The facts of a trimesh (anything with ``vertices`` and ``faces``), measured on
    first use and kept on the mesh object for as long as its arrays are the same."""
    vertices, faces = mesh.vertices, mesh.faces
    kept = getattr(mesh, _ATTR, None)
    if kept is not None and kept[0] is vertices and kept[1] is faces:
        return kept[2]
    facts = measure(np.asarray(vertices), np.asarray(faces))
    try:
        setattr(mesh, _ATTR, (vertices, faces, facts))
    except AttributeError:  # pragma: no cover - an object that takes no attributes
        pass
    return facts
