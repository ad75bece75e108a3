"""`make docs`: writes the generated parts of the manual between their markers, each from the one
place its facts live, so no page restates a table by hand:

- docs/reference/settings.md from the key table (settings/keys.py),
- docs/reference/bad-settings.md from the table of refused settings (settings/refused.py),
- docs/reference/outputs.md from the stack's exports (__main__.py),
- docs/reference/layout.md from the packages' and modules' docstrings,
- docs/reference/make-targets.md from the Makefile's `help` target.

`python -m scripts.docs --check` writes nothing and exits 1 naming every stale page
(tests/docs/test_generated.py runs it in `make test`).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from settings.keys import KEYS, PROVIDER_KEYS, Key
from settings.problems import NAMESPACE
from settings.refused import bad_settings_table

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"

# The folders the layout page walks, in the order it lists them (virtualenvs, caches and the
# generated render are not the program's).
LAYOUT_ROOTS = (
    "__main__.py",
    "settings",
    "components",
    "incluster",
    "offline",
    "migration",
    "policy",
    "scripts",
    "e2e",
    "tests",
)
SKIPPED_PARTS = {"venv", "__pycache__", "node_modules", ".tools", "fixtures", "recorded", "tools"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _flow(value: Any) -> str:
    """A default as the stack file would write it, on one line."""
    if isinstance(value, str):
        return value if value else "''"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def _default(spec: Key) -> str:
    if spec.required:
        return "required"
    if spec.default is None:
        return "generated" if spec.generated else "unset"
    return f"`{_cell(_flow(spec.default))}`"


def _field_defaults(spec: Key) -> str:
    if not spec.item_defaults:
        return ""
    shown = ", ".join(
        f"`{name}: {_cell(_flow(value))}`" for name, value in spec.item_defaults.items()
    )
    return f" Field defaults: {shown}."


def settings_table() -> str:
    rows = ["| key | default | what it does | secret? |", "|---|---|---|---|"]
    for key, spec in KEYS.items():
        secret = "**yes** (`--secret`)" if spec.secret else "no"
        doc = _cell(spec.doc) + _field_defaults(spec)
        rows.append(f"| `{NAMESPACE}:{key}` | {_default(spec)} | {doc} | {secret} |")
    for key, provider in PROVIDER_KEYS.items():
        rows.append(f"| `{key}` | `{provider.env}` env | {_cell(provider.doc)} | **yes** |")
    return "\n".join(rows) + "\n"


def _exports() -> list[tuple[str, str]]:
    """(name, description) of each `pulumi.export` in __main__.py, the description being the
    comment block right above it."""
    source = (ROOT / "__main__.py").read_text()
    lines = source.splitlines()
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "export"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            continue
        comment: list[str] = []
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#"):
            comment.insert(0, lines[index].strip().removeprefix("#").strip())
            index -= 1
        found.append((str(node.args[0].value), " ".join(comment)))
    return sorted(found, key=lambda item: item[1] == "")


def outputs_table() -> str:
    rows = ["| output | what it holds |", "|---|---|"]
    for name, doc in _exports():
        if not doc:
            raise SystemExit(
                f"__main__.py: export {name!r} has no comment above it saying what it holds"
            )
        rows.append(f"| `{name}` | {_cell(doc)} |")
    return "\n".join(rows) + "\n"


def _summary(path: Path) -> str:
    """The first sentence of a module's or package's docstring, on one line."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    except SyntaxError:
        doc = ""
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    match = re.match(r"(.+?\.)(\s|$)", paragraph)
    return match[1] if match else paragraph


def _tree(path: Path, depth: int) -> list[str]:
    indent = "    " * depth
    if path.is_file():
        return [f"{indent}- `{path.name}`: {_cell(_summary(path))}".rstrip(": ")]
    init = path / "__init__.py"
    line = f"{indent}- `{path.name}/`"
    if init.exists():
        line += f": {_cell(_summary(init))}".rstrip(": ")
    lines = [line]
    children = sorted(
        p
        for p in path.iterdir()
        if p.name not in SKIPPED_PARTS
        and not p.name.startswith(".")
        and (
            (p.is_dir() and any(p.rglob("*.py"))) or (p.suffix == ".py" and p.name != "__init__.py")
        )
    )
    for child in sorted(children, key=lambda p: (p.is_dir(), p.name)):
        lines += _tree(child, depth + 1)
    return lines


def layout_tree() -> str:
    lines: list[str] = []
    for root in LAYOUT_ROOTS:
        lines += _tree(ROOT / root, 0)
    return "\n".join(lines) + "\n"


def make_targets() -> str:
    """The Makefile's `help` lines (`make <target> [VAR=...]   what it does`) as a table."""
    rows = ["| command | what it does |", "|---|---|"]
    text = (ROOT / "Makefile").read_text()
    block = text[text.index("\nhelp:\n") :].split("\n\n", 1)[0]
    for match in re.finditer(r'@echo "(make .+?)\s{2,}(.+)"', block):
        usage = match[1].replace("$(OUT)", "rendered").replace("$(STACK)", "prod")
        what = match[2].replace("$(OUT)", "rendered").replace("$(STACK)", "prod")
        rows.append(f"| `{usage}` | {_cell(what)} |")
    return "\n".join(rows) + "\n"


PAGES: dict[str, tuple[Path, Callable[[], str]]] = {
    "settings": (REFERENCE / "settings.md", settings_table),
    "bad-settings": (REFERENCE / "bad-settings.md", bad_settings_table),
    "outputs": (REFERENCE / "outputs.md", outputs_table),
    "layout": (REFERENCE / "layout.md", layout_tree),
    "make-targets": (REFERENCE / "make-targets.md", make_targets),
}


def replace_between(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"the page has no {begin.strip()} ... {end} markers")
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + body + text[stop:]


def stale() -> dict[Path, str]:
    """Page -> its text as `make docs` would write it, for every page that differs."""
    changed: dict[Path, str] = {}
    for name, (page, generate) in PAGES.items():
        text = page.read_text()
        updated = replace_between(text, name, generate())
        if updated != text:
            changed[page] = updated
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    changed = stale()
    for page, text in changed.items():
        where = page.relative_to(ROOT)
        if args.check:
            print(f"{where} is stale: run make docs", file=sys.stderr)
        else:
            page.write_text(text)
            print(f"{where}: regenerated")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
