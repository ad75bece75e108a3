"""The layout's rules, read from the source (docs/reference/layout.md): arrows one way, one
reader of the configuration, a standard-library in-cluster script, every package and module saying
what it is, documented components. Each rule is one test that lists every offender."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ["__main__.py", "settings", "components", "offline", "migration", "policy", "scripts"]


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


def test_components_import_the_settings_model_only():
    offenders = {
        str(path.relative_to(ROOT)): sorted(wrong)
        for path in modules("components")
        if (
            wrong := {
                name
                for name in imported(path)
                if (name == "settings" or name.startswith("settings."))
                and not name.startswith("settings.model")
            }
        )
    }
    assert not offenders


def test_the_settings_model_imports_no_component():
    names = imported(ROOT / "settings" / "model.py")
    assert not {n for n in names if n.startswith("components")}


def test_only_the_settings_package_reads_the_configuration():
    calls = ("pulumi.Config(", "get_config(", "require_secret(", "get_secret(")
    offenders = {
        str(path.relative_to(ROOT)): [call for call in calls if call in path.read_text()]
        for path in modules(*PROGRAM)
        # the policy pack is a program of its own; it reads the stack's domain
        if "settings" not in path.parts and path.parts[-2:] != ("policy", "__main__.py")
    }
    assert not {path: found for path, found in offenders.items() if found}


def test_nothing_outside_the_tests_imports_the_tests():
    """The program and the in-cluster scripts; make e2e is a test suite and shares the stand-ins."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in imported(path) if n.split(".")[0] == "tests")
        for path in modules(*PROGRAM, "incluster")
    }
    assert not {path: names for path, names in offenders.items() if names}


def test_the_program_never_imports_the_table_of_refused_settings():
    """settings/refused.py is documentation and test data: the program must not depend on it."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in modules("__main__.py", "settings", "components", "offline", "migration")
        if any(n.startswith("settings.refused") for n in imported(path))
    ]
    assert not offenders


def test_in_cluster_scripts_use_the_standard_library_only():
    offenders = {
        path.name: sorted(
            name
            for name in imported(path)
            if name.split(".")[0] not in ("__future__", "incluster")
            and name.split(".")[0] not in sys.stdlib_module_names
        )
        for path in modules("incluster")
    }
    assert not {path: names for path, names in offenders.items() if names}


def test_every_package_and_module_says_what_it_is():
    """The layout page (docs/reference/layout.md) is generated from these docstrings. The
    in-cluster package's __init__.py is shipped to the cluster byte for byte, so it stays empty."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in modules(*PROGRAM, "incluster", "e2e", "tests")
        if not ast.get_docstring(ast.parse(path.read_text()))
        and path.name not in ("conftest.py",)
        and path != ROOT / "incluster" / "__init__.py"
        and not (path.name == "__init__.py" and "policy" in path.parts)
    ]
    assert not offenders


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


def test_every_args_field_and_output_has_a_docstring():
    offenders = {cls.name: _undocumented_fields(cls) for _, cls in _component_classes()}
    assert not {name: fields for name, fields in offenders.items() if fields}


def _unregistered_outputs(cls: ast.ClassDef) -> list[str]:
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
    return sorted(outputs - registered)


def test_every_output_of_a_component_is_registered():
    offenders = {
        cls.name: _unregistered_outputs(cls)
        for _, cls in _component_classes()
        if not cls.name.endswith("Args")
    }
    assert not {name: missing for name, missing in offenders.items() if missing}


def test_the_scripts_configmaps_ship_every_module_the_jobs_import():
    from components.incluster import FILES, MOVE_FILES

    for files in (FILES, MOVE_FILES):
        shipped = {name.removesuffix(".py") for name in files}
        for name in files:
            for module in imported(ROOT / "incluster" / name):
                if module.startswith("incluster."):
                    assert module.split(".")[1] in shipped, f"{name} imports {module}, not shipped"
    on_disk = {p.name for p in (ROOT / "incluster").glob("*.py")}
    assert set(FILES) | set(MOVE_FILES) == on_disk
