"""`make bench`: what a run costs, as ratios measured side by side in one process.

(a) the bare imports every Pulumi run pays, (b) the offline render (`make render` without the
venv step), their ratio; (c) one admin-hash verification at the chosen rounds, which Stalwart
pays on every SMTP AUTH and webadmin login, next to passlib's default rounds for scale;
(d) set-up: a fresh clone of this repository's HEAD to its first `make render` (uv, the venv from
the locks, the render), next to a second `make render` there, which must not touch the venv.
Targets: render within 1.5x of the import floor; verification under 20 ms; the first render of
a fresh clone within 4x a warm one (package caches warm, as after any earlier install).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from passlib.hash import sha512_crypt

from components import credentials
from offline.harness import PROJECT_ROOT

IMPORTS = "import pulumi, pulumi_kubernetes, pulumi_cloudflare, pulumi_random"
RENDER_TARGET_RATIO = 1.5
VERIFY_TARGET_MS = 20.0
SETUP_TARGET_RATIO = 4.0


def _median_seconds(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _run(args: list[str]) -> None:
    subprocess.run(args, cwd=PROJECT_ROOT, check=True, capture_output=True)


def _setup() -> tuple[float, float, bool]:
    """Seconds to the first and to a second `make render` of a fresh clone, and whether the
    second left the venv alone."""
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(
            ["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)],
            check=True,
            capture_output=True,
        )
        command = ["make", "render", f"PYTHON={sys.executable}", f"OUT={scratch}/out"]

        def render() -> str:
            done = subprocess.run(command, cwd=clone, check=True, capture_output=True, text=True)
            return done.stdout

        start = time.perf_counter()
        render()
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = render()
        warm = time.perf_counter() - start
    return first, warm, "pip sync" not in again and "pip install" not in again


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> int:
    python = sys.executable
    _run([python, "-c", IMPORTS])  # warm the file cache so neither side pays a cold start
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "rendered")
        render = [python, "-m", "offline.render", "--out", out]
        _run(render)
        floor = _median_seconds(lambda: _run([python, "-c", IMPORTS]), repeat=5)
        rendering = _median_seconds(lambda: _run(render), repeat=5)

    digest = credentials.hash_password("bench-password-0123456789", "abcdefgh12345678")
    verify = _median_seconds(
        lambda: sha512_crypt.verify("bench-password-0123456789", digest), repeat=50
    )
    slow_digest = sha512_crypt.hash("bench-password-0123456789")  # passlib's default rounds
    slow_verify = _median_seconds(
        lambda: sha512_crypt.verify("bench-password-0123456789", slow_digest), repeat=3
    )

    first, warm, reused = _setup()
    ratio = rendering / floor
    verify_ms = verify * 1000
    print(f"(a) import floor ({IMPORTS}): {floor * 1000:.0f} ms")
    print(f"(b) offline render of the whole stack:            {rendering * 1000:.0f} ms")
    print(
        f"    render / import floor = {ratio:.2f}x "
        f"(target <= {RENDER_TARGET_RATIO}x: {_verdict(ratio <= RENDER_TARGET_RATIO)})"
    )
    print(
        f"(c) admin-hash verification at {credentials.HASH_ROUNDS} rounds: {verify_ms:.1f} ms "
        f"(target < {VERIFY_TARGET_MS:.0f} ms: {_verdict(verify_ms < VERIFY_TARGET_MS)})"
    )
    print(
        f"    passlib default ({sha512_crypt.default_rounds} rounds): {slow_verify * 1000:.0f} ms, "
        f"{slow_verify / verify:.0f}x the chosen cost per login"
    )
    setup_ratio = first / warm
    print(f"(d) fresh clone to its first `make render`:       {first:.1f} s")
    print(
        f"    second `make render` there:                  {warm:.1f} s "
        f"(venv {'reused' if reused else 'REBUILT'})"
    )
    print(
        f"    first / warm = {setup_ratio:.1f}x "
        f"(target <= {SETUP_TARGET_RATIO:.0f}x: {_verdict(setup_ratio <= SETUP_TARGET_RATIO)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
