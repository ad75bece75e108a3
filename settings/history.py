"""What the stack recorded last time: which Stalwart generation its data claim holds.

Stalwart v0.16 cannot run on a v0.15 store (the first v0.16 start needs recovery mode and wipes
the v0.15 settings and directory; outside recovery mode it writes its defaults into the old store
and aborts), and v0.15 cannot read a v0.16 store. The image setting alone cannot tell which one
the claim holds: a stack that has run v0.15 and whose image setting is later removed (so that the
default, v0.16, applies) must not start v0.16 on that claim. So every update exports the
generation as the stack output `stalwartData`, and the next run reads it back through the engine's
`pulumi:pulumi:readStackOutputs` (the builtin behind StackReference) before anything else.

No record: a stack that has never been updated is fresh; a stack with outputs but no record was
deployed by a version of this program that only knew v0.15, so its claim holds v0.15 data.

The read can fail for a moment on a file backend (`pulumi login --local`, `file://`): the engine
saves the checkpoint while the program reads it, and gocloud's fileblob rewrites the checkpoint's
`.attrs` file in place (gocloud.dev blob/fileblob/attrs.go `setAttrs`: os.Create, then encode),
so a read in between decodes an empty file and the engine answers "failed to load checkpoint:
EOF" (seen in `make e2e`: about one first update in eight). That one answer is read again; any
other failure stops the program, because guessing "fresh" could start v0.16 on v0.15 data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from settings import formats as f
from settings.problems import SettingsError

READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
RECORD_OUTPUT = "stalwartData"
# The torn read of a file backend's checkpoint (see above), and how often it is read again.
TORN_READ = "failed to load checkpoint: EOF"
READ_ATTEMPTS = 5
READ_PAUSE = 0.2


_ROLES = ("primary", "upgraded")
_RECORD_KEYS = {*_ROLES, "serving", "upgradePhase", "storage", "movePhase"}
_PHASES = (None, "stop", "recover")


def record_problem(record: Any) -> str | None:
    """What makes `record` other than a `stalwartData` output this program writes
    (settings/generation.py `record`), or None. A record decides which generation starts on
    which claim, so one edited by hand (a PREVIOUS= file, a state file) is refused, not read."""
    if not isinstance(record, Mapping):
        return "is not an object"
    unknown = sorted(set(record) - _RECORD_KEYS)
    if unknown:
        return f"has the field(s) {', '.join(map(str, unknown))[:80]}, which it never writes"
    if "primary" not in record:
        return "has no primary entry"
    for role in _ROLES:
        entry = record.get(role)
        if entry is None and role == "upgraded":
            continue
        # `image` came later: a record written before it has claim and generation only.
        if not isinstance(entry, Mapping) or not (
            {"claim", "generation"} <= set(entry) <= {"claim", "generation", "image"}
        ):
            return f"{role} is not {{claim, generation, image}}"
        claim, generation, image = entry["claim"], entry["generation"], entry.get("image", "x")
        if not isinstance(claim, str) or not f.SUBDOMAIN_RE.fullmatch(claim):
            return f"{role}.claim is not a claim name"
        if generation not in ("0.15", "0.16"):
            return f"{role}.generation is not 0.15 or 0.16"
        if not isinstance(image, str) or not f.IMAGE_RE.fullmatch(image):
            return f"{role}.image is not an image reference"
    if record.get("serving") not in (None, *[r for r in _ROLES if record.get(r)]):
        return "serving names no entry of the record"
    if record.get("upgradePhase") not in _PHASES:
        return "upgradePhase is not stop or recover"
    if record.get("storage") not in (None, "postgresql"):
        return "storage is not postgresql"
    if record.get("movePhase") not in (None, "copy"):
        return "movePhase is not copy"
    if record.get("movePhase") and record.get("storage"):
        return "has a movePhase, but its mail is already in PostgreSQL"
    return None


@dataclass(frozen=True)
class History:
    """What the last update of this stack left."""

    deployed: bool
    """The stack has outputs: some update ran this program before."""
    record: Mapping[str, Any] | None
    """The `stalwartData` output of that update, when it had one."""


def read_history(sleep: Callable[[float], None] = time.sleep) -> History:
    """The last update's outputs of this very stack, read through the engine."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": name})
            break
        except Exception as err:  # the SDK raises a bare Exception for a failed invoke
            if TORN_READ in str(err) and attempt < READ_ATTEMPTS:
                sleep(READ_PAUSE * attempt)
                continue
            raise SettingsError(
                [
                    f"{RECORD_OUTPUT}: the stack's last outputs could not be read back ({err}); "
                    "they say which Stalwart generation the data claim holds, so nothing is "
                    "deployed without them. Fix: run the command again; if it persists, check "
                    "`pulumi stack output` works with this backend."
                ]
            ) from None
    outputs = (result.value or {}).get("outputs") or {}
    record = outputs.get(RECORD_OUTPUT)
    problem = None if record is None else record_problem(record)
    if problem:
        raise SettingsError(
            [
                f"{RECORD_OUTPUT}: the stack's last record {problem}, so it cannot say which "
                "Stalwart generation the data claim holds. Fix: restore the state from a backup "
                "(`pulumi stack export` of an earlier version), never edit it by hand."
            ]
        )
    return History(deployed=bool(outputs), record=record)
