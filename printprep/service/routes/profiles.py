"""``GET /api/profiles``: the printer profiles jobs can name."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from printprep.service.deps import SettingsDep, TokenName

router = APIRouter(prefix="/api", tags=["profiles"])


def _profile_dict(profile: Any) -> dict[str, Any]:
    if hasattr(profile, "to_dict"):
        return profile.to_dict()
    if dataclasses.is_dataclass(profile):
        return dataclasses.asdict(profile)
    return {"name": getattr(profile, "name", str(profile))}


@router.get("/profiles", summary="Printer profiles (shipped ones, and those printers use)")
def list_profiles(settings: SettingsDep, _: TokenName) -> dict[str, Any]:
    try:
        from printprep.profiles import list_profiles as _list
    except ImportError:
        _list = None
    profiles = [_profile_dict(p) for p in _list()] if _list else []
    names = {p.get("name") for p in profiles}
    for printer in settings.printers:
        if printer["profile"] not in names:
            profiles.append({"name": printer["profile"]})
            names.add(printer["profile"])
    return {"profiles": profiles, "default": settings.server.default_profile}
