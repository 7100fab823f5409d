"""The web page: static files, the pages, sign-in and sign-out.

Pages are plain HTML + ES modules from ``printprep/service/web/`` (no build step); they
call the same REST API as every other client. The head, the navigation and the closing
tags every page shares live once, in ``web/partials/``: a page names them with an
include line (``<!--#include head title="Jobs"-->``, ``<!--#include nav-->``,
``<!--#include foot-->``) that :func:`render_page` replaces when the page is served. Signing in posts a token, checked with
:func:`printprep.service.deps.verify_token`; a valid one is kept in the session cookie
``printprep_token`` (HttpOnly, SameSite=Strict), which the API accepts like a Bearer
token. A page asked for without a valid cookie redirects to ``/signin?next=<page>``.

Routes
------
``GET /``, ``/jobs``        the queue (all jobs, filters, live)
``GET /jobs/{id}``          one job
``GET /submit``             the upload form
``GET /printers``           the printers dashboard
``GET /signin``, ``POST /signin`` (form: ``token``, ``next``), ``POST /signout``
``GET /static/{path}``      CSS, JS, vendored three.js (no token needed: nothing secret)
``GET /web/choices``        profiles, materials, alloys and printers for the forms
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from printprep.errors import PrintprepError
from printprep.service.deps import TOKEN_COOKIE, TokenName, token_from_request, verify_token

router = APIRouter(tags=["web"])

#: The folder of the page's files (shipped as package data).
WEB_DIR = Path(__file__).resolve().parent.parent / "web"

#: The shared pieces of every page (head, navigation, foot) are ``web/partials/<name>.html``.
#: ``<!--#include NAME key="value" ...-->`` on a line of its own.
_INCLUDE_RE = re.compile(r'<!--#include\s+([a-z][a-z0-9_-]*)((?:\s+[a-z_]+="[^"]*")*)\s*-->')
_ARG_RE = re.compile(r'([a-z_]+)="([^"]*)"')
_SLOT_RE = re.compile(r"\{\{([a-z_]+)\}\}")


def render_page(name: str, web_dir: Path = WEB_DIR) -> str:
    """``<web_dir>/<name>.html`` with its include lines replaced by the partials they name.

    A partial's ``{{key}}`` slots take the include line's ``key="value"`` arguments
    (HTML-escaped) and ``{{page}}`` the page's name. An unknown partial or an unfilled
    slot is a :class:`PrintprepError` naming the page, so a typo shows at the first
    request (and in tests), never as a half-built page.
    """
    source = web_dir / f"{name}.html"
    text = source.read_text(encoding="utf-8")

    def include(match: re.Match[str]) -> str:
        partial = web_dir / "partials" / f"{match.group(1)}.html"
        if not partial.is_file():
            raise PrintprepError(f"includes unknown partial {match.group(1)!r}", where=str(source))
        args = {"page": name, **dict(_ARG_RE.findall(match.group(2)))}

        def slot(m: re.Match[str]) -> str:
            if m.group(1) not in args:
                raise PrintprepError(
                    f"partial {match.group(1)!r} needs {m.group(1)}=\"...\"", where=str(source))
            return html.escape(args[m.group(1)])

        return _SLOT_RE.sub(slot, partial.read_text(encoding="utf-8")).rstrip("\n")

    return _INCLUDE_RE.sub(include, text)


#: Only the server itself: no CDN, no inline scripts. Inline styles are allowed for the
#: few computed swatches and highlights the scripts set.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


def _signed_in(request: Request) -> bool:
    """True when the request carries a valid token (cookie or Bearer header)."""
    return verify_token(request.app.state.store, token_from_request(request))


def _safe_next(target: str | None) -> str:
    """A same-site path to go to after signing in (never another site: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if target.startswith(("/signin", "/signout")):
        return "/"
    return target


def _page(request: Request, name: str) -> Response:
    """Serve ``web/<name>.html`` to a signed-in browser, else redirect to the sign-in page."""
    if not _signed_in(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    return _html(name)


def _html(name: str) -> Response:
    return HTMLResponse(render_page(name), media_type=_MEDIA_TYPES[".html"], headers=_PAGE_HEADERS)


@router.get("/", include_in_schema=False)
def queue_page(request: Request) -> Response:
    return _page(request, "queue")


@router.get("/jobs", include_in_schema=False)
def jobs_page(request: Request) -> Response:
    return _page(request, "queue")


@router.get("/jobs/{job_id}", include_in_schema=False)
def job_page(request: Request, job_id: str) -> Response:
    return _page(request, "job")


@router.get("/submit", include_in_schema=False)
def submit_page(request: Request) -> Response:
    return _page(request, "submit")


@router.get("/printers", include_in_schema=False)
def printers_page(request: Request) -> Response:
    return _page(request, "printers")


@router.get("/signin", include_in_schema=False)
def signin_page() -> Response:
    return _html("signin")


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/signin", include_in_schema=False)
def signin(request: Request, token: str = Form(""), next: str = Form("/")) -> Response:
    """Check the token; a valid one is stored in the session cookie.

    Answers JSON (``{"ok": true, "next": path}`` or 401 ``{"detail": ...}``) to scripts
    that accept it, and redirects (303) plain HTML forms.
    """
    token = token.strip()
    target = _safe_next(next)
    if not verify_token(request.app.state.store, token):
        detail = (
            "Enter your access token."
            if not token
            else "That token is not valid. Check it and try again."
        )
        if _wants_json(request):
            return JSONResponse({"detail": detail}, status_code=401)
        return RedirectResponse(f"/signin?error=1&next={quote(target, safe='')}", status_code=303)
    response: Response = (
        JSONResponse({"ok": True, "next": target})
        if _wants_json(request)
        else RedirectResponse(target, status_code=303)
    )
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/signout", include_in_schema=False)
def signout() -> Response:
    response = RedirectResponse("/signin?signedout=1", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/static/{path:path}", include_in_schema=False)
def static_file(path: str) -> Response:
    """A file of the page. Paths are resolved inside ``web/`` only (no traversal)."""
    root = WEB_DIR.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file() or target.suffix == ".html":
        raise HTTPException(status_code=404, detail=f"no such file of the web page: {path}")
    media = _MEDIA_TYPES.get(target.suffix.lower(), "application/octet-stream")
    # Vendored libraries never change within a release; our own files may (no build step).
    cache = "public, max-age=86400" if "vendor" in target.relative_to(root).parts else "no-cache"
    return FileResponse(
        target,
        media_type=media,
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )


def _alloys() -> list[dict[str, Any]]:
    try:
        from printprep.mesh.measure import ALLOYS
    except ImportError:  # the mesh area not installed yet: the form offers no alloy
        return []
    return [{"name": name, "density_g_cm3": rho} for name, rho in ALLOYS.items()]


@router.get("/web/choices", tags=["web"])
def choices(request: Request, _caller: TokenName) -> dict[str, Any]:
    """What the submit form and the filters offer: profiles, materials, alloys, printers.

    The same library functions as the CLI (``list_profiles``, ``list_materials``,
    ``printprep.mesh.ALLOYS``) and the service's configured printers.
    """
    from printprep.profiles import list_materials, list_profiles

    settings = request.app.state.settings
    printers = getattr(request.app.state, "printers", {}) or {}
    return {
        "profiles": [
            {
                "name": p.name,
                "model": p.model,
                "kind": p.kind,
                "default_material": p.default_material,
            }
            for p in list_profiles()
        ],
        "materials": [
            {"name": m.name, "display_name": m.display_name, "kind": m.kind, "castable": m.castable}
            for m in list_materials()
        ],
        "alloys": _alloys(),
        "printers": [
            {"name": name, "profile": getattr(pr, "profile", "")}
            for name, pr in sorted(printers.items())
        ],
        "default_profile": settings.server.default_profile,
        "upload_limit_bytes": settings.upload_limit_bytes,
        "default_alloy": settings.pipeline.alloy or None,
    }
