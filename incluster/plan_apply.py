"""Applying an NDJSON plan of Stalwart v0.16 objects over JMAP (Python standard library only).

The plan format is `stalwart-cli apply`'s (one operation a line; lists as objects keyed "0",
"1", ...; sets as `{"member": true}`; `#clientId` references), and so is the export that
`migrate_v016.py convert` writes. stalwart-cli is not used: the pinned release could not be
obtained or read here, the only source of it that could be read knows create, update and
destroy alone, and running the plans against the real v0.16.18 server showed what the server
accepts (docs/explanation/verified-against-the-real-servers.md). So the semantics are this module's:

- ``update`` (a singleton, or ``id``): the declared properties that differ from the server's
  are sent; none differ, nothing is sent.
- ``upsert`` (``matchOn``: property names, or ``*`` for every declared property): an object of
  the type whose matched properties equal the declared ones is updated with the declared
  properties that differ, *leaving the matched ones out*: the server refuses an immutable
  property in an update even when unchanged (`invalidPatch`, "Cannot modify read-only
  property", crates/registry/src/jmap/patch.rs `assert_read_only`; `name` of a NetworkListener
  or an MtaRoute is immutable). None matches: created. Two match: an error. Never deletes.
- ``reconcile``: ``upsert``, then the objects of the type that no declared object matched are
  destroyed (the server's default listeners, a route added in the WebUI).
- ``create``: created, unless the type has a natural key (below) and an object with that key
  exists; that one is reused as it is. So an export whose apply stopped halfway can simply be
  applied again (UPGRADING/v0_16.md "Recovering from a partial apply": an account a partial run
  created "is correct and is reused as-is"); nothing is ever deleted to recover. A created
  `restore-<id>` client id is what re-links a v0.15 account's mail in recovery mode
  (crates/jmap/src/registry/mapping/principal.rs), so it is sent as given.
- ``destroy``: the objects the filter selects (all of the type without one).
- ``create`` of an ``Action`` (a reload): requested, counted as ``actions``, never as a creation
  (an Action is not stored: `x:Action/query` answers "Actions cannot be queried" on the real
  v0.16.18), so an unchanged plan ends ``created=0`` however often it is applied.

In recovery mode (``recovery=True``) every declared singleton is written whole: the real server
answers a singleton never written with its first variant (`{"@type": "Disabled"}` for ``Asn``)
instead of what a normal start would store (crates/common/src/manager/defaults.rs returns early
in recovery mode), so "unchanged" there would let the first normal start store its default (the
ASN/GeoIP downloads) until the next apply.

Matching compares declared values with the server's; properties the server adds (defaults) do
not stop a match, so an hourly re-application changes nothing that is already as declared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from incluster.client import ClientError

MAX_PLAN_BYTES = 1024 * 1024
# What identifies an object of an exported type, so that a second apply of an export reuses it.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "Tenant": ("name",),
    "Domain": ("name",),
    "Account": ("name", "domainId"),
    "MailingList": ("name", "domainId"),
    "DkimSignature": ("domainId", "selector"),
}
OPERATIONS = ("update", "upsert", "reconcile", "create", "destroy")

Log = Callable[[str], None]


class Server:
    """What the applier needs of the JMAP management API (incluster.jmap_jobs.Jmap gives it)."""

    def query(self, object_type: str, condition: dict[str, object]) -> list[str]:
        raise NotImplementedError

    def get_all(self, object_type: str, ids: list[str]) -> list[dict[str, object]]:
        raise NotImplementedError

    def set(
        self, object_type: str, what: str, args: dict[str, object], created: dict[str, str]
    ) -> dict[str, object]:
        raise NotImplementedError


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    reused: int = 0
    destroyed: int = 0
    actions: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    """Client id -> the server's id of the object created or matched under it."""
    written: set[str] = field(default_factory=set)
    """The object types this application created, updated or destroyed."""

    def counts(self) -> str:
        return (
            f"created={self.created} updated={self.updated} unchanged={self.unchanged} "
            f"reused={self.reused} destroyed={self.destroyed} actions={self.actions}"
        )


def parse_plan(text: str, source: str) -> list[dict[str, Any]]:
    """The operations of an NDJSON plan; one line naming the first problem otherwise."""
    if len(text.encode()) > MAX_PLAN_BYTES:
        raise ClientError(f"{source}: larger than {MAX_PLAN_BYTES // 1024} KiB")
    operations = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            operation = json.loads(line)
        except ValueError:
            raise ClientError(f"{source} line {number}: not JSON") from None
        if (
            not isinstance(operation, dict)
            or operation.get("@type") not in OPERATIONS
            or not isinstance(operation.get("object"), str)
        ):
            raise ClientError(f"{source} line {number}: not an operation of {'/'.join(OPERATIONS)}")
        if operation["@type"] != "destroy" and not isinstance(operation.get("value"), dict):
            raise ClientError(f"{source} line {number}: no value object")
        operations.append(operation)
    return operations


def _resolve(value: object, ids: dict[str, str]) -> object:
    """`#clientId` references replaced by the ids they stand for (for comparing and querying)."""
    if isinstance(value, str) and value.startswith("#") and value[1:] in ids:
        return ids[value[1:]]
    if isinstance(value, dict):
        return {key: _resolve(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, ids) for item in value]
    return value


def _differing(
    declared: dict[str, Any], current: dict[str, object], ids: dict[str, str]
) -> dict[str, Any]:
    return {
        key: value for key, value in declared.items() if _resolve(value, ids) != current.get(key)
    }


class Applier:
    def __init__(self, server: Server, log: Log, recovery: bool = False) -> None:
        self.server = server
        self.log = log
        self.recovery = recovery
        self.tally = Tally()

    def apply(self, operations: Iterable[dict[str, Any]]) -> Tally:
        for operation in operations:
            kind, object_type = operation["@type"], operation["object"]
            if kind == "update":
                self._update(
                    object_type, str(operation.get("id") or "singleton"), operation["value"]
                )
            elif kind in ("upsert", "reconcile"):
                kept = self._upsert(object_type, operation.get("matchOn"), operation["value"])
                if kind == "reconcile":
                    self._destroy_others(object_type, kept)
            elif kind == "create":
                for client_id, body in operation["value"].items():
                    self._create(object_type, client_id, body)
            else:
                self._destroy(object_type, operation.get("value"))
        return self.tally

    # --- operations ------------------------------------------------------------------------

    def _update(self, object_type: str, object_id: str, declared: dict[str, Any]) -> None:
        if object_id.startswith("#"):
            object_id = self._known(object_id[1:], f"update {object_type}")
        if self.recovery and object_id == "singleton":
            changes = dict(declared)
        else:
            current = self._get(object_type, [object_id])
            changes = _differing(declared, current[0] if current else {}, self.tally.ids)
        if not changes:
            self.tally.unchanged += 1
            self.log(f"update {object_type}: unchanged")
            return
        self._set(object_type, f"update {object_type}", {"update": {object_id: changes}})
        self.tally.updated += 1
        self.log(f"update {object_type}: {', '.join(sorted(changes))}")

    def _upsert(self, object_type: str, match_on: object, values: dict[str, Any]) -> set[str]:
        existing = self._get(object_type, self.server.query(object_type, {}))
        kept: set[str] = set()
        for client_id, declared in values.items():
            client_id = client_id.lstrip("#")
            keys = list(declared) if match_on == "*" else _keys(match_on, object_type)
            wanted = {key: _resolve(declared.get(key), self.tally.ids) for key in keys}
            found = [obj for obj in existing if all(obj.get(k) == v for k, v in wanted.items())]
            what = f"{object_type} {client_id}"
            if len(found) > 1:
                raise ClientError(f"{what}: {len(found)} objects match on {', '.join(keys)}")
            if not found:
                created = self._set(
                    object_type, f"create {what}", {"create": {client_id: declared}}
                )
                object_id = _created_id(created, client_id, what)
                self.tally.created += 1
                self.log(f"{what}: created")
            else:
                object_id = str(found[0]["id"])
                changes = {
                    k: v
                    for k, v in _differing(declared, found[0], self.tally.ids).items()
                    if k not in keys
                }
                if changes:
                    self._set(object_type, f"update {what}", {"update": {object_id: changes}})
                    self.tally.updated += 1
                    self.log(f"{what}: {', '.join(sorted(changes))}")
                else:
                    self.tally.unchanged += 1
                    self.log(f"{what}: unchanged")
            self.tally.ids[client_id] = object_id
            kept.add(object_id)
        return kept

    def _destroy_others(self, object_type: str, kept: set[str]) -> None:
        others = [i for i in self.server.query(object_type, {}) if i not in kept]
        if others:
            self._set(object_type, f"reconcile {object_type}", {"destroy": others})
            self.tally.destroyed += len(others)
            self.log(f"{object_type}: destroyed {len(others)} not in the plan")

    def _create(self, object_type: str, client_id: str, body: dict[str, Any]) -> None:
        what = f"{object_type} {client_id}"
        if object_type == "Action":
            self._set(object_type, f"request {what}", {"create": {client_id: body}})
            self.tally.actions += 1
            self.log(f"{what}: requested")
            return
        key = NATURAL_KEYS.get(object_type)
        if key and all(k in body for k in key):
            condition = {k: _resolve(body[k], self.tally.ids) for k in key}
            found = [
                obj
                for obj in self._get(object_type, self.server.query(object_type, {}))
                if all(obj.get(k) == v for k, v in condition.items())
            ]
            if found:
                self.tally.ids[client_id] = str(found[0]["id"])
                self.tally.reused += 1
                self.log(f"{what}: exists, reused")
                return
        created = self._set(object_type, f"create {what}", {"create": {client_id: body}})
        self.tally.ids[client_id] = _created_id(created, client_id, what)
        self.tally.created += 1
        self.log(f"{what}: created")

    def _destroy(self, object_type: str, condition: object) -> None:
        ids = self.server.query(object_type, condition if isinstance(condition, dict) else {})
        if ids:
            self._set(object_type, f"destroy {object_type}", {"destroy": ids})
        self.tally.destroyed += len(ids)
        self.log(f"destroy {object_type}: {len(ids)}")

    # --- plumbing --------------------------------------------------------------------------

    def _known(self, client_id: str, what: str) -> str:
        if client_id not in self.tally.ids:
            raise ClientError(f"{what}: #{client_id} names no object created or matched before")
        return self.tally.ids[client_id]

    def _get(self, object_type: str, ids: list[str]) -> list[dict[str, object]]:
        return self.server.get_all(object_type, ids) if ids else []

    def _set(self, object_type: str, what: str, args: dict[str, object]) -> dict[str, object]:
        result = self.server.set(object_type, what, args, self.tally.ids)
        self.tally.written.add(object_type)
        return result


def _keys(match_on: object, object_type: str) -> list[str]:
    if isinstance(match_on, list) and match_on and all(isinstance(k, str) for k in match_on):
        return list(match_on)
    if isinstance(match_on, str):
        return [match_on]
    raise ClientError(f"{object_type}: matchOn must name properties or be '*'")


def _created_id(result: dict[str, object], client_id: str, what: str) -> str:
    created = result.get("created")
    entry = created.get(client_id) if isinstance(created, dict) else None
    object_id = entry.get("id") if isinstance(entry, dict) else None
    if not isinstance(object_id, str):
        raise ClientError(f"create {what}: the server returned no id")
    return object_id
