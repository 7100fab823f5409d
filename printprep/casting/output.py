"""write_prepared(): the files of a prepared job, named ``<stem>.<kind>.<ext>``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from printprep.casting.prepare import Prepared, _resolve_profile
from printprep.casting.preview import write_preview
from printprep.errors import CastingError


def _checked_layers_for(prepared: Prepared, prof: Any) -> Any:
    """The verify rounds' layers of the print (Prepared.print_layers) when they were made
    for this profile's display and layer height, else None (the archive is cut anew)."""
    from printprep.slicing.raster import DisplayTransform

    layers = getattr(prepared, "print_layers", None)
    if layers is None or layers.transform is None:
        return None
    same = layers.transform == DisplayTransform.for_profile(prof) and np.isclose(
        layers.report.layer_height_mm, prof.layer_height_mm, rtol=0.0, atol=1e-12
    )
    return layers if same else None


def write_prepared(prepared: Prepared, out_dir: str | Path, stem: str, profile: Any = None) -> dict[str, Path]:
    """Write every artifact of ``prepared`` into ``out_dir`` and return them by kind.

    Kinds: casting (<stem>.casting.stl: part + sprues, what is cast), print
    (<stem>.print.stl: + supports and base), part, sprues, supports (<stem>.part.stl,
    <stem>.sprues.stl, <stem>.supports.stl, for a 3D view), archive (<stem>.sl1, or the
    profile's format; G-code for filament profiles), report (<stem>.report.json) and
    preview (<stem>.preview.png). The report gains the slice figures (layers, print
    time, resin, layer checks). The archive of a print the verify rounds checked for this
    profile encodes their rasters (``Prepared.print_layers``, dropped once written).
    """
    from printprep.mesh import save_mesh
    from printprep.slicing import slice_for_profile

    prof = _resolve_profile(profile)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CastingError(f"cannot create output folder: {exc.strerror}", where=str(out)) from exc
    if not stem or "/" in stem or stem.startswith("."):
        raise CastingError(f"bad output stem {stem!r}", where=str(out))
    paths: dict[str, Path] = {}
    for kind, mesh in (
        ("casting", prepared.casting_mesh),
        ("print", prepared.print_mesh),
        ("part", prepared.part_mesh),
        ("sprues", prepared.sprue_mesh),
        ("supports", prepared.support_mesh),
    ):
        p = out / f"{stem}.{kind}.stl"
        if len(mesh.faces):
            save_mesh(mesh, p)
        else:
            p.write_bytes(b"printprep empty".ljust(80, b" ") + (0).to_bytes(4, "little"))
        paths[kind] = p
    kw = {}
    if getattr(prof, "kind", "") == "resin":
        # the casting's XY box centre (the print frame's origin) on the display centre,
        # as the verify rounds checked it: the print's box centre is that far off it
        solid = getattr(prepared, "print_solid", None)
        if solid is not None:
            # the very solid the verify rounds checked: the same cross-sections, and no
            # rebuild of a manifold from the print's triangles
            kw["solids"] = [solid]
            layers = _checked_layers_for(prepared, prof)
            if layers is not None:
                # the layers the last verify round rasterized and checked: encoded as
                # they are, so the archive holds the very pixels the check passed
                kw["layers"] = layers
            lo, hi = np.asarray(solid.bounding_box(), float).reshape(2, 3)
        else:
            lo, hi = prepared.print_mesh.bounds
        w_mm, h_mm = prof.display_mm
        kw["placements_mm"] = [(w_mm / 2 + (lo[0] + hi[0]) / 2, h_mm / 2 + (lo[1] + hi[1]) / 2)]
    result = slice_for_profile([prepared.print_mesh], prof, out, stem, **kw)
    paths["archive"] = Path(result.path)
    if "layers" in kw:
        prepared.print_layers = None  # encoded: its rings and rasters (tens of MB at 1M faces) go
    report = dict(prepared.report)
    report["slice"] = result.to_dict()
    if "placements_mm" in kw:
        report["slice"]["placement_mm"] = [round(float(v), 4) for v in kw["placements_mm"][0]]
    if result.print_time_s:
        report["print_time_s"] = round(float(result.print_time_s), 1)
    paths["preview"] = write_preview(
        out / f"{stem}.preview.png", prepared.part_mesh, prepared.sprue_mesh, prepared.support_mesh
    )
    rp = out / f"{stem}.report.json"
    report["files"] = {k: v.name for k, v in paths.items()}
    rp.write_text(json.dumps(report, indent=2, default=float))
    paths["report"] = rp
    prepared.report = report
    return paths
