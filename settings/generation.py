"""Which Stalwart generation each data claim holds, which claim serves, and the upgrade's stages.

Pure: `settings/history.py` reads the record, this decides. Every refusal is one line naming the
key and the fix; nothing is registered before it.

The claims: `primary` is the stack's first claim (`dataClaimName`); `upgraded` is the v0.16 copy
that the upgrade's `recover` phase clones from a v0.15 primary. The v0.15 claim is never written
by v0.16, so rolling back is the v0.15 image on the primary again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from settings.history import History
from settings.model import ROCKSDB, Adoption, ClaimRuntime, DataPlan, StorageSettings, Upgrade
from settings.problems import NAMESPACE, Problems, set_command

UPGRADE_GUIDE = "docs/how-to/upgrade-to-v016.md"
LAST_V015_IMAGE = "stalwartlabs/stalwart:v0.15.5"
V016_IMAGE = "stalwartlabs/stalwart:v0.16.18"


def _entry(record: Mapping[str, Any] | None, role: str) -> Mapping[str, Any] | None:
    entry = (record or {}).get(role)
    return entry if isinstance(entry, Mapping) and isinstance(entry.get("claim"), str) else None


def held_generation(history: History, adopt: Adoption) -> str | None:
    """The generation the primary claim holds before this update; None: a fresh stack."""
    primary = _entry(history.record, "primary")
    if primary is not None and isinstance(primary.get("generation"), str):
        return str(primary["generation"])
    if history.deployed or adopt.kubernetes:
        # Deployed by a version of this program that only knew v0.15, or the running homelab
        # being adopted: its claim was written by v0.15.
        return "0.15"
    return None


def plan_data(
    values: dict[str, Any], running: str, history: History, problems: Problems
) -> DataPlan | None:
    """The claims after this update; None (with a problem line) when the settings cannot be."""
    image: str = values["image"]
    primary_claim: str = values["dataClaimName"]
    upgrade: Upgrade | None = values["upgrade"]
    phase = upgrade.phase if upgrade else None
    held = held_generation(history, values["adopt"])
    primary_entry = _entry(history.record, "primary")
    upgraded_entry = _entry(history.record, "upgraded")
    idle_v015 = str((primary_entry or {}).get("image") or LAST_V015_IMAGE)

    def primary(generation: str, replicas: int, runtime_image: str) -> ClaimRuntime:
        return ClaimRuntime(
            "primary", primary_claim, generation, runtime_image, replicas, False, None
        )

    def upgraded(replicas: int, runtime_image: str, recovery: bool, claim: str) -> ClaimRuntime:
        return ClaimRuntime(
            "upgraded", claim, "0.16", runtime_image, replicas, recovery, primary_claim
        )

    def refuse(key: str, problem: str, fix: str) -> None:
        problems.add(key, problem, fix)

    if upgraded_entry is None:
        if phase is None:
            if held in (None, running):
                return DataPlan((primary(running, 1, image),), None)
            _refuse_mismatch(primary_claim, held, running, problems)
            return None
        if held != "0.15":
            what = "a fresh stack" if held is None else f"the claim '{primary_claim}' holds v0.16"
            refuse(
                "upgrade",
                f"there is nothing to upgrade: {what}",
                f"pulumi config rm {NAMESPACE}:upgrade",
            )
            return None
        if phase == "stop":
            if running != "0.15":
                refuse(
                    "upgrade",
                    "phase stop stops the v0.15 server and keeps its image; the "
                    "v0.16 image belongs to phase recover",
                    set_command("image", LAST_V015_IMAGE) + f" ({UPGRADE_GUIDE})",
                )
                return None
            return DataPlan((primary("0.15", 0, image),), "stop")
        if running != "0.16":
            refuse(
                "upgrade",
                "phase recover starts v0.16 on a copy of the claim, but the image is v0.15",
                set_command("image", V016_IMAGE),
            )
            return None
        if values["upgradeExport"] is None:
            refuse(
                "upgradeExport",
                "phase recover needs the converted v0.15 export",
                f"make upgrade-export ({UPGRADE_GUIDE})",
            )
            return None
        claim = (upgrade.claim_name if upgrade else None) or f"{primary_claim}-v016"
        if claim == primary_claim:
            refuse(
                "upgrade",
                f"claimName '{claim}' is the v0.15 claim itself",
                "leave claimName unset (it defaults to <dataClaimName>-v016)",
            )
            return None
        return DataPlan((primary("0.15", 0, idle_v015), upgraded(1, image, True, claim)), "recover")

    copy = str(upgraded_entry["claim"])
    idle_v016 = str(upgraded_entry.get("image") or V016_IMAGE)
    if upgrade and upgrade.claim_name not in (None, copy):
        refuse(
            "upgrade",
            f"claimName '{upgrade.claim_name}' differs from the copy the upgrade "
            f"already made, '{copy}'",
            f"remove claimName, or set it to {copy}",
        )
        return None
    if phase == "recover" and running != "0.16":
        refuse(
            "upgrade",
            "phase recover runs v0.16, but the image is v0.15",
            set_command("image", idle_v016),
        )
        return None
    if phase == "recover":
        return DataPlan((primary("0.15", 0, idle_v015), upgraded(1, image, True, copy)), phase)
    if phase == "stop":
        if running != "0.15":
            refuse(
                "upgrade",
                "phase stop is for the v0.15 server; v0.16 is already upgraded",
                f"pulumi config rm {NAMESPACE}:upgrade",
            )
            return None
        return DataPlan((primary("0.15", 0, image), upgraded(0, idle_v016, False, copy)), phase)
    if running == "0.16":
        return DataPlan((primary("0.15", 0, idle_v015), upgraded(1, image, False, copy)), None)
    # Rolled back: v0.15 on its untouched claim; the v0.16 copy waits.
    return DataPlan((primary("0.15", 1, image), upgraded(0, idle_v016, False, copy)), None)


def stopped(data: DataPlan) -> DataPlan:
    """The same claims with no Stalwart pod on any (the move's copy: nothing serves)."""
    return DataPlan(
        tuple(dataclasses.replace(claim, replicas=0) for claim in data.claims), data.phase
    )


def _refuse_mismatch(claim: str, held: str | None, running: str, problems: Problems) -> None:
    if held == "0.15" and running == "0.16":
        problems.add(
            "image",
            f"the data claim '{claim}' holds Stalwart v0.15 data, on which v0.16 must not start "
            "(its first start migrates the store in recovery mode and wipes the v0.15 accounts)",
            "keep the v0.15 image until you upgrade, "
            + set_command("image", LAST_V015_IMAGE)
            + f"; the upgrade is {NAMESPACE}:upgrade ({UPGRADE_GUIDE})",
        )
    else:
        problems.add(
            "image",
            f"the data claim '{claim}' holds Stalwart v{held} data, which v{running} cannot read",
            set_command("image", V016_IMAGE if held == "0.16" else LAST_V015_IMAGE),
        )


def record(data: DataPlan, storage: StorageSettings = ROCKSDB) -> dict[str, Any]:
    """The `stalwartData` stack output: what the next run reads back (and the phase, to read);
    `storage: postgresql` when the mail is in PostgreSQL (absent: RocksDB, as every record
    written before PostgreSQL existed); `movePhase: copy` while the move copies RocksDB into
    PostgreSQL (RocksDB still holds the mail, so the rollback is `storage: rocksdb`)."""
    entries: dict[str, Any] = {
        claim.role: {"claim": claim.claim, "generation": claim.generation, "image": claim.image}
        for claim in data.claims
    }
    serving = data.serving
    entries["serving"] = serving.role if serving else None
    entries["upgradePhase"] = data.phase
    if storage.moving:
        entries["movePhase"] = storage.move
    elif storage.postgresql:
        entries["storage"] = storage.engine
    return entries
