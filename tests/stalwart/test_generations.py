"""The generations as folders (issue 25): retiring v0.15 is deleting components/stalwart/v015/ and
its one call site, and what both generations share imports neither."""

from __future__ import annotations

import ast
from pathlib import Path

from components.stalwart.server import GENERATIONS
from settings.rules.stalwart import GENERATIONS as SETTINGS_GENERATIONS

ROOT = Path(__file__).resolve().parents[2]
STALWART = ROOT / "components" / "stalwart"
PROGRAM = ("__main__.py", "components", "settings", "offline", "migration", "policy", "scripts")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _program() -> list[Path]:
    found: list[Path] = []
    for name in PROGRAM:
        path = ROOT / name
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [p for p in found if "venv" not in p.parts]


def _importers(package: str) -> set[str]:
    """The program's modules outside `package` that import it."""
    folder = ROOT.joinpath(*package.split("."))
    return {
        str(path.relative_to(ROOT))
        for path in _program()
        if folder not in path.parents
        and any(name == package or name.startswith(f"{package}.") for name in _imports(path))
    }


def test_v015_has_one_call_site_the_generations_table():
    assert _importers("components.stalwart.v015") == {"components/stalwart/server.py"}


def test_v016_is_reached_through_the_generations_table_only():
    assert _importers("components.stalwart.v016") == {"components/stalwart/server.py"}


def test_every_generation_the_settings_accept_has_a_runtime():
    assert set(GENERATIONS) == set(SETTINGS_GENERATIONS)
