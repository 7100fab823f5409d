"""End to end in a real headless Chromium against the real ``printprep serve``.

One server (virtual printer, one worker) and one browser serve the whole module. Every
request a page makes is recorded: anything not addressed to the server fails the test
(the page must work with no network beyond the server). Screenshots of the submit, job
and printers pages go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import require
from helpers.server import Server, make_server
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL on the CPU (SwiftShader, part of Chromium) so the 3D view renders headless.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
PRINTER = "virtual-1"
#: Virtual printer speed: a ring's print of ~30 min takes a few seconds, long enough to
#: watch the printer card show "printing".
TIME_SCALE = 0.001


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(
        tmp_path_factory.mktemp("web"),
        {
            "server": {"upload_limit_mb": 8},
            "printers": [
                {
                    "name": PRINTER,
                    "type": "virtual",
                    "profile": "phrozen-sonic-4k",
                    "time_scale": TIME_SCALE,
                }
            ],
        },
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop(timeout_s=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(CHROMIUM.exists(), f"{CHROMIUM} is not installed (Debian package chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Recorder:
    """Every URL the pages ask for, and the page errors they hit."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.urls: list[str] = []
        self.outside: list[str] = []
        self.page_errors: list[str] = []

    def route(self, route: Any) -> None:
        url = route.request.url
        self.urls.append(url)
        if url.startswith(self.base_url + "/") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def check(self) -> None:
        assert self.outside == [], f"the page asked for URLs outside the server: {self.outside}"
        assert self.page_errors == [], f"uncaught errors in the page: {self.page_errors}"


@pytest.fixture
def context(browser: Any, server: Server) -> Iterator[tuple[Any, Recorder]]:
    """A fresh browser profile (no cookie) that records every request."""
    with recording_context(browser, server) as pair:
        yield pair


@contextmanager
def recording_context(browser: Any, server: Server) -> Iterator[tuple[Any, Recorder]]:
    """A fresh browser profile on ``server`` that records every request and page error;
    on leaving, checks that nothing went to another site and no page raised."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    rec = Recorder(server.base_url)
    ctx.route("**/*", rec.route)
    ctx.on("page", lambda page: page.on("pageerror", lambda e: rec.page_errors.append(str(e))))
    try:
        yield ctx, rec
    finally:
        ctx.close()
    rec.check()


def sign_in(page: Any, server: Server, token: str | None = None) -> None:
    page.goto(server.base_url + "/submit")
    page.wait_for_url(re.compile(r"/signin\?next="))
    page.fill("#token", token or server.token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_url(server.base_url + "/submit")


def wait_state(page: Any, states: tuple[str, ...], timeout_s: float, seen: list[str]) -> str:
    """Watch the job page's state badge until it shows one of ``states``; collect what it showed."""
    labels = {s: s for s in states}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        cls = page.get_attribute("#job-state", "class") or ""
        state = cls.replace("state", "").strip()
        if state and (not seen or seen[-1] != state):
            seen.append(state)
        if state in labels:
            return state
        page.wait_for_timeout(100)
    raise AssertionError(f"job page stayed at {seen[-1:]} (seen {seen}), wanted {states}")


# -- sign-in ---------------------------------------------------------------------------------


def test_sign_in_refuses_a_bad_token_then_sets_a_strict_httponly_cookie(
    context: tuple[Any, Recorder], server: Server
) -> None:
    ctx, _ = context
    page = ctx.new_page()
    page.goto(server.base_url + "/")
    page.wait_for_url(re.compile(r"/signin\?next=%2F"))
    page.fill("#token", "pp_not-a-real-token")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector(".message.error")
    assert "not valid" in page.inner_text("#messages")
    assert ctx.cookies() == []

    page.fill("#token", server.token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_url(server.base_url + "/")
    (cookie,) = ctx.cookies()
    assert cookie["name"] == "printprep_token"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] == -1, "a session cookie: gone when the browser closes"
    # The page script cannot read the token.
    assert "printprep_token" not in page.evaluate("document.cookie")

    page.click("header.top form button")  # sign out
    page.wait_for_url(re.compile(r"/signin\?signedout=1"))
    assert ctx.cookies() == []
    page.goto(server.base_url + "/printers")
    page.wait_for_url(re.compile(r"/signin\?next=%2Fprinters"))


# -- the whole path of a ring ----------------------------------------------------------------


def test_ring_from_upload_to_done_with_live_printer_card(
    context: tuple[Any, Recorder], server: Server, meshes: Path, artifacts: Path
) -> None:
    """Submit a ring, approve it (its walls are below the 18K minimum), watch it through
    the stages to done on the virtual printer while the printers page, never reloaded,
    shows the card go to printing and back; then the layers, the 3D view and a download."""
    ctx, rec = context
    page = ctx.new_page()
    sign_in(page, server)

    # The printers dashboard in a second tab, left open: it must update by itself.
    printers = ctx.new_page()
    printers.goto(server.base_url + "/printers")
    card = f'.card[data-printer="{PRINTER}"]'
    printers.wait_for_selector(card)
    printers.evaluate(
        """(sel) => {
            window.__notReloaded = true;
            window.__states = [document.querySelector(sel).dataset.state];
            new MutationObserver(() => {
                const c = document.querySelector(sel);
                const s = c && c.dataset.state;
                if (s && window.__states[window.__states.length - 1] !== s) window.__states.push(s);
            }).observe(document.getElementById('printers'), {subtree: true, childList: true, attributes: true});
        }""",
        card,
    )

    # Submit, with every field filled in.
    page.bring_to_front()
    page.wait_for_selector('#profile option[value="phrozen-sonic-4k"]', state="attached")
    page.set_input_files("#file", str(meshes / "jewelry" / "solitaire_ring.stl"))
    page.select_option("#profile", "phrozen-sonic-4k")
    page.select_option("#alloy", "18k-yellow")
    page.select_option("#priority", "10")
    page.fill("#name", "Solitaire for Mrs Berg")
    page.fill("#order_ref", "ORD-2291")
    page.fill("#notes", "Polish the shank.")
    assert "solitaire_ring.stl" in page.inner_text("#file-name")
    page.screenshot(path=str(artifacts / "web_submit.png"), full_page=True)
    page.click("#submit-button")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"), timeout=30_000)
    job_id = page.url.rsplit("/", 1)[1]
    assert any(u.endswith("/api/jobs") for u in rec.urls)

    # The job page follows it. Should the check stop it for a decision (its prongs are
    # near the 18K minimum), the problems are listed first and a person approves.
    seen: list[str] = []
    state = wait_state(page, ("needs_attention", "printing", "done", "failed"), 150, seen)
    if state == "needs_attention":
        assert page.inner_text("#problems").strip()
        page.click("#approve")
        page.wait_for_selector(".message.ok")
    # the order reference is its own field, sent as order_ref, not folded into the notes
    order = page.locator("#facts dt", has_text="Order").locator("xpath=following-sibling::dd[1]")
    assert order.inner_text() == "ORD-2291"
    assert "ORD-2291" not in page.locator("#facts dt", has_text="Notes").locator(
        "xpath=following-sibling::dd[1]").inner_text()
    assert "18K yellow (chosen)" in page.inner_text("#metal")
    state = wait_state(page, ("printing", "done", "failed", "cancelled"), 180, seen)
    if state == "printing":  # the dashboard, caught mid-print, for the person reviewing
        printers.wait_for_selector(f'{card}[data-state="printing"] progress', timeout=10_000)
        printers.screenshot(path=str(artifacts / "web_printers.png"), full_page=True)
        state = wait_state(page, ("done", "failed", "cancelled"), 180, seen)
    assert state == "done", f"job {job_id} ended {state}; the page showed {seen}\n{server.log()}"
    assert "Done" in page.inner_text("#job-state")
    # It went through the later stages, shown live on the page (quick ones may be skipped
    # between two polls, but printing lasts seconds).
    assert "printing" in seen, seen

    # The printers page saw the card go to printing and come back, with no reload.
    printers.wait_for_function(
        "(sel) => ['idle', 'finished'].includes(document.querySelector(sel).dataset.state)",
        arg=card,
    )
    states = printers.evaluate("window.__states")
    assert printers.evaluate("window.__notReloaded") is True
    assert "printing" in states, states
    assert states[-1] in ("idle", "finished"), states

    # Layers: the slider shows a layer image; the keyboard moves it.
    page.wait_for_selector("#layers-ui:not(.hidden)")
    count = int(page.inner_text("#layer-count"))
    assert count > 10
    slider = page.locator("#layer")
    slider.focus()
    page.keyboard.press("End")
    assert page.inner_text("#layer-number") == str(count)
    for _ in range(count // 2):
        page.keyboard.press("ArrowLeft")
    middle = count - count // 2
    assert page.inner_text("#layer-number") == str(middle)
    page.wait_for_function(
        "(n) => { const i = document.getElementById('layer-img');"
        " return i.complete && i.naturalWidth > 0 && i.src.includes(`/layers/${n - 1}.png`); }",
        arg=middle,
    )
    lit = page.evaluate(
        """() => { const i = document.getElementById('layer-img');
            const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(i, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let k = 0; k < d.length; k += 4) if (d[k] > 127) n++; return n; }"""
    )
    assert lit > 0, "the middle layer of a ring shows lit pixels"

    # 3D view: a WebGL canvas, with the parts it found named in the legend.
    page.wait_for_selector("#viewer canvas")
    page.wait_for_selector("#viewer-overlay", state="hidden")
    legend = page.inner_text("#legend")
    assert legend.strip(), "the legend names what the 3D view shows"
    page.focus("#viewer")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("+")

    page.screenshot(path=str(artifacts / "web_job.png"), full_page=True)

    # Download the archive through its link: a zip of layer images.
    link = page.locator("#files a", has_text=re.compile(r"\.(sl1|sl1s|zip)$"))
    with page.expect_download() as dl:
        link.first.click()
    saved = artifacts / f"web_download_{dl.value.suggested_filename}"
    dl.value.save_as(saved)
    with zipfile.ZipFile(saved) as z:
        pngs = [n for n in z.namelist() if n.endswith(".png") and "thumbnail" not in n]
    assert len(pngs) == count
    saved.unlink()

    # One report per job: report.json, with the casting report inside it (the casting
    # CLI's <stem>.report.json is not a second download); the page lists it once.
    with server.client() as c:
        job = c.get(f"/api/jobs/{job_id}").json()
        on_disk = c.get(f"/api/jobs/{job_id}/files/report.json").json()
    assert [n for n in job["artifacts"] if "report" in n] == ["report.json"], job["artifacts"]
    assert on_disk == job["report"]
    casting = job["report"]["prepare"]
    assert casting["slice"]["layer_count"] == count == job["report"]["slice"]["layer_count"]
    assert job["archive"] in casting["files"].values() and "report" not in casting["files"]
    listed = page.locator("#files li").all_inner_texts()
    assert sum("report" in item for item in listed) == 1, listed

    # The queue shows it, and filtering by state keeps or hides it.
    page.goto(server.base_url + "/?state=done")
    page.wait_for_selector(f'tr[data-job="{job_id}"]')
    page.select_option("#f-state", "failed")
    page.wait_for_selector(f'tr[data-job="{job_id}"]', state="detached")
    assert "state=failed" in page.url
    page.select_option("#f-state", "")
    page.wait_for_selector(f'tr[data-job="{job_id}"]')
    page.screenshot(path=str(artifacts / "web_queue.png"), full_page=True)


# -- errors are shown, never a blank page ----------------------------------------------------


def test_a_bad_file_shows_its_error_on_the_job_page(
    context: tuple[Any, Recorder], server: Server, meshes: Path, tmp_path: Path, artifacts: Path
) -> None:
    broken = tmp_path / "ring_for_anna.stl"
    data = (meshes / "jewelry" / "pixelverse_ring.stl").read_bytes()
    broken.write_bytes(data[: len(data) // 3])  # binary STL cut short: count != size
    ctx, _ = context
    page = ctx.new_page()
    sign_in(page, server)
    page.wait_for_selector('#profile option[value="phrozen-sonic-4k"]', state="attached")
    page.set_input_files("#file", str(broken))
    page.click("#submit-button")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"), timeout=30_000)
    seen: list[str] = []
    assert wait_state(page, ("failed", "done", "queued"), 60, seen) == "failed", seen
    page.wait_for_function("document.getElementById('problems').innerText.length > 10")
    problems = page.inner_text("#problems")
    with server.client() as c:
        job = c.get(f"/api/jobs/{page.url.rsplit('/', 1)[1]}").json()
    assert job["error"], job
    assert job["error"] in problems, "the page shows the service's reason, in full"
    assert "ring_for_anna.stl" in problems, "the reason names the file"
    assert page.is_visible("#retry") and not page.is_visible("#cancel")
    page.screenshot(path=str(artifacts / "web_job_failed.png"), full_page=True)


def test_api_errors_appear_as_messages(
    context: tuple[Any, Recorder], server: Server, meshes: Path
) -> None:
    ctx, _ = context
    page = ctx.new_page()
    # Turn Playwright's file-chooser interception on now, long before the key press:
    # enabled lazily by expect_file_chooser, it could race the press on a loaded machine,
    # and the chooser Chromium then opened for real stayed pending and swallowed the rest.
    page.on("filechooser", lambda _chooser: None)
    sign_in(page, server)
    page.wait_for_selector('#profile option[value="phrozen-sonic-4k"]', state="attached")
    # Submitting with no file: said on the page, nothing sent.
    page.click("#submit-button")
    assert "Choose a mesh file" in page.inner_text("#messages")
    # A file over the server's upload limit is refused before a byte is sent.
    page.set_input_files("#file", str(meshes / "bench" / "pave_band_336k.stl"))  # 16 MB
    page.click("#submit-button")
    message = page.inner_text("#messages")
    assert "16 MB" in message and "8.0 MB" in message, message
    assert page.is_hidden("#upload")
    # The keyboard reaches the drop zone (Tab order), and Enter opens the file chooser.
    page.focus("#profile")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "dropzone"
    # One press: Chromium ignores a second request while a first chooser is still open.
    try:
        with page.expect_file_chooser(timeout=30_000) as waiting:
            page.keyboard.press("Enter")
        chooser = waiting.value
    except PlaywrightTimeout:
        chooser = None
    assert chooser is not None, "Enter on the drop zone opens no file chooser"
    assert chooser.element.get_attribute("id") == "file"
    # A job that does not exist: the server's 404 becomes a sentence.
    page.goto(server.base_url + "/jobs/0000000000000000")
    page.wait_for_selector(".message.error")
    assert "no job" in page.inner_text("#messages").lower()
    # A token that stops being valid mid-session sends the person to sign in.
    ctx.clear_cookies()
    page.goto(server.base_url + "/printers")
    page.wait_for_url(re.compile(r"/signin"))


def test_tablet_layout_has_no_sideways_scrolling(
    context: tuple[Any, Recorder], server: Server
) -> None:
    ctx, _ = context
    page = ctx.new_page()
    sign_in(page, server)
    for width in (800, 390):
        page.set_viewport_size({"width": width, "height": 1000})
        for path in ("/submit", "/", "/printers"):
            page.goto(server.base_url + path)
            page.wait_for_load_state("load")
            page.wait_for_timeout(400)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} at {width} px scrolls sideways by {overflow} px"
            size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
            assert size >= 18, f"{path}: body text {size}px is too small at arm's length"


def test_upload_shows_progress_and_can_be_stopped(
    context: tuple[Any, Recorder], server: Server, meshes: Path
) -> None:
    """With the upload slowed to a workshop Wi-Fi crawl, the bar moves; stopping it
    sends nothing half-made to the queue."""
    ctx, _ = context
    page = ctx.new_page()
    sign_in(page, server)
    with server.client() as c:
        before = c.get("/api/jobs", params={"limit": 500}).json()["total"]
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 40_000},
    )
    page.wait_for_selector('#profile option[value="phrozen-sonic-4k"]', state="attached")
    page.set_input_files("#file", str(meshes / "jewelry" / "solitaire_ring.stl"))  # 169 kB
    page.click("#submit-button")
    page.wait_for_selector("#upload:not(.hidden)")
    page.wait_for_function(
        "() => { const p = document.getElementById('progress'); return p.value > 5 && p.value < 90; }",
        timeout=15_000,
    )
    assert page.is_disabled("#submit-button")
    page.click("#cancel-upload")
    page.wait_for_selector(".message.error")
    assert "stopped" in page.inner_text("#messages")
    assert page.is_enabled("#submit-button")
    assert page.url.endswith("/submit")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    with server.client() as c:
        assert c.get("/api/jobs", params={"limit": 500}).json()["total"] == before


def test_a_job_needing_a_decision_is_approved_or_rejected_from_its_page(
    context: tuple[Any, Recorder], server: Server, meshes: Path, artifacts: Path
) -> None:
    """A triangle soup cannot be made solid automatically: a person decides."""
    ctx, _ = context
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())  # "Reject this job?" -> yes
    sign_in(page, server)
    ids = []
    for _ in range(2):
        page.goto(server.base_url + "/submit")
        page.wait_for_selector('#profile option[value="phrozen-sonic-4k"]', state="attached")
        page.set_input_files("#file", str(meshes / "broken" / "trimesh_soup.stl"))
        page.click("#submit-button")
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"), timeout=30_000)
        ids.append(page.url.rsplit("/", 1)[1])
        seen: list[str] = []
        assert (
            wait_state(page, ("needs_attention", "failed", "done"), 90, seen) == "needs_attention"
        )
    # The second soup's page: what stopped it comes first, in words, as the service said it.
    with server.client() as c:
        job = c.get(f"/api/jobs/{ids[1]}").json()
    first_problem = page.locator("#problems li").first.inner_text()
    assert first_problem and first_problem.lower() in job["error"].lower(), first_problem
    page.wait_for_selector("#viewer canvas")
    page.screenshot(path=str(artifacts / "web_job_attention.png"), full_page=True)
    page.click("#reject")
    seen = []
    assert wait_state(page, ("failed", "cancelled"), 30, seen) in ("failed", "cancelled")

    # Retry brings the rejected one back; Cancel stops it again for good.
    page.click("#retry")
    page.wait_for_selector(".message.ok")
    seen.clear()
    wait_state(page, ("received", "checking", "repairing", "needs_attention"), 30, seen)
    page.click("#cancel")
    assert wait_state(page, ("cancelled",), 30, seen) == "cancelled"
    assert page.is_hidden("#cancel") and page.is_visible("#retry")

    page.goto(f"{server.base_url}/jobs/{ids[0]}")
    page.wait_for_selector("#approve:not(.hidden)")
    page.click("#approve")
    page.wait_for_selector(".message.ok")
    with server.client() as c:
        job = c.get(f"/api/jobs/{ids[0]}").json()
    assert any("approved" in e["message"] for e in job["events"]), job["events"]


# -- the queue with more jobs than one page ----------------------------------------------------

#: 150 finished jobs: 90 for the Sonic (45 of them printed on bench-2), 60 for the SL1S
#: (all printed on bench-1). Every filter below matches more than one page of 50.
CROWD = 150
PROFILE_A, PROFILE_B = "phrozen-sonic-4k", "prusa-sl1s"


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[dict]]]:
    """A server (no workers) whose store already holds CROWD jobs, written with the store's
    own functions; returns it with the jobs, oldest first."""
    from printprep.service.config import load_settings
    from printprep.service.store import Store

    srv = make_server(
        tmp_path_factory.mktemp("crowd"),
        {
            "workers": {"count": 0},
            "watch": {"enabled": False},
            "printers": [
                {"name": "bench-1", "type": "virtual", "profile": PROFILE_B},
                {"name": "bench-2", "type": "virtual", "profile": PROFILE_A},
                {"name": "hand-1", "type": "virtual", "profile": "prusa-mk4-castable",
                 "time_scale": 0.01, "auto_clear": False},
            ],
        },
    )
    store = Store.from_settings(load_settings(srv.config_path, env=srv.env))
    jobs = []
    try:
        for i in range(CROWD):
            profile = PROFILE_A if i % 5 < 3 else PROFILE_B
            printer = "bench-1" if profile == PROFILE_B else ("bench-2" if i % 2 else None)
            job = store.create_job(name=f"ring {i:03d}", source="api", profile=profile,
                                   state="done")
            if printer:
                assert store.update_fields(job.id, printer=printer)
            jobs.append({"id": job.id, "profile": profile, "printer": printer})
    finally:
        store.close()
    srv.start()
    try:
        yield srv, jobs
    finally:
        srv.stop(timeout_s=30)


def _queue_rows(page: Any) -> list[tuple[str, str, str]]:
    """(job id, profile, printer) of every row shown."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#jobs tr')].map((tr) => [
            tr.dataset.job, tr.children[2].innerText.trim(), tr.children[3].innerText.trim()])"""
    )


def _wait_count(page: Any, text: str) -> None:
    page.wait_for_function(
        "(t) => document.getElementById('count').innerText.includes(t)", arg=text
    )


def _walk_pages(page: Any, first_count: str) -> list[tuple[str, str, str]]:
    """Every row of every page, following 'Older jobs' from page 1 to the last."""
    _wait_count(page, first_count)
    rows = _queue_rows(page)
    assert len(rows) == 50, "one page holds 50 jobs"
    assert page.is_disabled("#newer")
    n = 1
    while page.is_enabled("#older"):
        n += 1
        page.click("#older")
        _wait_count(page, f"page {n} of")
        assert f"page={n}" in page.url, "the page number is kept in the address"
        page.wait_for_function("() => document.querySelectorAll('#jobs tr').length > 0")
        rows += _queue_rows(page)
    assert page.is_enabled("#newer")
    return rows


def test_queue_filters_and_pages_on_the_server(
    browser: Any, crowded: tuple[Server, list[dict]], artifacts: Path
) -> None:
    server, jobs = crowded
    with recording_context(browser, server) as (ctx, rec):
        page = ctx.new_page()
        page.goto(server.base_url + "/signin")
        page.fill("#token", server.token)
        page.click("#signin-form button[type=submit]")
        page.wait_for_url(server.base_url + "/")
        newest_first = [j["id"] for j in reversed(jobs)]

        # All jobs: three pages, newest first, each job exactly once.
        rows = _walk_pages(page, f"Jobs 1–50 of {CROWD}")
        assert [r[0] for r in rows] == newest_first
        assert page.inner_text("#count").startswith(f"Jobs 101–150 of {CROWD}")
        page.screenshot(path=str(artifacts / "web_queue_pages.png"), full_page=True)

        # A profile: the server filters, so its oldest jobs are reached too.
        page.click("#newer")
        page.select_option("#f-profile", PROFILE_B)
        assert "page=" not in page.url, "a new filter starts again at page 1"
        rows = _walk_pages(page, "Jobs 1–50 of 60 matching these filters")
        want = [j["id"] for j in reversed(jobs) if j["profile"] == PROFILE_B]
        assert [r[0] for r in rows] == want
        assert {(r[1], r[2]) for r in rows} == {(PROFILE_B, "bench-1")}

        # A printer (with the profile cleared): jobs with no printer are left out.
        page.goto(server.base_url + "/")
        page.select_option("#f-printer", "bench-2")
        _wait_count(page, "45 jobs matching these filters")
        rows = _queue_rows(page)
        assert [r[0] for r in rows] == [j["id"] for j in reversed(jobs) if j["printer"] == "bench-2"]
        assert page.is_hidden("#pager"), "one page: no paging buttons"
        # Both together, matching nothing.
        page.select_option("#f-profile", PROFILE_B)
        page.wait_for_selector("#empty:not(.hidden)")
        assert _queue_rows(page) == []

        # A bookmarked page past the end shows the last page there is.
        page.goto(server.base_url + f"/?profile={PROFILE_A}&page=9")
        _wait_count(page, "Jobs 51–90 of 90 matching these filters")
        assert "page=2" in page.url
        assert {r[1] for r in _queue_rows(page)} == {PROFILE_A}

        asked = [u for u in rec.urls if "/api/jobs?" in u]
        assert any("offset=50" in u and f"profile={PROFILE_B}" in u for u in asked), asked
        assert all("limit=50" in u for u in asked), "never more than a page at a time"



def test_plate_cleared_button_frees_a_finished_printer(
    browser: Any, crowded: tuple[Server, list[dict]], artifacts: Path
) -> None:
    """hand-1 (auto_clear off) prints a G-code job and holds it; the card offers the
    button, and pressing it makes the printer idle again, with no reload."""
    from printprep.service.config import load_settings
    from printprep.service.store import Store

    server, _ = crowded
    store = Store.from_settings(load_settings(server.config_path, env=server.env))
    try:
        job = store.create_job(name="signet", source="api", profile="prusa-mk4-castable",
                               state="needs_attention")
        folder = store.job_folder(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        gcode = ["G28"] + [f"G1 X{10 + i % 20} Y{10 + i // 20} E{i * 0.01:.2f}" for i in range(200)]
        (folder / "signet.gcode").write_text("\n".join(gcode) + "\n")
        store.transition(job.id, "queued", "sliced", expect="needs_attention",
                         archive="signet.gcode")
    finally:
        store.close()
    with recording_context(browser, server) as (ctx, rec):
        page = ctx.new_page()
        page.goto(server.base_url + "/signin?next=%2Fprinters")
        page.fill("#token", server.token)
        page.click("#signin-form button[type=submit]")
        page.wait_for_url(server.base_url + "/printers")
        card = '.card[data-printer="hand-1"]'
        page.wait_for_selector(f'{card}[data-state="finished"]', timeout=30_000)
        page.evaluate("window.__notReloaded = true")
        assert "signet" in page.inner_text(card), "the card names the job on the plate"
        button = page.locator(f'{card} button[data-action="clear"]')
        assert "Plate cleared" in button.inner_text()
        page.screenshot(path=str(artifacts / "web_printers_plate.png"), full_page=True)
        button.click()
        page.wait_for_selector(f'{card}[data-state="idle"]')
        assert page.locator(f'{card} button[data-action="clear"]').count() == 0
        assert page.evaluate("window.__notReloaded") is True
        with server.client() as c:
            assert c.get("/api/printers/hand-1").json()["state"] == "idle"
            events = [e["message"] for e in c.get(f"/api/jobs/{job.id}").json()["events"]]
        assert "plate of hand-1 cleared by test; it takes the next job" in events, events
