"""``printprep slice``, ``printprep layers`` and ``printprep profiles``.

Exit codes: 0 success (``layers``: no problems found), 1 ``layers`` found problems,
2 unreadable input, unknown profile or bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from printprep.cli.common import print_json, progress, warn
from printprep.errors import PrintprepError, SliceError
from printprep.profiles import (
    DEFAULT_PROFILE,
    FilamentPrinterProfile,
    ResinPrinterProfile,
    list_materials,
    list_profiles,
    load_profile,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``slice``, ``layers`` and ``profiles`` to the ``printprep`` parser."""
    p = sub.add_parser(
        "slice",
        help="slice meshes for a printer profile: SL1 / PNG zip, or G-code",
        description="Slice one or more meshes for a printer profile. Resin printers get a "
        "layer archive (SL1 or PNG zip: anti-aliased layer images, thumbnails, print time "
        "and resin use); filament printers get G-code made by prusa-slicer. Meshes that "
        "are not closed solids are repaired first (and the CLI says so).",
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="mesh files (.stl .obj .ply .3mf), one part each"
    )
    p.add_argument(
        "-p",
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME|PATH",
        help=f"printer profile name or TOML file (default {DEFAULT_PROFILE})",
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output file (.sl1, .zip or .gcode)"
    )
    p.add_argument(
        "--layer-height",
        type=float,
        metavar="MM",
        help="layer height in mm (default: the profile's)",
    )
    p.add_argument(
        "--format",
        dest="fmt",
        choices=("sl1", "pngzip"),
        help="resin archive format (default: the profile's)",
    )
    p.add_argument(
        "--material", metavar="NAME|PATH", help="material profile (default: the printer profile's)"
    )
    p.add_argument(
        "--at",
        action="append",
        metavar="X,Y",
        help="XY (mm) of a part's bounding-box centre on the display, once per part in order (default: the display centre)",
    )
    p.add_argument("--units", help="the files' units: mm, inch, m, cm (default: guessed)")
    p.add_argument(
        "--no-repair",
        action="store_true",
        help="never repair; fail on meshes that are not closed solids",
    )
    p.add_argument("--no-check", action="store_true", help="skip the layer checks while slicing")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(handler=_slice)

    lay = sub.add_parser(
        "layers",
        help="check a layer archive: islands, empty layers, frame, overhang reach",
        description="Check the layers of an SL1 or PNG-zip archive: islands (regions with "
        "nothing beneath them), empty layers, parts touching the display frame, and how much "
        "of each layer reaches farther than --reach mm beyond the layer below. Exit 0 when "
        "nothing was found, 1 when problems were found, 2 when the archive is unreadable.",
    )
    lay.add_argument("archive", metavar="ARCHIVE", help=".sl1 or PNG zip archive")
    lay.add_argument(
        "--reach", type=float, default=3.0, metavar="MM", help="overhang reach limit (default 3 mm)"
    )
    lay.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    lay.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="list at most N islands in text output (default 20)",
    )
    lay.set_defaults(handler=_layers)

    prof = sub.add_parser(
        "profiles",
        help="list printer profiles (and materials)",
        description="List the printer profiles and material profiles printprep knows.",
    )
    prof.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    prof.set_defaults(handler=_profiles)


def _placements(args: argparse.Namespace, n_parts: int) -> list[tuple[float, float]] | None:
    if not args.at:
        return None
    if len(args.at) != n_parts:
        raise SliceError(f"--at given {len(args.at)} times for {n_parts} parts", where="--at")
    out = []
    for text in args.at:
        try:
            x, y = (float(v) for v in text.split(","))
        except ValueError as exc:
            raise SliceError(f"expected X,Y in mm, got {text!r}", where="--at") from exc
        out.append((x, y))
    return out


def _load_parts(args: argparse.Namespace, profile: Any) -> tuple[list[Any], list[str]]:
    """Load each file; repair it when it is not a closed solid. Returns meshes and notes."""
    from printprep.mesh import load_mesh, repair_mesh

    meshes, notes = [], []
    for name in args.files:
        loaded = load_mesh(name, units=args.units)
        mesh = loaded.mesh
        if loaded.units != "mm":
            notes.append(f"{name}: units {loaded.units} (x{loaded.scale:g} to mm)")
        if not _is_solid(mesh):
            if args.no_repair:
                raise SliceError(
                    "not a closed, consistently oriented solid (drop --no-repair to repair it)",
                    where=name,
                )
            result = repair_mesh(loaded, profile=profile, thickness=False)
            steps = (
                ", ".join(f"{s['step']} {s['count']}" for s in result.steps if s.get("count"))
                or "cleaned"
            )
            notes.append(f"{name}: repaired before slicing ({steps})")
            mesh = result.mesh
        meshes.append(mesh)
    return meshes, notes


def _is_solid(mesh: Any) -> bool:
    try:
        return bool(mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0)
    except Exception:  # noqa: BLE001 - anything odd means "repair it"
        return False


def _slice(args: argparse.Namespace) -> int:
    from printprep.slicing import slice_gcode, slice_to_archive

    profile = load_profile(args.profile)
    out = Path(args.output)
    meshes, notes = _load_parts(args, profile)
    for note in notes:
        warn(note)
    if isinstance(profile, FilamentPrinterProfile):
        if args.fmt:
            raise SliceError(
                f"--format applies to resin printers; {profile.name!r} gets G-code",
                where="--format",
            )
        result = slice_gcode(
            meshes, profile, out, material=args.material, layer_height_mm=args.layer_height
        )
    else:
        with progress(1, enabled=not args.json) as bar:
            bar.total = 1

            def tick(done: int, total: int) -> None:
                bar.total = total
                bar.step(f"layer {done}/{total}")

            result = slice_to_archive(
                meshes,
                profile,
                out,
                material=args.material,
                layer_height_mm=args.layer_height,
                fmt=args.fmt,
                placements_mm=_placements(args, len(meshes)),
                check=not args.no_check,
                progress=tick,
            )
    if args.json:
        d = result.to_dict()
        d["notes"] = notes
        print_json(d)
        return 0
    print(
        f"wrote {result.path} ({result.format}, {result.layer_count} layers of {result.layer_height_mm:g} mm)"
    )
    print(f"  profile {result.profile}, material {result.material}")
    print(
        f"  print time {_hms(result.print_time_s)}, {'resin' if result.format != 'gcode' else 'filament'} {result.resin_ml:.3f} ml, cost {result.cost:.2f} {result.currency}"
    )
    if result.layer_report is not None:
        for problem in result.layer_report.problems:
            warn(f"layers: {problem}")
    return 0


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s"


def _layers(args: argparse.Namespace) -> int:
    from printprep.slicing import check_layers, read_archive

    if args.reach <= 0:
        raise SliceError("must be positive", where="--reach")
    with read_archive(args.archive) as archive:
        report = check_layers(archive, reach_mm=args.reach)
    if args.json:
        print_json(report.to_dict())
        return 0 if report.ok else 1
    print(
        f"{args.archive}: {report.layer_count} layers of {report.layer_height_mm:g} mm, pixel {report.pitch_mm[0] * 1000:.1f} x {report.pitch_mm[1] * 1000:.1f} um"
    )
    if report.ok:
        print("  no islands, empty layers, frame contact or long overhangs")
        return 0
    for problem in report.problems:
        print(f"  {problem}")
    for isl in report.islands[: args.limit]:
        print(
            f"    island: layer {isl.layer} (z {isl.z_mm:.3f} mm) at ({isl.x_mm:.2f}, {isl.y_mm:.2f}) mm, {isl.area_mm2:.4f} mm², {isl.supported_px} px supported"
        )
    if len(report.islands) > args.limit:
        print(f"    ... {len(report.islands) - args.limit} more (--limit N or --json)")
    return 1


def _profiles(args: argparse.Namespace) -> int:
    printers, materials = [], []
    errors = []
    for loader, bucket in ((list_profiles, printers), (list_materials, materials)):
        try:
            bucket.extend(loader())
        except PrintprepError as exc:
            errors.append(str(exc))
    if args.json:
        print_json(
            {
                "profiles": [_profile_dict(p) for p in printers],
                "materials": [vars(m) | {} for m in materials],
            }
        )
    else:
        print("printer profiles:")
        for p in printers:
            if isinstance(p, ResinPrinterProfile):
                pitch = " x ".join(f"{v * 1000:.1f}" for v in p.pitch_mm)
                print(
                    f"  {p.name:28} resin {p.technology:4} {p.display_px[0]}x{p.display_px[1]} px, {pitch} um, {p.orientation}, {p.archive_format} - {p.model}"
                )
            else:
                print(
                    f"  {p.name:28} filament, {p.nozzle_mm:g} mm nozzle, bed {'x'.join(f'{v:g}' for v in p.bed_mm)} mm, G-code - {p.model}"
                )
        print("materials:")
        for m in materials:
            price = (
                f"{m.price_per_l:g} {m.currency}/l"
                if m.price_per_l is not None
                else f"{m.price_per_kg:g} {m.currency}/kg"
                if m.price_per_kg is not None
                else "no price"
            )
            print(f"  {m.name:28} {m.kind:8} {m.density_g_cm3:g} g/cm3, {price} - {m.display_name}")
    for e in errors:
        print(f"printprep: {e}", file=sys.stderr)
    return 2 if errors else 0


def _profile_dict(p: Any) -> dict[str, Any]:
    d = {k: v for k, v in vars(p).items()}
    d["kind"] = p.kind
    if isinstance(p, ResinPrinterProfile):
        d["pitch_mm"] = p.pitch_mm
        d["image_px"] = p.image_px
    else:
        d["slicer"] = dict(p.slicer)
    return d
