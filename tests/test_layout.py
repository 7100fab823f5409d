"""The shape of the house: stages never import the service, the web app or a printer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "printprep"
STAGES = ("mesh", "slicing", "casting")
FORBIDDEN_FOR_STAGES = ("printprep.service", "printprep.printers", "printprep.cli", "fastapi")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


@pytest.mark.parametrize("stage", STAGES)
def test_stages_do_not_import_service_printers_or_web(stage: str) -> None:
    offenders = [
        f"{p.relative_to(PKG)} imports {name}"
        for p in _modules(stage)
        for name in _imports(p)
        if name.startswith(FORBIDDEN_FOR_STAGES)
    ]
    assert offenders == []


def test_mesh_is_the_base_stage() -> None:
    offenders = [
        f"{p.relative_to(PKG)} imports {name}"
        for p in _modules("mesh")
        for name in _imports(p)
        if name.startswith(("printprep.slicing", "printprep.casting"))
    ]
    assert offenders == []


def test_nothing_outside_cli_imports_the_service() -> None:
    offenders = [
        f"{p.relative_to(PKG)} imports {name}"
        for p in PKG.rglob("*.py")
        if p.parts[len(PKG.parts)] not in ("service", "cli")
        for name in _imports(p)
        if name.startswith("printprep.service")
    ]
    assert offenders == []
