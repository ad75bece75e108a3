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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
RECORD_OUTPUT = "stalwartData"


@dataclass(frozen=True)
class History:
    """What the last update of this stack left."""

    deployed: bool
    """The stack has outputs: some update ran this program before."""
    record: Mapping[str, Any] | None
    """The `stalwartData` output of that update, when it had one."""


def read_history() -> History:
    """The last update's outputs of this very stack, read through the engine."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": name})
    outputs = (result.value or {}).get("outputs") or {}
    record = outputs.get(RECORD_OUTPUT)
    return History(deployed=bool(outputs), record=record if isinstance(record, Mapping) else None)
