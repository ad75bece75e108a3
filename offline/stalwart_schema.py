"""Checks a `stalwart-cli apply` plan against Stalwart's own object schema, offline.

The schema is the server's `resources/schema/schema.json.gz` at v0.16.18, vendored byte for byte
(vendor/stalwart/PROVENANCE.md). Layout: `objects["x:<Type>"]` (object or singleton),
`schemas["x:<Schema>"]` (`single` with one field set, or `multiple` with variants chosen by
`@type`), `fields["x:<Schema>"].properties` (each with a `type` and an `update` mode), `enums`.
Wire encoding (crates/registry/src/types): lists and sets are JSON objects, durations and sizes
are numbers, object ids are strings (`#client-id` references allowed in a plan).

`plan_problems()` returns one line per problem (unknown type, property, variant, enum value, a
value of the wrong shape, a read-only property, a plan line `stalwart-cli` would refuse).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = (
    Path(__file__).resolve().parent.parent / "vendor" / "stalwart" / "schema-v0.16.18.json.gz"
)
# stalwart-cli's plan line (apply.rs `RawOp`, deny_unknown_fields since 1.0.12).
OPERATIONS = {"upsert", "reconcile", "update", "create", "destroy"}
OPERATION_KEYS = {"@type", "object", "value", "id", "matchOn", "scope"}


@cache
def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


def plan_problems(operations: Iterable[dict[str, Any]]) -> list[str]:
    """Every problem of every operation, `line N: ...`; empty when the plan fits the schema."""
    schema = load_schema()
    problems: list[str] = []
    for number, op in enumerate(operations, start=1):
        problems += [f"line {number}: {p}" for p in _operation(schema, op)]
    return problems


def _operation(schema: dict[str, Any], op: dict[str, Any]) -> list[str]:
    unknown = sorted(set(op) - OPERATION_KEYS)
    if unknown:
        return [f"unknown plan key(s) {unknown}"]
    kind = op.get("@type")
    if kind not in OPERATIONS:
        return [f"unknown operation {kind!r}"]
    name = f"x:{op.get('object')}"
    meta = schema["objects"].get(name)
    if meta is None:
        return [f"unknown object type {op.get('object')!r}"]
    singleton = meta.get("type") == "singleton"
    value = op.get("value")
    if kind == "update":
        if not singleton and not op.get("id"):
            return [f"update of {name} needs an id"]
        return _body(schema, name, value, f"{name}", partial=True)
    if singleton:
        return [f"{kind} of the singleton {name}: use update"]
    if kind == "destroy":
        return [] if value is None or isinstance(value, dict) else ["destroy takes a filter"]
    if not isinstance(value, dict) or (kind != "reconcile" and not value):
        return [f"{kind} of {name} needs a non-empty map of objects"]
    problems: list[str] = []
    match_on = op.get("matchOn")
    if (
        kind in ("upsert", "reconcile")
        and match_on != "*"
        and (not isinstance(match_on, list) or not match_on)
    ):
        problems.append(f"{kind} of {name} needs matchOn (a property list or '*')")
    for client_id, body in value.items():
        where = f"{name}[{client_id}]"
        problems += _body(schema, name, body, where, partial=False)
        if isinstance(match_on, list) and isinstance(body, dict):
            problems += [f"{where}: matchOn {p!r} missing" for p in match_on if p not in body]
    return problems


def _variant_fields(schema: dict[str, Any], name: str, body: dict[str, Any], where: str) -> Any:
    """The field set of `name` for this body (chosen by `@type`), or a problem string."""
    layout = schema["schemas"].get(name)
    if layout is None:
        return f"{where}: no schema for {name}"
    if layout["type"] == "single":
        return schema["fields"].get(layout["schemaName"], {}).get("properties", {})
    variants = {v["name"]: v for v in layout["variants"]}
    chosen = body.get("@type")
    if chosen not in variants:
        return f"{where}: @type {chosen!r} is not one of {sorted(variants)}"
    schema_name = variants[chosen].get("schemaName")
    return schema["fields"].get(schema_name, {}).get("properties", {}) if schema_name else {}


def _body(schema: dict[str, Any], name: str, body: Any, where: str, partial: bool) -> list[str]:
    if not isinstance(body, dict):
        return [f"{where}: must be an object"]
    fields = _variant_fields(schema, name, body, where)
    if isinstance(fields, str):
        return [fields]
    problems: list[str] = []
    for key, value in body.items():
        if key == "@type":
            continue
        spec = fields.get(key)
        if spec is None:
            problems.append(f"{where}: unknown property {key!r}")
            continue
        if spec.get("update") == "serverSet":
            problems.append(f"{where}.{key}: is set by the server")
            continue
        problems += _value(schema, spec["type"], value, f"{where}.{key}")
    return problems


def _value(schema: dict[str, Any], kind: dict[str, Any], value: Any, where: str) -> list[str]:
    if value is None:
        return [] if kind.get("nullable") else [f"{where}: may not be null"]
    shape = kind["type"]
    if shape == "string":
        return _string(kind, value, where)
    if shape in ("boolean",):
        return [] if isinstance(value, bool) else [f"{where}: must be true or false"]
    if shape == "number":
        return _number(kind, value, where)
    if shape == "enum":
        return _enum(schema, kind["enumName"], value, where)
    if shape == "objectId":
        return [] if isinstance(value, str) and value else [f"{where}: must be an object id"]
    if shape == "utcDateTime":
        return [] if isinstance(value, str) else [f"{where}: must be a UTC date-time string"]
    if shape == "object":
        return _body(schema, kind["objectName"], value, where, partial=False)
    if shape == "objectList":
        return _keyed(
            value,
            where,
            lambda key, item: _body(
                schema, kind["objectName"], item, f"{where}/{key}", partial=False
            ),
            numeric=True,
        )
    if shape == "set":
        return _keyed(
            value,
            where,
            lambda key, item: (
                ([] if item is True else [f"{where}/{key}: a set member is `true`"])
                + _value(schema, kind["class"], key, f"{where}/{key}")
            ),
            numeric=False,
        )
    if shape == "map":
        return _keyed(
            value,
            where,
            lambda key, item: (
                _value(schema, kind["keyClass"], key, f"{where}/{key}")
                + _value(schema, kind["valueClass"], item, f"{where}/{key}")
            ),
            numeric=False,
        )
    return [f"{where}: type {shape!r} is not checked by this tool"]


def _keyed(value: Any, where: str, check: Any, numeric: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: must be a JSON object (lists and sets are objects on the wire)"]
    problems: list[str] = []
    for key, item in value.items():
        if numeric and not key.isdigit():
            problems.append(f"{where}: list keys are positions 0, 1, ..., not {key!r}")
        problems += check(key, item)
    return problems


def _string(kind: dict[str, Any], value: Any, where: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{where}: must be a string"]
    if kind.get("format") == "socketAddress" and not value.rpartition(":")[2].isdigit():
        return [f"{where}: {value!r} is not host:port"]
    return []


def _number(kind: dict[str, Any], value: Any, where: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{where}: must be a number"]
    if kind.get("format") in ("unsignedInteger", "size", "duration") and (
        not isinstance(value, int) or value < 0
    ):
        return [f"{where}: must be a whole number of at least 0"]
    low, high = kind.get("min"), kind.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return [f"{where}: {value} is outside {low}..{high}"]
    return []


def _enum(schema: dict[str, Any], enum_name: str, value: Any, where: str) -> list[str]:
    values = _enum_values(schema, enum_name)
    return [] if value in values else [f"{where}: {value!r} is not one of {sorted(values)}"]


def _enum_values(schema: dict[str, Any], enum_name: str) -> set[str]:
    return {item["name"] for item in schema["enums"].get(enum_name, [])}
