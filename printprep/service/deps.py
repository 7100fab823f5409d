"""FastAPI dependencies: settings, store and the API token, as ``Annotated`` aliases.

A request is authenticated by a token in ``Authorization: Bearer <token>`` or, for the
web page, in the cookie ``printprep_token`` (set by the sign-in route). Tokens are
stored hashed (``printprep token create``); :func:`verify_token` is the one check
every route and the web page use.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from printprep.service.config import Settings
from printprep.service.store import Store, hash_token

TOKEN_COOKIE = "printprep_token"

_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def _store_for(settings: Settings) -> Store:
    with _stores_lock:
        store = _stores.get(settings.database_url)
        if store is None:
            store = _stores[settings.database_url] = Store.from_settings(settings)
        return store


def verify_token(store_or_settings: Store | Settings, token: str | None) -> bool:
    """True if ``token`` is a valid API token of this service (False for None/empty)."""
    if not token:
        return False
    store = (
        store_or_settings if isinstance(store_or_settings, Store) else _store_for(store_or_settings)
    )
    return store.verify_token(token)


def token_from_request(request: Request) -> str | None:
    """The token a request carries: the Bearer header first, then the cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


#: Valid tokens seen lately: sha256 -> (name, monotonic expiry). Saves a database read per
#: request; only valid tokens are cached, so a new token works at once.
_TOKEN_TTL_S = 10.0
_token_cache: dict[str, tuple[str, float]] = {}


def _cached_token_name(store: Store, token: str) -> str | None:
    key = hash_token(token)
    now = time.monotonic()
    hit = _token_cache.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    name = store.token_name(token)
    if name is not None:
        if len(_token_cache) > 1000:
            _token_cache.clear()
        _token_cache[key] = (name, now + _TOKEN_TTL_S)
    return name


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_printers(request: Request) -> dict[str, Any]:
    return request.app.state.printers


def require_token(request: Request) -> str:
    """The name of the caller's token; 401 when it is missing or not valid."""
    token = token_from_request(request)
    if not token:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing API token: send 'Authorization: Bearer <token>' "
            "(create one with 'printprep token create --name NAME')",
            headers={"WWW-Authenticate": "Bearer"},
        )
    name = _cached_token_name(request.app.state.store, token)
    if name is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="API token not valid",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return name


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
PrintersDep = Annotated[dict[str, Any], Depends(get_printers)]
#: The name of the API token the request was made with (the submitter).
TokenName = Annotated[str, Depends(require_token)]
