"""Rules of `mailstack:adopt`: what the first update imports instead of creating."""

from __future__ import annotations

import difflib
from typing import Any

from components.cloudflare.resources import BY_ADOPT_KEY
from settings.model import Adoption
from settings.problems import Check
from settings.rules.authentik import adopted_ids


def adopt(value: Any, check: Check) -> Adoption | None:
    fix = (
        "see docs/how-to/adopt-the-old-system.md; e.g. mailstack:adopt: {kubernetes: true, "
        "cloudflare: "
        "{emailRoutingSettings: <zone_id>}} (make import-plan writes the cloudflare part)"
    )
    given = check.object_of(
        value,
        {*check.default, "authentik"},
        "must be an object with kubernetes and cloudflare",
        fix,
    )
    if given is None:
        return None
    merged = {**check.default, **given}
    kubernetes, cloudflare = merged["kubernetes"], merged["cloudflare"]
    if not isinstance(kubernetes, bool):
        check.bad("kubernetes must be true or false", fix)
    elif not isinstance(cloudflare, dict):
        check.bad("cloudflare must map resource names to import ids", fix)
    else:
        unknown_resources = sorted(set(cloudflare) - set(BY_ADOPT_KEY))
        if unknown_resources:
            close = difflib.get_close_matches(unknown_resources[0], BY_ADOPT_KEY, n=1)
            check.bad(
                f"cloudflare.{unknown_resources[0]} is not a resource of this program",
                f"did you mean cloudflare.{close[0]}?" if close else fix,
            )
            return None
        authentik_ids = adopted_ids(merged.get("authentik", {}), "authentik", check, fix)
        if authentik_ids is None:
            return None
        return Adoption(kubernetes=kubernetes, cloudflare=dict(cloudflare), authentik=authentik_ids)
    return None
