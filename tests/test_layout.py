"""The layout's rules, read from the source (README "Layout"): arrows one way, one reader of the
configuration, a standard-library in-cluster script, small modules, documented components."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ["__main__.py", "settings", "components", "offline", "migration", "policy", "scripts"]
MAX_LINES = 300


def modules(*roots: str) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        path = ROOT / root
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [p for p in found if "venv" not in p.parts]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", modules("components"), ids=str)
def test_components_import_the_settings_model_only(path):
    wrong = {
        name
        for name in imported(path)
        if (name == "settings" or name.startswith("settings."))
        and not name.startswith("settings.model")
    }
    assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_the_settings_model_imports_no_component():
    names = imported(ROOT / "settings" / "model.py")
    assert not {n for n in names if n.startswith("components")}


@pytest.mark.parametrize(
    "path", [p for p in modules(*PROGRAM) if "settings" not in p.parts], ids=str
)
def test_only_the_settings_package_reads_the_configuration(path):
    text = path.read_text()
    if path.parts[-2:] == ("policy", "__main__.py"):
        return  # the policy pack is a program of its own; it reads the stack's domain
    for call in ("pulumi.Config(", "get_config(", "require_secret(", "get_secret("):
        assert call not in text, f"{path.relative_to(ROOT)} reads configuration ({call})"


@pytest.mark.parametrize("path", modules("incluster"), ids=str)
def test_in_cluster_scripts_use_the_standard_library_only(path):
    for name in imported(path):
        top = name.split(".")[0]
        allowed = top in ("__future__", "incluster") or top in sys.stdlib_module_names
        assert allowed, f"{path.name}: {name}"


@pytest.mark.parametrize("path", modules(*PROGRAM), ids=str)
def test_no_module_is_over_300_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by concern"


def _classes(path: Path) -> list[ast.ClassDef]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)]


def _undocumented_fields(cls: ast.ClassDef) -> list[str]:
    body = cls.body
    missing = []
    for index, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            following = body[index + 1] if index + 1 < len(body) else None
            documented = (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            )
            if not documented:
                missing.append(node.target.id)
    return missing


def _component_classes() -> list[tuple[Path, ast.ClassDef]]:
    return [
        (path, cls)
        for path in modules("components")
        for cls in _classes(path)
        if cls.name.endswith("Args")
        or any(ast.unparse(base).endswith("ComponentResource") for base in cls.bases)
    ]


@pytest.mark.parametrize(
    ("path", "cls"), _component_classes(), ids=lambda item: getattr(item, "name", "")
)
def test_every_args_field_and_output_has_a_docstring(path, cls):
    assert not _undocumented_fields(cls), f"{cls.name}: {_undocumented_fields(cls)}"


@pytest.mark.parametrize(
    ("path", "cls"),
    [(p, c) for p, c in _component_classes() if not c.name.endswith("Args")],
    ids=lambda item: getattr(item, "name", ""),
)
def test_every_output_of_a_component_is_registered(path, cls):
    outputs = {
        node.target.id
        for node in cls.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    registered: set[str] = set()
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "register_outputs"
            and node.args
            and isinstance(node.args[0], ast.Dict)
        ):
            registered |= {str(k.value) for k in node.args[0].keys if isinstance(k, ast.Constant)}
    assert outputs <= registered, f"{cls.name}: {sorted(outputs - registered)} not registered"


def test_the_scripts_configmap_ships_every_module_the_jobs_import():
    from components.incluster import FILES

    shipped = {name.removesuffix(".py") for name in FILES}
    for name in FILES:
        for module in imported(ROOT / "incluster" / name):
            if module.startswith("incluster."):
                assert module.split(".")[1] in shipped, f"{name} imports {module}, not shipped"
    on_disk = {p.name for p in (ROOT / "incluster").glob("*.py")}
    assert set(FILES) == on_disk
