"""``printprep printers``: live printer status from a running service, and printer config checks.

    printprep printers [--watch S] [--json]     status of every printer (the API's view)
    printprep printers show NAME                one printer
    printprep printers clear NAME               the plate is cleared (finished print taken
                                                off) or the error dealt with: NAME takes
                                                its next job
    printprep printers pause|resume NAME        pause, resume the print
    printprep printers check [--config FILE]    validate the [[printers]] tables offline

The status commands talk to the service's REST API (``--server`` / ``$PRINTPREP_SERVER``,
``--token`` / ``$PRINTPREP_TOKEN``) like ``printprep jobs``. Exit codes: 0 success; 1 the
service refused (unknown printer, printer busy); 2 bad usage, bad configuration, or no
service reachable.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import Any

from printprep.cli.common import call, call_and_show, client_args, open_client, print_json


def _temps(t: dict[str, float]) -> str:
    parts = []
    for key in sorted(k for k in t if not k.endswith("_target")):
        target = t.get(f"{key}_target")
        parts.append(f"{key} {t[key]:.0f}" + (f"/{target:.0f}" if target else ""))
    return " ".join(parts)


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    s = max(0.0, time.time() - ts)
    if s < 120:
        return f"{s:.0f}s ago"
    if s < 7200:
        return f"{s / 60:.0f}m ago"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def printer_line(p: dict[str, Any]) -> str:
    """One printer as a table row."""
    pct = "" if p.get("progress_pct") is None else f"{p['progress_pct']:5.1f}%"
    if p.get("layer") is not None and p.get("layer_count"):
        where = f"layer {p['layer']}/{p['layer_count']}"
    elif p.get("line") is not None and p.get("line_count"):
        where = f"line {p['line']}/{p['line_count']}"
    else:
        where = ""
    left = "" if not p.get("time_left_s") else f"{p['time_left_s'] / 60:.0f} min left"
    job = p.get("job_name") or p.get("job_id") or ""
    if job and p.get("job_id") and job != p["job_id"]:
        job = f"{job} ({p['job_id']})"
    err = f"  ! {p['last_error']}" if p.get("last_error") and p["state"] in (
        "error", "offline", "idle") else ""
    if p["state"] == "finished":  # it waits for a person (the plate holds the print)
        err = f"  ! plate holds the print: printprep printers clear {p['name']}"
    cols = [f"{p['name']:<16}", f"{p['state']:<9}", f"{pct:>6}", f"{where:<18}",
            f"{left:<12}", f"{_temps(p.get('temperatures') or {}):<22}", job,
            f"[{p.get('kind', '')} {p.get('profile', '')}, seen {_ago(p.get('last_seen'))}]"]
    return "  ".join(c for c in cols).rstrip() + err


def _list(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        while True:
            data = call(client, "GET", "/api/printers")
            if args.json:
                print_json(data)
            else:
                if args.watch and sys.stdout.isatty():
                    sys.stdout.write("\x1b[H\x1b[2J")
                if not data["printers"]:
                    print("no printers configured")
                for p in data["printers"]:
                    print(printer_line(p))
                sys.stdout.flush()
            if not args.watch:
                return 0
            time.sleep(args.watch)


def _show(args: argparse.Namespace) -> int:
    return call_and_show(args, "GET", f"/api/printers/{args.name}", printer_line)


def _action(action: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        return call_and_show(args, "POST", f"/api/printers/{args.name}/{action}", printer_line)

    return run


def _check(args: argparse.Namespace) -> int:
    from printprep.printers.registry import validate_printers
    from printprep.service.config import load_settings

    settings = load_settings(args.config, check_database=False)  # printers only
    checked = validate_printers(list(settings.printers))
    if args.json:
        print_json({"printers": checked})
    else:
        for p in checked:
            plate = "clears its plate itself" if p["auto_clear"] else "waits for plate cleared"
            print(f"{p['name']:<16} {p['type']:<10} {p['profile']:<28} {plate:<24} ok")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``printers`` and its subcommands to the ``printprep`` parser."""
    p = sub.add_parser("printers", help="live printer status (from the running service)",
                       description=__doc__.split("\n\n")[0])
    client_args(p)
    p.add_argument("--watch", type=float, metavar="S", nargs="?", const=2.0,
                   help="refresh every S seconds (default 2) until interrupted")
    p.set_defaults(handler=_list)
    ps = p.add_subparsers(dest="printers_command", metavar="ACTION")
    s = ps.add_parser("show", help="one printer's status")
    s.add_argument("name")
    client_args(s, subcommand=True)
    s.set_defaults(handler=_show)
    for action, text in (("clear", "the plate is cleared (or the error dealt with): the printer "
                                   "takes its next job"),
                         ("pause", "pause the print"), ("resume", "resume the paused print")):
        a = ps.add_parser(action, help=text)
        a.add_argument("name")
        client_args(a, subcommand=True)
        a.set_defaults(handler=_action(action))
    c = ps.add_parser("check", help="validate the [[printers]] tables of the configuration")
    c.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="TOML configuration (default: ./printprep.toml)")
    c.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    c.set_defaults(handler=_check)
