"""Where promtool is: $PROMTOOL, then .tools/prometheus (what `make promtool` extracts from
Debian's `prometheus` package), then PATH. Without it the rule tests skip on a laptop and fail
in CI (CI=true), like actionlint."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTRACTED = ROOT / ".tools" / "prometheus" / "usr" / "bin" / "promtool"


def promtool() -> str:
    for candidate in (os.environ.get("PROMTOOL"), str(EXTRACTED), shutil.which("promtool")):
        if candidate and Path(candidate).is_file():
            return candidate
    if os.environ.get("CI"):
        pytest.fail("promtool is required in CI: make promtool")
    pytest.skip("promtool not found (make promtool fetches it on Debian)")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, check=False
    )
