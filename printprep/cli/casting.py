"""``printprep prepare``: orient, sprue, support and slice a piece for casting.

Exit codes: 0 written and the layer check is clean, 1 written but the layer check found
problems (unsupported islands, overhang reach, frame) or support points found no path,
2 unreadable input, unknown profile/alloy, or a piece that cannot be prepared.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from printprep.cli.common import print_json, progress


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prepare`` to the ``printprep`` parser."""
    p = sub.add_parser(
        "prepare",
        help="orient, sprue and support a piece, then slice it",
        description="Prepare a jewelry piece for lost-wax casting and resin printing: "
        "detail analysis, sprues fused into one casting body per piece, orientation, "
        "supports on a base, the sliced archive, a report and a preview. Writes "
        "OUTDIR/<stem>.casting.stl, .print.stl, .part.stl, .sprues.stl, .supports.stl, "
        ".sl1 (or the profile's format), .report.json and .preview.png.",
    )
    p.add_argument("file", help="mesh file: .stl, .obj, .ply or .3mf (a closed solid)")
    p.add_argument("--profile", default=None, metavar="NAME", help="printer profile (default phrozen-sonic-4k)")
    p.add_argument("--alloy", default="sterling", metavar="A", help="casting alloy for the metal weight (default sterling)")
    p.add_argument("--no-supports", action="store_true", help="no supports: print the casting body as is")
    p.add_argument("--sprues", type=int, metavar="N", help="gates per piece (default: one per thick mass; 0: none)")
    p.add_argument("--gate", action="append", default=[], metavar="X,Y,Z", help="gate position in the file's frame, mm (repeatable)")
    p.add_argument("--gate-diameter", type=float, metavar="MM", help="force the gate diameter")
    p.add_argument("--sprue-angle", type=float, default=45.0, metavar="DEG", help="angle to the tree trunk (default 45)")
    p.add_argument("--sprue-length", type=float, default=6.0, metavar="MM", help="sprue length (default 6)")
    p.add_argument("--reservoir", action="store_true", help="add a reservoir ball near each gate")
    p.add_argument("--tree-allowance", type=float, default=20.0, metavar="PCT", help="metal added for tree and button, %% (default 20)")
    p.add_argument("--density", type=float, default=1.0, metavar="X", help="support density (1.0: tips 3 mm apart)")
    p.add_argument("--critical-angle", type=float, default=45.0, metavar="DEG", help="overhang critical angle (default 45)")
    p.add_argument("--tip", type=float, default=0.4, metavar="MM", help="support tip diameter (default 0.4)")
    p.add_argument("--lift", type=float, default=4.0, metavar="MM", help="lift off the plate (default 4)")
    p.add_argument("--separate-supports", action="store_true", help="keep supports as separate shells (default: fused)")
    p.add_argument("--keep-out", action="append", default=[], metavar="X,Y,Z,R", help="mark a sphere as detail (no tip, no gate), mm")
    p.add_argument("--units", default=None, help="the file's units when not guessed right (mm, cm, m, inch)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_prepare)


def _floats(text: str, n: int, what: str) -> tuple[float, ...]:
    from printprep.errors import CastingError

    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != n:
        raise CastingError(f"{what} needs {n} comma-separated numbers, got {text!r}")
    return vals


def _prepare(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from printprep.casting import PrepareOptions, prepare, write_prepared
    from printprep.errors import CastingError
    from printprep.mesh import load_mesh
    from printprep.profiles import DEFAULT_PROFILE, load_profile

    if args.density <= 0:
        raise CastingError(f"--density must be > 0, not {args.density}")
    profile = load_profile(args.profile or DEFAULT_PROFILE)
    base = PrepareOptions()
    opts = PrepareOptions(
        alloy=args.alloy,
        supports=not args.no_supports,
        support_mode="separate" if args.separate_supports else "fused",
        tree_allowance_pct=args.tree_allowance,
        detail=replace(base.detail, keep_out=tuple(_floats(k, 4, "--keep-out") for k in args.keep_out)),
        sprues=replace(
            base.sprues,
            count=args.sprues,
            positions_mm=tuple(_floats(g, 3, "--gate") for g in args.gate),
            diameter_mm=args.gate_diameter,
            angle_deg=args.sprue_angle,
            length_mm=args.sprue_length,
            reservoir=args.reservoir,
        ),
        orient=replace(base.orient, critical_angle_deg=args.critical_angle),
        support=replace(
            base.support,
            spacing_mm=base.support.spacing_mm / args.density,
            critical_angle_deg=args.critical_angle,
            tip_diameter_mm=args.tip,
            lift_mm=args.lift,
        ),
    )
    with progress(4, enabled=not args.json) as bar:
        bar.step("loading")
        loaded = load_mesh(args.file, units=args.units)
        bar.step("preparing")
        prepared = prepare(loaded, profile, opts)
        bar.step("slicing")
        paths = write_prepared(prepared, args.output, Path(args.file).stem, profile)
        bar.step("done")
    report = prepared.report
    if args.json:
        print_json(report)
    else:
        for kind, path in paths.items():
            print(f"{kind:9s} {path}")
        s = report["supports"]
        print(
            f"casting {report['casting_volume_mm3']:.1f} mm³ ({report['metal_weight_g']:.2f} g "
            f"{report['alloy']} with {report['tree_allowance_pct']:g} % tree), "
            f"{len(report['gates'])} gates, {s['count']} supports "
            f"({s.get('on_detail', 0)} on detail), print time {report['print_time_s'] / 60:.0f} min"
        )
    layers = report.get("slice", {}).get("layers")
    problems = list(layers["problems"]) if layers else []
    if report["supports"].get("dropped"):
        problems.append(f"{report['supports']['dropped']} support points found no path")
    for p in problems:
        print(f"printprep: {p}", file=__import__("sys").stderr)
    return 1 if problems else 0
