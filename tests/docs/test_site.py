"""The docs site's strict build, as `make docs-site` runs it, fails on a broken link and on a
missing anchor (mkdocs 1.6 with `--quiet` would pass both: the Makefile must not use it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"


def site_command() -> list[str]:
    """The Makefile's docs-site recipe, with its make variables filled in."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^docs-site:.*\n\t(.+)$", text, re.MULTILINE)
    assert recipe, "no docs-site target in the Makefile"
    words = recipe[1].replace("$(BIN)/mkdocs", str(MKDOCS)).split()
    return [w for w in words if "=" not in w or w.startswith("--")]


def build(tmp_path: Path, broken: str) -> subprocess.CompletedProcess[str]:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with (tmp_path / "docs" / "index.md").open("a") as page:
        page.write(f"\n{broken}\n")
    command = [w.replace("$(TOOLS)", str(tmp_path / "tools")) for w in site_command()]
    return subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ("[gone](how-to/no-such-page.md)", "not found among documentation files"),
        ("[alert](reference/alerts.md#stalwartnosuchalert)", "does not contain an anchor"),
    ],
    ids=["missing-page", "missing-anchor"],
)
def test_the_strict_build_fails_on_a_broken_link(tmp_path, broken, says):
    result = build(tmp_path, broken)
    assert result.returncode != 0, result.stderr[-2000:]
    assert says in result.stderr


def test_the_strict_build_passes_on_the_manual_as_it_is(tmp_path):
    result = build(tmp_path, "")
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_page_is_reachable_from_the_index_the_readme_and_the_nav():
    """A page only the search finds is a page nobody reads (survive-a-node-loss.md went
    unlisted for a stop): every page is in mkdocs.yml's nav and linked from docs/index.md; every
    how-to is in the README's list too."""
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    nav = (ROOT / "mkdocs.yml").read_text()
    index = (ROOT / "docs" / "index.md").read_text()
    readme = (ROOT / "README.md").read_text()
    missing = {
        "nav": sorted(p for p in pages if p not in nav),
        "index": sorted(p for p in pages - {"index.md"} if f"]({p}" not in index),
        "README": sorted(
            p for p in pages if p.startswith("how-to/") and f"](docs/{p}" not in readme
        ),
    }
    assert missing == {"nav": [], "index": [], "README": []}
