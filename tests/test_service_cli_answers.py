"""The client commands that make one request and print its answer (``jobs show``,
``jobs cancel|retry|approve|reject``, ``printers show``, ``printers clear|pause|resume``)
share one path (``cli.common.call_and_show``): with ``--json`` they print exactly what the
API answered, without it one readable line (or block), and a refusal exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.server import running_server

RING = "jewelry/solitaire_ring.stl"


def test_one_request_commands_print_the_api_answer(
    tmp_path: Path, meshes: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from printprep.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    printer = {"name": "v1", "type": "virtual", "profile": "phrozen-sonic-4k", "time_scale": 0.01}
    with running_server(tmp_path, {"workers": {"count": 0}, "printers": [printer],
                                   "watch": {"enabled": False}}) as srv:
        monkeypatch.setenv("PRINTPREP_SERVER", srv.base_url)
        monkeypatch.setenv("PRINTPREP_TOKEN", srv.token)
        with srv.client() as client, open(meshes / RING, "rb") as fh:
            r = client.post("/api/jobs", data={"profile": "phrozen-sonic-4k", "name": "ring-7"},
                            files={"file": ("ring.stl", fh, "application/octet-stream")})
            assert r.status_code == 201, r.text
            job_id = r.json()["id"]
            api_job = client.get(f"/api/jobs/{job_id}").json()
            api_printer = client.get("/api/printers/v1").json()

        code, out, _ = run("jobs", "show", job_id, "--json")
        assert code == 0 and json.loads(out) == api_job
        code, out, _ = run("jobs", "show", job_id)
        lines = out.splitlines()
        assert code == 0 and lines[0] == f"{'id:':<14}{job_id}"
        assert f"{'name:':<14}ring-7" in lines
        events = lines[lines.index("events:") + 1:]
        assert len(events) == len(api_job["events"]) >= 1
        assert all(e["message"] in line for e, line in zip(api_job["events"], events, strict=True))

        code, out, _ = run("printers", "show", "v1", "--json")
        assert code == 0
        shown = json.loads(out)
        assert shown["name"] == "v1" and shown["state"] == api_printer["state"]
        code, out, _ = run("printers", "show", "v1")
        assert code == 0 and out.startswith("v1 ") and shown["state"] in out

        code, out, _ = run("jobs", "cancel", job_id, "--json")
        assert code == 0 and json.loads(out)["state"] == "cancelled"
        code, out, err = run("jobs", "approve", job_id, "--reason", "walls checked")
        assert code == 1 and out == "" and err.startswith("printprep: ")
        code, out, _ = run("jobs", "retry", job_id)
        assert code == 0 and out.startswith(f"{job_id}  received")
        code, out, err = run("printers", "pause", "nope")
        assert code == 1 and out == "" and "404" in err

        # Options given before the action are kept (the action's own copies used to
        # reset them: 'jobs --token T show ID' said there was no token).
        monkeypatch.delenv("PRINTPREP_TOKEN")
        monkeypatch.delenv("PRINTPREP_SERVER")
        code, out, err = run("jobs", "--server", srv.base_url, "--token", srv.token, "--json",
                             "show", job_id)
        assert code == 0, err
        assert json.loads(out)["id"] == job_id
        code, out, err = run("printers", "--server", srv.base_url, "--token", srv.token,
                             "show", "v1")
        assert code == 0 and out.startswith("v1 "), err
        code, out, err = run("jobs", "show", job_id, "--server", srv.base_url,
                             "--token", srv.token)
        assert code == 0 and f"{'id:':<14}{job_id}" in out, err
