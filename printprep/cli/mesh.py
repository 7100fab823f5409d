"""``printprep check`` and ``printprep repair``: thin layers over printprep.mesh.

Exit codes: 0 printable as is / OUT is a sound solid, 1 defects found / remain, 2 the
input is unreadable (or bad usage).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from printprep.cli.common import print_json, progress
from printprep.errors import PrintprepError
from printprep.mesh.limits import USER_UNITS, LoadLimits

_CHECK_STEPS = 6
_REPAIR_STEPS = 14


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``check`` and ``repair`` to the ``printprep`` parser."""
    check = sub.add_parser(
        "check", help="report whether a mesh is sound, castable and printable",
        description="Check a mesh for printing and lost-wax casting: soundness, volume, "
        "metal weight per alloy, self-intersections, debris, wall thickness. Exit 0 when "
        "printable as is, 1 when defects were found, 2 when the file is unreadable.",
    )
    check.add_argument("file", help="mesh file: .stl, .obj, .ply or .3mf")
    _common(check)
    check.add_argument("--min-wall", type=float, metavar="MM", help="casting minimum wall, mm (default: the alloy's, else 0.6)")
    check.add_argument("--no-thickness", action="store_true", help="skip the wall-thickness analysis")
    check.set_defaults(handler=_check)

    repair = sub.add_parser(
        "repair", help="repair a mesh into a sound solid and write it",
        description="Weld, clean, orient, close holes, fuse overlapping shells, remove "
        "debris and self-intersections, apply the unit scale; write OUT (format by "
        "extension: .stl binary default, .3mf, .ply, .obj). Exit 0 when OUT is a sound "
        "solid, 1 when some defect remains (OUT still written), 2 when unreadable.",
    )
    repair.add_argument("file", help="mesh file: .stl, .obj, .ply or .3mf")
    repair.add_argument("-o", "--output", required=True, metavar="OUT", help="output mesh file")
    _common(repair)
    repair.add_argument("--debris-volume", type=float, metavar="MM3", help="shells below this volume are removed as debris (default: 3×3×3 printer voxels)")
    repair.add_argument("--no-thickness", action="store_true", help="skip the wall-thickness analysis of OUT (thin_regions stays empty; faster on huge meshes)")
    repair.set_defaults(handler=_repair)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--units", choices=USER_UNITS, help="the file's units (default: guessed from the size, 3MF: its unit attribute)")
    p.add_argument("--profile", metavar="NAME", help="printer profile: adds build-area fit and the printer's 3-pixel floor")
    p.add_argument("--alloy", metavar="ALLOY", help="casting alloy, e.g. 18k-yellow: walls below its minimum are defects")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--max-triangles", type=int, default=LoadLimits.max_triangles, metavar="N", help="refuse files with more triangles (default 20M)")
    p.add_argument("--max-size-mb", type=float, default=LoadLimits.max_bytes / 2**20, metavar="MB", help="refuse larger files (default 1024)")


def _limits(args: argparse.Namespace) -> LoadLimits:
    return LoadLimits(max_bytes=int(args.max_size_mb * 2**20), max_triangles=args.max_triangles)


def _check(args: argparse.Namespace) -> int:
    from printprep.mesh import check_mesh, load_mesh

    with progress(_CHECK_STEPS, enabled=not args.json) as bar:
        bar.step("loading")
        loaded = load_mesh(args.file, units=args.units, limits=_limits(args))
        report = check_mesh(
            loaded, profile=args.profile, alloy=args.alloy, min_wall_mm=args.min_wall,
            thickness=not args.no_thickness, on_step=bar.step,
        )
    with _output():
        if args.json:
            print_json(report.to_dict())
        else:
            _print_report(report.to_dict(), args.alloy)
    return report.exit_code


def _repair(args: argparse.Namespace) -> int:
    from printprep.mesh import load_mesh, repair_mesh, save_mesh

    with progress(_REPAIR_STEPS, enabled=not args.json) as bar:
        bar.step("loading")
        loaded = load_mesh(args.file, units=args.units, limits=_limits(args))
        result = repair_mesh(
            loaded, debris_volume_mm3=args.debris_volume, profile=args.profile,
            alloy=args.alloy, thickness=not args.no_thickness, on_step=bar.step,
        )
        bar.step("writing")
        save_mesh(result, args.output)  # from the arrays: STL needs no trimesh
    out = result.to_dict()
    out["output"] = str(args.output)
    with _output():
        if args.json:
            print_json(out)
        else:
            print(f"wrote {args.output}")
            for s in out["steps"]:
                print(f"  {s['step']:<28} {s['count']}")
            print(f"  volume {out['volume_before_mm3']:.3f} -> {out['volume_mm3']:.3f} mm³")
            _print_report(out, args.alloy)
    return result.exit_code


class OutputError(PrintprepError):
    """The report could not be written to stdout (exit 1: the work itself was done)."""

    exit_code = 1


@contextmanager
def _output() -> Iterator[None]:
    """Printing the report: a stdout that refuses it (a full disk, /dev/full) is an
    OutputError naming the problem; a closed pipe stays the CLI's quiet exit."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush
        raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None


def _print_report(d: dict[str, Any], alloy: str | None) -> None:
    size = " × ".join(f"{v:.2f}" for v in d["bounding_box_mm"]["size"])
    units = f"{d['units']} (×{d['scale']:g}, {'guessed' if d['units_detected'] else 'given'})"
    lines = [
        f"{d.get('path') or 'mesh'}",
        f"  triangles {d['triangles']}, vertices {d['vertices']}, shells {d['shells']}, bodies {d['bodies']}",
        f"  units {units}",
        f"  size {size} mm, volume {d['volume_mm3']:.3f} mm³, area {d['area_mm2']:.2f} mm²",
        f"  watertight {_yn(d['watertight'])}, winding consistent {_yn(d['winding_consistent'])}, "
        f"inverted shells {d['inverted_shells']}",
        f"  boundary edges {d['boundary_edges']}, non-manifold edges {d['non_manifold_edges']}, "
        f"degenerate faces {d['degenerate_faces']}, duplicate faces {d['duplicate_faces']}",
        f"  self-intersecting faces {d['self_intersecting_faces']}, coplanar contact faces {_na(d.get('coplanar_contact_faces'))}, "
        f"debris shells {d['debris_shells']}",
    ]
    if d.get("min_thickness_mm") is not None:
        lines.append(f"  thinnest wall {d['min_thickness_mm']:.3f} mm (limit {d['wall_limit_mm']} mm)")
    if d.get("fits_build_area") is not None:
        lines.append(f"  fits {d['profile']}: {_yn(d['fits_build_area'])}")
    weights = d["metal_weight_g"]
    shown = [alloy] if alloy and alloy in weights else list(weights)
    lines.append("  metal weight: " + ", ".join(f"{k} {weights[k]:.2f} g" for k in shown))
    lines.append("printable as is" if d["printable"] else "NOT printable as is:")
    lines += [f"  - {p}" for p in d["problems"]]
    lines += [f"  note: {w}" for w in d["warnings"]]
    print("\n".join(lines))


def _na(v: Any) -> str:
    return "n/a (winding inconsistent)" if v is None else str(v)


def _yn(v: bool) -> str:
    return "yes" if v else "no"
