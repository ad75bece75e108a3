"""The vendored Stalwart files are the upstream bytes named in vendor/stalwart/PROVENANCE.md."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "vendor" / "stalwart"


def test_every_vendored_file_has_the_hash_its_provenance_names():
    rows = re.findall(
        r"^\| `([^`]+)` \| .* \| `([0-9a-f]{64})` \|$",
        (VENDOR / "PROVENANCE.md").read_text(),
        re.MULTILINE,
    )
    assert rows
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert {name for name, _ in rows} == {p.name for p in VENDOR.iterdir()} - {"PROVENANCE.md"}
