"""The web page's files: nothing loads from another site, the vendored library is complete.

The browser tests (test_web_browser.py) check the same at run time by recording every
request the pages make; this test reads the files themselves, so a CDN link added to a
page that no browser test opens is still caught.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from printprep.errors import PrintprepError
from printprep.service.routes.web import CONTENT_SECURITY_POLICY, WEB_DIR, render_page

OWN_FILES = sorted(
    p
    for p in WEB_DIR.rglob("*")
    if p.is_file() and "vendor" not in p.parts and p.suffix in (".html", ".css", ".js")
)
VENDOR_JS = sorted((WEB_DIR / "vendor").rglob("*.js"))

#: Anything that makes a browser fetch: attributes, CSS url(), ES imports, fetch/EventSource.
FETCHING = [
    re.compile(r"""\b(?:src|href|action|poster|data)\s*=\s*["']([^"']+)["']""", re.I),
    re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""", re.I),
    re.compile(r"""\bimport\s*(?:[^'"]*?\bfrom\s*)?["']([^"']+)["']"""),
    re.compile(r"""\bimport\(\s*["']([^"']+)["']\s*\)"""),
    re.compile(r"""\b(?:fetch|EventSource|open)\(\s*["'`]([^"'`]+)["'`]"""),
    re.compile(r"""@import\s+["']([^"']+)["']"""),
]


def _external(target: str) -> bool:
    """True for a URL that leaves the server: a scheme with a host, or protocol-relative."""
    t = target.strip()
    if t.startswith(("data:", "blob:", "#", "mailto:")):
        return False
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", t, re.I)) or t.startswith("//")


def test_the_page_files_exist() -> None:
    names = {p.name for p in OWN_FILES}
    for page in (
        "signin.html",
        "submit.html",
        "job.html",
        "queue.html",
        "printers.html",
        "app.css",
    ):
        assert page in names
    assert len(OWN_FILES) >= 10


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: str(p.relative_to(WEB_DIR)))
def test_own_files_fetch_nothing_from_another_site(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    targets = [m.group(1) for rx in FETCHING for m in rx.finditer(text)]
    offenders = [t for t in targets if _external(t)]
    assert offenders == [], f"{path.name} loads from outside the server: {offenders}"
    # And no bare URL anywhere, so a link built at run time cannot slip through either.
    bare = re.findall(r"""["'`](?:https?:)?//[^"'`\s]+""", text)
    assert bare == [], f"{path.name} holds external URLs: {bare}"


@pytest.mark.parametrize("path", VENDOR_JS, ids=lambda p: str(p.relative_to(WEB_DIR)))
def test_vendored_modules_import_only_relative_paths(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # drop block comments (JSDoc examples)
    imports = re.findall(
        r"""^\s*(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']""", code, re.M
    )
    imports += re.findall(r"""\bimport\(\s*["']([^"']+)["']\s*\)""", code)
    assert imports or path.name in ("three.core.js",), (
        f"{path.name}: no imports found (parser broken?)"
    )
    bad = [i for i in imports if not i.startswith(("./", "../"))]
    assert bad == [], f"{path.name} imports {bad}: the browser would look for them elsewhere"
    for rel in imports:
        assert (path.parent / rel).resolve().is_file(), f"{path.name} imports missing {rel}"


def test_vendored_three_has_its_licence() -> None:
    licence = WEB_DIR / "vendor" / "three" / "LICENSE"
    assert licence.is_file()
    assert "MIT" in licence.read_text() or "Permission is hereby granted" in licence.read_text()


def test_page_modules_resolve() -> None:
    """Every relative import of our own modules points at a file that exists."""
    for path in OWN_FILES:
        if path.suffix != ".js":
            continue
        text = path.read_text(encoding="utf-8")
        for rx in FETCHING[2:4]:
            for rel in rx.findall(text):
                assert (path.parent / rel).resolve().is_file(), f"{path.name} imports missing {rel}"
    for path in OWN_FILES:
        if path.suffix != ".html":
            continue
        for src in re.findall(r"""<script[^>]+src=["']/static/([^"']+)["']""", path.read_text()):
            assert (WEB_DIR / src).is_file(), f"{path.name} loads missing /static/{src}"


def test_content_security_policy_allows_only_this_server() -> None:
    directives = dict(
        (d.split()[0], d.split()[1:]) for d in CONTENT_SECURITY_POLICY.split(";") if d.strip()
    )
    for name in ("default-src", "script-src", "connect-src"):
        assert directives[name] == ["'self'"], name
    assert all("http" not in v for values in directives.values() for v in values)


# -- one shared head and navigation ----------------------------------------------------------

PAGES = ("queue", "job", "submit", "printers", "signin")


@pytest.mark.parametrize("name", PAGES)
def test_pages_take_head_and_navigation_from_the_partials(name: str) -> None:
    """A page file holds only its own content: the head, the navigation and the closing
    tags come from web/partials/, so a navigation change is made in one file."""
    source = (WEB_DIR / f"{name}.html").read_text(encoding="utf-8")
    for shared in ("<!doctype", "<head", "<body", 'aria-label="main"', '<header class="top"',
                   "</html>"):
        assert shared not in source.lower(), f"{name}.html repeats {shared!r} itself"
    page = render_page(name)
    assert page.lower().startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<!--#include" not in page and "{{" not in page
    assert f'<body data-page="{name}">' in page
    assert page.count("<title>") == 1 and page.count('<link rel="stylesheet"') == 1
    nav = (WEB_DIR / "partials" / "nav.html").read_text(encoding="utf-8").strip()
    if name == "signin":
        assert "<nav" not in page, "no navigation before signing in"
    else:
        assert page.count(nav) == 1, f"{name}: the navigation is not the shared one"
        if name != "job":  # a job is reached from the queue
            assert f'data-nav="{name}"' in nav, f"the navigation has no entry for {name}"


def test_includes_fill_slots_escaped_and_refuse_typos(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "head.html").write_text("<title>{{title}}</title><b>{{page}}</b>\n")
    (tmp_path / "ok.html").write_text('<!--#include head title="Rings & <bands>"-->\n<p>x</p>\n')
    assert render_page("ok", tmp_path) == (
        "<title>Rings &amp; &lt;bands&gt;</title><b>ok</b>\n<p>x</p>\n"
    )
    (tmp_path / "typo.html").write_text("<!--#include haed-->\n")
    with pytest.raises(PrintprepError, match=r"typo\.html.*unknown partial 'haed'"):
        render_page("typo", tmp_path)
    (tmp_path / "noarg.html").write_text("<!--#include head-->\n")
    with pytest.raises(PrintprepError, match='needs title="..."'):
        render_page("noarg", tmp_path)
