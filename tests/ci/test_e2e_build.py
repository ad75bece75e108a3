"""e2e/build.py without building anything: the one line without Go, and a cache key that
follows what a tool's build reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from e2e import build


def test_without_go_make_e2e_says_so_in_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert build.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("make e2e: Go is needed")


def test_every_tool_is_a_module_of_its_own_with_a_go_sum() -> None:
    for tool in build.TOOLS:
        module = build.TOOLS_DIR / tool.name
        assert (module / "go.mod").is_file(), tool.name
        assert (module / "go.sum").is_file(), tool.name


def test_the_cache_key_follows_the_tool_recipe_and_the_go_version(
    tmp_path: Path, monkeypatch
) -> None:
    tool = build.TOOLS[0]
    first = build.key(tool, "go1.26.8")
    assert build.key(tool, "go1.26.8") == first
    assert build.key(tool, "go1.27.0") != first
    assert build.key(dataclasses.replace(tool, binaries={"x": "./y"}), "go1.26.8") != first


def test_the_cache_lives_outside_the_checkout(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MAILSTACK_E2E_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert build.cache_root() == tmp_path / "mailstack-e2e"
    monkeypatch.setenv("MAILSTACK_E2E_CACHE", str(tmp_path / "c"))
    assert build.cache_root() == tmp_path / "c"
    with pytest.raises(ValueError):
        build.cache_root().relative_to(Path(build.__file__).resolve().parent.parent)
