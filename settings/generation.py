"""Which Stalwart generation the data claim holds, and whether the image may run on it.

Pure: `settings/history.py` reads the record, this decides. A refusal names `mailstack:image`
and the fix; nothing is registered before it.
"""

from __future__ import annotations

from typing import Any

from settings.history import History
from settings.model import Adoption
from settings.problems import NAMESPACE, Problems, set_command

UPGRADE_GUIDE = "MIGRATING.md 'Upgrade to v0.16'"


def held_generation(history: History, adopt: Adoption) -> str | None:
    """The generation the primary data claim holds before this update; None: a fresh stack."""
    if history.record is not None:
        primary = history.record.get("primary")
        if isinstance(primary, dict) and isinstance(primary.get("generation"), str):
            return str(primary["generation"])
    if history.deployed or adopt.kubernetes:
        # Deployed by a version of this program that only knew v0.15, or the running homelab
        # being adopted: its claim was written by v0.15.
        return "0.15"
    return None


def check_generation(
    values: dict[str, Any], running: str, held: str | None, problems: Problems
) -> None:
    """Refuses an image whose generation cannot run on what the claim holds."""
    claim = values["dataClaimName"]
    if held == "0.15" and running == "0.16":
        problems.add(
            "image",
            f"the data claim '{claim}' holds Stalwart v0.15 data, on which v0.16 must not start "
            "(its first start migrates the store in recovery mode and wipes the v0.15 accounts)",
            "keep the v0.15 image until you upgrade, "
            + set_command("image", "stalwartlabs/stalwart:v0.15.5")
            + f"; the upgrade is {NAMESPACE}:upgrade ({UPGRADE_GUIDE})",
        )
    elif held == "0.16" and running == "0.15":
        problems.add(
            "image",
            f"the data claim '{claim}' holds Stalwart v0.16 data, which v0.15 cannot read",
            set_command("image", "stalwartlabs/stalwart:v0.16.18"),
        )


def record(claim: str, generation: str) -> dict[str, Any]:
    """The `stalwartData` stack output: what the next run reads back."""
    return {"primary": {"claim": claim, "generation": generation}}
