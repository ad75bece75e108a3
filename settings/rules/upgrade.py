"""Rules of `mailstack:upgrade` (the staged v0.15 -> v0.16 upgrade) and its export."""

from __future__ import annotations

import json
from typing import Any

from settings import formats as f
from settings.model import Upgrade
from settings.problems import Check

PHASES = ("stop", "recover")
MAX_EXPORT_BYTES = 512 * 1024  # a Kubernetes Secret holds 1 MiB; a homelab's export is a few KiB


def upgrade(value: Any, check: Check) -> Upgrade | None:
    fix = (
        "see docs/how-to/upgrade-to-v016.md; e.g. mailstack:upgrade: {phase: stop}, then "
        "{phase: recover} with the v0.16 image"
    )
    given = check.object_of(
        value, {"phase", "claimName"}, "must be an object with phase (stop or recover)", fix
    )
    if given is None:
        return None
    phase, claim = given.get("phase"), given.get("claimName")
    if phase not in PHASES:
        check.bad(f"phase {phase!r} is not one of {', '.join(PHASES)}", fix)
    elif claim is not None and (
        not isinstance(claim, str) or len(claim) > 253 or not f.SUBDOMAIN_RE.fullmatch(claim)
    ):
        check.bad(f"claimName {claim!r} is not a Kubernetes name", fix)
    else:
        return Upgrade(phase=phase, claim_name=claim)
    return None


def export(value: str, check: Check) -> None:
    """The converted export (NDJSON of create/update operations); never echoed."""
    fix = "make upgrade-export (it stores the export with pulumi config set --secret)"
    if len(value.encode()) > MAX_EXPORT_BYTES:
        check.bad(f"the export is larger than {MAX_EXPORT_BYTES // 1024} KiB", fix)
        return
    for number, line in enumerate(value.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            operation = json.loads(line)
        except ValueError:
            check.bad(f"line {number} of the export is not JSON", fix)
            return
        if not isinstance(operation, dict) or operation.get("@type") not in ("create", "update"):
            check.bad(
                f"line {number} of the export is not a create or update operation of "
                "migrate_v016.py convert",
                fix,
            )
            return
