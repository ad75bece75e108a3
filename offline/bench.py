"""`make bench`: what a run costs, as ratios measured side by side in one process.

(a) the bare imports every Pulumi run pays, (b) the offline render (`make render` without the
venv step), their ratio; (c) one admin-hash verification at the chosen rounds, which Stalwart
pays on every SMTP AUTH and webadmin login, next to passlib's default rounds for scale.
Targets: render within 1.5x of the import floor; verification under 20 ms.
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


def _median_seconds(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _run(args: list[str]) -> None:
    subprocess.run(args, cwd=PROJECT_ROOT, check=True, capture_output=True)


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
