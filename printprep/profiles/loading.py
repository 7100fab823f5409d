"""Finding and reading profile files, and the key checks both kinds of profile share.

Every check takes ``(key, value, path)`` and returns the value (converted) or raises a
:class:`~printprep.errors.ProfileError` naming the file and the key; :func:`validate`
refuses unknown keys and reports missing ones.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from printprep.errors import ProfileError

# --------------------------------------------------------------------------- finding files


def profiles_dir() -> Path:
    """The profiles folder: $PRINTPREP_PROFILES_DIR, else ``<repo>/profiles``."""
    env = os.environ.get("PRINTPREP_PROFILES_DIR")
    if env:
        return Path(env)
    import printprep

    return Path(printprep.__file__).resolve().parent.parent / "profiles"


def _looks_like_path(name_or_path: str | Path) -> bool:
    if isinstance(name_or_path, Path):
        return True
    s = str(name_or_path)
    return s.endswith(".toml") or os.sep in s or "/" in s


def resolve(name_or_path: str | Path, sub: str, what: str) -> Path:
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(f"{what} file not found", where=str(path))
        return path
    folder = profiles_dir() / sub
    path = folder / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.toml"))
        raise ProfileError(
            f"unknown {what} {name_or_path!r} (known: {', '.join(known) or 'none'}; "
            f"or give a path to a .toml file)",
            where=str(folder),
        )
    return path


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"not valid TOML: {exc}", where=str(path)) from exc
    except OSError as exc:
        raise ProfileError(f"cannot read: {exc.strerror}", where=str(path)) from exc


# --------------------------------------------------------------------------- validation

Check = Callable[[str, Any, Path], Any]


def err(path: Path, key: str, problem: str) -> ProfileError:
    return ProfileError(f"key {key!r}: {problem}", where=str(path))


def str_(choices: tuple[str, ...] | None = None) -> Check:
    def check(key: str, v: Any, path: Path) -> str:
        if not isinstance(v, str) or not v.strip():
            raise err(path, key, f"expected a non-empty string, got {v!r}")
        if choices and v not in choices:
            raise err(path, key, f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    return check


def bool_(key: str, v: Any, path: Path) -> bool:
    if not isinstance(v, bool):
        raise err(path, key, f"expected true or false, got {v!r}")
    return v


def num(lo: float, hi: float, *, integer: bool = False) -> Check:
    def check(key: str, v: Any, path: Path) -> float | int:
        ok_type = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok_type:
            kind = "an integer" if integer else "a number"
            raise err(path, key, f"expected {kind}, got {v!r}")
        if not lo <= v <= hi:
            raise err(path, key, f"{v} is outside the allowed range {lo}..{hi}")
        return int(v) if integer else float(v)

    return check


def vec(n: int, lo: float, hi: float, *, integer: bool = False) -> Check:
    item = num(lo, hi, integer=integer)

    def check(key: str, v: Any, path: Path) -> tuple[Any, ...]:
        if not isinstance(v, list) or len(v) != n:
            raise err(path, key, f"expected a list of {n} numbers, got {v!r}")
        return tuple(item(f"{key}[{i}]", x, path) for i, x in enumerate(v))

    return check


def slicer_table(key: str, v: Any, path: Path) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise err(path, key, "expected a table of PrusaSlicer settings")
    for k, x in v.items():
        if not isinstance(x, str | int | float | bool):
            raise err(path, f"{key}.{k}", f"expected a string, number or boolean, got {x!r}")
        if not k.replace("_", "").isalnum():
            raise err(path, f"{key}.{k}", "not a PrusaSlicer setting name")
    return dict(v)


def validate(
    raw: dict[str, Any], path: Path, required: dict[str, Check], optional: dict[str, Check]
) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(required) - set(optional))
    if unknown:
        raise err(
            path,
            unknown[0],
            "unknown key (allowed: " + ", ".join(sorted({**required, **optional})) + ")",
        )
    missing = [k for k in required if k not in raw]
    if missing:
        raise err(path, missing[0], "required key is missing")
    out = {k: check(k, raw[k], path) for k, check in {**required, **optional}.items() if k in raw}
    name = out.get("name")
    if name is not None and path.suffix == ".toml" and name != path.stem and _in_profiles(path):
        raise err(path, "name", f"must equal the file name {path.stem!r}, got {name!r}")
    out.setdefault("name", path.stem)
    return out


def _in_profiles(path: Path) -> bool:
    try:
        path.resolve().relative_to(profiles_dir().resolve())
        return True
    except ValueError:
        return False
