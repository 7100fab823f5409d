"""Fixtures shared by every test module.

Real inputs only: meshes come from ../shared/meshes (laid beside the clone in CI and on
developer machines), tools are the real programs. A test whose program is missing skips
with the reason on a developer's machine, and fails under CI=true, where .ci/run installs
everything.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PRINTPREP_SHARED", REPO.parent / "shared"))
MESHES = SHARED / "meshes"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip (developer machine) or fail (CI) when a needed tool or file is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Return the path of program ``name``, or skip/fail as :func:`require` does."""
    path = shutil.which(name)
    require(path is not None, f"program {name!r} is not installed (make system-deps)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def meshes() -> Path:
    """The folder of shared test meshes (jewelry/, broken/, io/, bench/)."""
    require(MESHES.is_dir(), f"shared meshes not found at {MESHES}")
    return MESHES


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """tests/artifacts/: screenshots and other outputs kept for a person to look at."""
    path = REPO / "tests" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
