"""CLI of the service: ``serve``, ``worker``, ``token create`` and the API clients
``submit``, ``jobs``, ``jobs show``, ``jobs cancel`` (plus ``retry``, ``approve``,
``reject``).

The clients talk to a running service over its REST API (``--server``, default from the
configuration, or ``$PRINTPREP_SERVER``; ``--token`` or ``$PRINTPREP_TOKEN``), so they
do exactly what the web page and other API clients do.

Exit codes: 0 success; 1 the service refused or the job ended badly (``--wait``);
2 bad usage, unreadable configuration or file, or no service reachable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from printprep.cli.common import call, call_and_show, client_args, open_client, print_json
from printprep.errors import PrintprepError

FINAL = ("done", "failed", "cancelled", "needs_attention")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: ./printprep.toml)")
    p.add_argument("--data-dir", metavar="DIR", help="data folder (jobs, database, watch folder)")


def _settings(args: argparse.Namespace, **server: Any) -> Any:
    from printprep.service.config import load_settings

    overrides: dict[str, dict[str, Any]] = {"server": {}}
    if getattr(args, "data_dir", None):
        overrides["server"]["data_dir"] = args.data_dir
    overrides["server"].update({k: v for k, v in server.items() if v is not None})
    workers = getattr(args, "workers", None)
    if workers is not None:
        overrides["workers"] = {"count": workers}
    if getattr(args, "no_watch", False):
        overrides["watch"] = {"enabled": False}
    return load_settings(args.config, overrides=overrides)


# -- serve / worker / token ---------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from printprep.service.app import build_printers, create_app

    settings = _settings(args, host=args.host, port=args.port)
    _setup_logging(settings.server.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _check_port_free(settings.server.host, settings.server.port)
    printers = build_printers(settings)  # a bad [[printers]] entry stops here (exit 2)
    app = create_app(settings, printers=printers)
    print(
        f"printprep: serving on http://{settings.server.host}:{settings.server.port} "
        f"(data: {settings.data_dir}, API docs: /docs)",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.server.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0


def _check_port_free(host: str, port: int) -> None:
    """Refuse to start (exit 2) when the address is taken, before any worker starts."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PrintprepError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                "(another printprep running? choose --port)"
            ) from None


def _setup_logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=logging.DEBUG if level == "trace" else getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _worker(args: argparse.Namespace) -> int:
    from printprep.service.worker import run_worker

    settings = _settings(args)
    run_worker(settings)
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from printprep.service.store import Store

    settings = _settings(args)
    store = Store.from_settings(settings)
    try:
        print(store.create_token(args.name))
    finally:
        store.close()
    return 0


# -- API clients --------------------------------------------------------------------------
def _job_line(j: dict[str, Any]) -> str:
    pct = f"{j.get('progress_pct') or 0:5.1f}%"
    extra = j.get("error") or j.get("stage_detail") or ""
    return f"{j['id']}  {j['state']:<15} {pct}  {j['profile']:<24} {j['name']}  {extra}".rstrip()


def _submit(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise PrintprepError("no such file", where=str(path))
    data = {"profile": args.profile, "priority": str(args.priority), "source": "cli"}
    if args.units:
        data["options"] = json.dumps({"units": args.units})
    for key in ("alloy", "material", "name", "notes", "order_ref"):
        if getattr(args, key):
            data[key] = getattr(args, key)
    with open_client(args) as client, open(path, "rb") as fh:
        job = call(client, "POST", "/api/jobs", data=data,
                    files={"file": (path.name, fh, "application/octet-stream")})
        if args.wait:
            while job["state"] not in FINAL:
                time.sleep(1.0)
                job = call(client, "GET", f"/api/jobs/{job['id']}")
    if args.json:
        print_json(job)
    else:
        print(_job_line(job))
    return 1 if job["state"] in ("failed", "cancelled", "needs_attention") else 0


def _jobs(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "offset": args.offset}
    for key in ("state", "profile", "printer"):
        if getattr(args, key):
            params[key] = getattr(args, key)
    with open_client(args) as client:
        page = call(client, "GET", "/api/jobs", params=params)
    if args.json:
        print_json(page)
        return 0
    for j in page["jobs"]:
        print(_job_line(j))
    shown = len(page["jobs"])
    print(f"({shown} of {page['total']} job(s))", file=sys.stderr)
    return 0


def _jobs_show(args: argparse.Namespace) -> int:
    return call_and_show(args, "GET", f"/api/jobs/{args.id}", _job_detail)


def _job_detail(job: dict[str, Any]) -> str:
    """One job as ``key: value`` lines, its artifacts and its events."""
    lines = [f"{key + ':':<14}{job[key]}" for key in (
        "id", "name", "order_ref", "state", "progress_pct", "profile", "material", "alloy",
        "priority", "printer", "source", "submitter", "notes", "archive", "error",
        "created_at", "updated_at") if job.get(key) not in (None, "")]
    if job.get("artifacts"):
        lines.append(f"{'artifacts:':<14}{', '.join(job['artifacts'])}")
    lines.append("events:")
    lines += [f"  {e['at']}  {e['state']:<15} {e['message']}" for e in job.get("events", [])]
    return "\n".join(lines)


def _jobs_action(action: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        body = {"reason": args.reason} if getattr(args, "reason", None) else None
        return call_and_show(args, "POST", f"/api/jobs/{args.id}/{action}", _job_line, json=body)

    return run


def register(sub: argparse._SubParsersAction) -> None:
    """Add the service's subcommands to the ``printprep`` parser."""
    p = sub.add_parser("serve", help="run the service: REST API, workers, watch folder, printers")
    _config_args(p)
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8000)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="pipeline worker processes (default: one per core; 0: none)")
    p.add_argument("--no-watch", action="store_true", help="do not watch the watch folder")
    p.set_defaults(handler=_serve)

    p = sub.add_parser("worker", help="run one pipeline worker (same database and data folder)")
    _config_args(p)
    p.set_defaults(handler=_worker)

    p = sub.add_parser("token", help="API tokens")
    tsub = p.add_subparsers(dest="token_command", metavar="ACTION")
    t = tsub.add_parser("create", help="create an API token and print it (stored hashed)")
    t.add_argument("--name", required=True, help="who or what uses the token")
    _config_args(t)
    t.set_defaults(handler=_token_create)

    p = sub.add_parser("submit", help="submit a mesh to a running service")
    p.add_argument("file", help="mesh file (STL, OBJ, PLY, 3MF)")
    p.add_argument("--profile", required=True, help="printer profile name")
    p.add_argument("--alloy")
    p.add_argument("--material")
    p.add_argument("--name", help="job name (default: the file name)")
    p.add_argument("--notes")
    p.add_argument("--order-ref", dest="order_ref", metavar="REF",
                   help="the customer's order or bag number")
    p.add_argument("--priority", type=int, default=0, help="higher prints first (default 0)")
    p.add_argument("--units", choices=("mm", "inch", "m", "cm"),
                   help="the file's units (default: detected from the size)")
    p.add_argument("--wait", action="store_true",
                   help="wait until the job is done, failed, cancelled or needs attention")
    client_args(p)
    p.set_defaults(handler=_submit)

    p = sub.add_parser("jobs", help="list jobs of a running service (or: show, cancel, ...)")
    client_args(p)
    p.add_argument("--state", help="only jobs in this state (comma-separated for several)")
    p.add_argument("--profile", help="only jobs for this printer profile")
    p.add_argument("--printer", help="only jobs sent to this printer")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(handler=_jobs)
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    s = jsub.add_parser("show", help="one job with its events and artifacts")
    s.add_argument("id")
    client_args(s, subcommand=True)
    s.set_defaults(handler=_jobs_show)
    for action, text in (("cancel", "cancel a job"), ("retry", "run a failed job again"),
                         ("approve", "go on with a job that needs attention"),
                         ("reject", "fail a job that needs attention")):
        s = jsub.add_parser(action, help=text)
        s.add_argument("id")
        if action in ("approve", "reject"):
            s.add_argument("--reason")
        client_args(s, subcommand=True)
        s.set_defaults(handler=_jobs_action(action))
