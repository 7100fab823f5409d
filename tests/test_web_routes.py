"""The web page's routes over HTTP against the real server: sign-in and its cookie,
page access, static files, the form choices and the layer preview of a sliced job."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
import httpx
import numpy as np
import pytest
from helpers.server import Server, make_server

from printprep.slicing import read_archive

PAGES = ("/", "/jobs", "/jobs/0123456789abcdef", "/submit", "/printers")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # No casting preparation: these tests need an archive, not sprues, and it is quicker.
    srv = make_server(
        tmp_path_factory.mktemp("webroutes"),
        {"workers": {"count": 1}, "pipeline": {"prepare": False}},
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop(timeout_s=30)


@pytest.fixture
def anon(server: Server) -> Iterator[httpx.Client]:
    """A client with no token and no cookie, that does not follow redirects."""
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        yield c


# -- sign-in --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_browser_without_cookie_to_sign_in(anon: httpx.Client, path: str) -> None:
    r = anon.get(path + "?state=done")
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert target.path == "/signin"
    assert parse_qs(target.query)["next"] == [path + "?state=done"]


def test_sign_in_page_and_static_files_need_no_token(anon: httpx.Client) -> None:
    r = anon.get("/signin")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    css = anon.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = anon.get("/static/js/job.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    three = anon.get("/static/vendor/three/three.module.js")
    assert three.status_code == 200 and "max-age" in three.headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/routes/web.py",
        "/static/..%2froutes%2fweb.py",
        "/static/%2e%2e/%2e%2e/store.py",
        "/static/job.html",  # pages only through their routes (which check the cookie)
        "/static/nothing-here.js",
    ],
)
def test_static_files_stay_inside_the_web_folder(anon: httpx.Client, path: str) -> None:
    r = anon.get(path)
    assert r.status_code == 404, r.text[:200]
    assert "def " not in r.text


def test_a_bad_token_is_refused_with_a_message(anon: httpx.Client) -> None:
    r = anon.post("/signin", data={"token": "pp_wrong"}, headers={"Accept": "application/json"})
    assert r.status_code == 401
    assert "not valid" in r.json()["detail"]
    assert "set-cookie" not in r.headers
    empty = anon.post("/signin", data={"token": " "}, headers={"Accept": "application/json"})
    assert empty.status_code == 401 and "Enter" in empty.json()["detail"]
    # A plain form goes back to the sign-in page with the error and the same next page.
    form = anon.post("/signin", data={"token": "pp_wrong", "next": "/printers"})
    assert form.status_code == 303
    target = urlsplit(form.headers["location"])
    assert target.path == "/signin"
    assert parse_qs(target.query) == {"error": ["1"], "next": ["/printers"]}


def test_a_good_token_sets_a_session_cookie_the_api_accepts(
    anon: httpx.Client, server: Server
) -> None:
    r = anon.post(
        "/signin",
        data={"token": server.token, "next": "/printers"},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 200
    assert r.json() == {"ok": True, "next": "/printers"}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"printprep_token={server.token};")
    attrs = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")[1:]}
    assert "httponly" in attrs
    assert attrs["samesite"].strip().lower() == "samesite=strict"
    assert attrs["path"].strip() == "Path=/"
    assert "max-age" not in attrs and "expires" not in attrs, "a session cookie"
    assert "secure" not in attrs, "plain HTTP on 127.0.0.1: a Secure cookie would never be sent"

    anon.cookies.set("printprep_token", server.token)
    for path in PAGES:
        page = anon.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
    assert anon.get("/api/jobs").status_code == 200, "the API takes the cookie like a token"


@pytest.mark.parametrize(
    "next_page", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/signout"]
)
def test_sign_in_never_redirects_off_the_site(
    anon: httpx.Client, server: Server, next_page: str
) -> None:
    r = anon.post("/signin", data={"token": server.token, "next": next_page})
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_sign_out_removes_the_cookie(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        assert c.post("/signin", data={"token": server.token}).status_code == 303
        assert c.get("/").status_code == 200
        r = c.post("/signout")
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
        assert re.search(r"printprep_token=\"?\"?;", r.headers["set-cookie"])
        assert "printprep_token" not in c.cookies
        assert c.get("/").status_code == 303


def test_choices_come_from_the_profiles_and_alloys(anon: httpx.Client, server: Server) -> None:
    assert anon.get("/web/choices").status_code == 401
    with server.client() as c:
        choices = c.get("/web/choices").json()
    profiles = {p["name"]: p for p in choices["profiles"]}
    assert profiles["phrozen-sonic-4k"]["kind"] == "resin"
    assert profiles["prusa-mk4-castable"]["kind"] == "filament"
    assert choices["default_profile"] in profiles
    alloys = {a["name"]: a["density_g_cm3"] for a in choices["alloys"]}
    assert alloys["18k-yellow"] > alloys["sterling"] > alloys["brass"]
    assert {m["kind"] for m in choices["materials"]} <= {"resin", "filament"}
    assert [p["name"] for p in choices["printers"]] == ["virtual-1"]
    assert choices["upload_limit_bytes"] == 500 * 1024 * 1024  # the embedded default


# -- layer preview --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sliced_job(server: Server, meshes: Path) -> dict:
    """A ring that went through slicing (its archive exists)."""
    with server.client() as c:
        r = c.post(
            "/api/jobs",
            files={
                "file": ("solitaire.stl", (meshes / "jewelry" / "solitaire_ring.stl").read_bytes())
            },
        )
        assert r.status_code == 201, r.text
    sliced = ("queued", "printing", "done", "failed")
    job = server.wait_for(r.json()["id"], (*sliced, "needs_attention"), 180)
    if job["state"] == "needs_attention":  # thin walls: a person says go on anyway
        with server.client() as c:
            assert c.post(f"/api/jobs/{job['id']}/approve").status_code == 200
        job = server.wait_for(job["id"], sliced, 180)
    assert job["archive"], f"the ring was not sliced: {job['state']} {job['error']}"
    return job


def _png(r: httpx.Response) -> np.ndarray:
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "image/png"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.dtype == np.uint8 and img.ndim == 2
    return img


def test_layer_preview_serves_the_archive_layers(server: Server, sliced_job: dict) -> None:
    job_id = sliced_job["id"]
    archive = read_archive(server.data_dir / "jobs" / job_id / sliced_job["archive"])
    with server.client() as c:
        info = c.get(f"/api/jobs/{job_id}/layers").json()
        assert info["count"] == archive.layer_count > 10
        first = archive.layer(0)
        assert (info["height_px"], info["width_px"]) == first.shape
        x0, y0, x1, y1 = info["window_px"]
        assert 0 <= x0 < x1 <= info["width_px"] and 0 <= y0 < y1 <= info["height_px"]
        assert (x1 - x0) * (y1 - y0) < info["width_px"] * info["height_px"] / 4, "a ring is small"
        # Every lit pixel of every layer lies inside the window.
        for n in range(archive.layer_count):
            band = archive.layer_band(n)
            ys, xs = np.nonzero(band.pixels)
            if ys.size:
                assert x0 <= band.col0 + xs.min() and band.col0 + xs.max() < x1, f"layer {n}"
                assert y0 <= band.row0 + ys.min() and band.row0 + ys.max() < y1, f"layer {n}"

        for n in (0, info["count"] // 2, info["count"] - 1):
            expected = archive.layer(n)
            full = _png(c.get(f"/api/jobs/{job_id}/layers/{n}.png"))
            assert np.array_equal(full, expected), f"layer {n} differs from the archive"
            crop = _png(c.get(f"/api/jobs/{job_id}/layers/{n}.png", params={"window": 1}))
            assert np.array_equal(crop, expected[y0:y1, x0:x1])
            # The window holds every lit pixel of the layer.
            assert int(crop.astype(np.int64).sum()) == int(expected.astype(np.int64).sum())
            small = _png(
                c.get(f"/api/jobs/{job_id}/layers/{n}.png", params={"window": 1, "max_px": 100})
            )
            assert max(small.shape) == 100 or max(crop.shape) <= 100

        missing = c.get(f"/api/jobs/{job_id}/layers/{info['count']}.png")
        assert missing.status_code == 404 and str(info["count"] - 1) in missing.json()["detail"]
        assert c.get(f"/api/jobs/{job_id}/layers/-1.png").status_code == 404
        assert c.get(f"/api/jobs/{job_id}/layers/1.png?max_px=99999").status_code == 422
    archive.close()


def test_layer_preview_refuses_clearly(
    server: Server, anon: httpx.Client, sliced_job: dict, meshes: Path
) -> None:
    assert anon.get(f"/api/jobs/{sliced_job['id']}/layers").status_code == 401
    assert anon.get(f"/api/jobs/{sliced_job['id']}/layers/0.png").status_code == 401
    with server.client() as c:
        unknown = c.get("/api/jobs/ffffffffffffffff/layers")
        assert unknown.status_code == 404 and "ffffffffffffffff" in unknown.json()["detail"]
        # An unreadable mesh is accepted as a job that fails: it never gets an archive.
        data = (meshes / "jewelry" / "pixelverse_ring.stl").read_bytes()
        r = c.post("/api/jobs", files={"file": ("cut.stl", data[: len(data) // 3])})
        assert r.status_code == 201, r.text
        job = server.wait_for(r.json()["id"], ("failed",), 60)
        none = c.get(f"/api/jobs/{job['id']}/layers")
        assert none.status_code == 409
        assert job["id"] in none.json()["detail"] and "failed" in none.json()["detail"]
        assert c.get(f"/api/jobs/{job['id']}/layers/0.png").status_code == 409
