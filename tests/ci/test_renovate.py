"""renovate.json: every key one Renovate knows (its own schema, vendored in check-jsonschema:
the schema accepts unknown keys, so this walk refuses them), and the groups
docs/explanation/reproducible-deploys.md promises:
the Pulumi CLI pin moves with the SDK and the providers, action pins in one PR."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "renovate.json").read_text())
SCHEMA = json.loads(
    (resources.files("check_jsonschema") / "builtin_schemas/vendor/renovate.json").read_text()
)


def target(ref: str) -> dict[str, Any]:
    return SCHEMA if ref == "#" else SCHEMA["definitions"][ref.removeprefix("#/definitions/")]


def allowed(node: dict[str, Any]) -> dict[str, Any]:
    """The properties an object schema names: its own, its allOf parts', its $ref's."""
    found = dict(node.get("properties", {}))
    for part in node.get("allOf", []):
        found.update(allowed(part))
    ref = node.get("$ref")
    if isinstance(ref, str):
        found.update(allowed(target(ref)) if ref != "#" else SCHEMA["properties"])
    return found


def items(node: dict[str, Any]) -> dict[str, Any] | None:
    while "items" not in node and isinstance(node.get("$ref"), str) and node["$ref"] != "#":
        node = target(node["$ref"])
    return node.get("items")


def unknown_keys(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    if isinstance(value, dict):
        props = allowed(schema)
        problems = []
        for key, item in value.items():
            if key == "$schema":
                continue
            if key not in props:
                problems.append(f"{where}.{key}")
            else:
                problems += unknown_keys(item, props[key], f"{where}.{key}")
        return problems
    item_schema = items(schema) if isinstance(value, list) else None
    if item_schema is not None:
        return [
            problem
            for index, item in enumerate(value)
            for problem in unknown_keys(item, item_schema, f"{where}[{index}]")
        ]
    return []


def test_every_key_is_one_renovate_knows():
    assert unknown_keys(CONFIG, SCHEMA, "$") == []


def test_a_misspelt_key_is_caught():
    broken = json.loads(json.dumps(CONFIG))
    broken["packageRules"][0]["groupNme"] = broken["packageRules"][0].pop("groupName")
    assert unknown_keys(broken, SCHEMA, "$") == ["$.packageRules[0].groupNme"]


def manager_of(path: str) -> dict[str, Any]:
    [manager] = [
        m
        for m in CONFIG["customManagers"]
        if any(re.search(p.strip("/"), path) for p in m["managerFilePatterns"])
    ]
    return dict(manager)


def test_the_image_defaults_are_read_with_their_digest_and_the_reconciler_is_pinned_by_one():
    from settings.keys import KEYS, RECONCILER_IMAGE, STALWART_IMAGE

    manager = manager_of("settings/keys.py")
    expression = manager["matchStrings"][0].replace("(?<", "(?P<")
    found = {
        m["depName"]: (m["currentValue"], m["currentDigest"])
        for m in re.finditer(expression, (ROOT / "settings" / "keys.py").read_text())
    }
    assert found == {
        "stalwartlabs/stalwart": ("v0.16.18", None),
        "python": ("3.12.8-slim-bookworm", RECONCILER_IMAGE.partition("@")[2]),
        "nats": ("2.10.22-alpine", None),
        "postgres": ("18.1-alpine", None),
    }
    assert re.fullmatch(r"python:[^@]+@sha256:[0-9a-f]{64}", KEYS["reconcilerImage"].default)
    assert KEYS["image"].default == STALWART_IMAGE


def test_the_cli_pin_is_read_as_the_pulumi_package_and_grouped_with_the_sdks():
    manager = manager_of(".pulumi-version")
    pattern = manager["managerFilePatterns"][0]
    assert re.search(pattern.strip("/"), ".pulumi-version")
    # Renovate's regexes are JavaScript's: `(?<name>` is Python's `(?P<name>`.
    expression = manager["matchStrings"][0].replace("(?<", "(?P<")
    match = re.search(expression, (ROOT / ".pulumi-version").read_text())
    assert match is not None and match["currentValue"]
    # The CLI make e2e builds: a Go module, whose tags carry a `v` the pin does not.
    assert (manager["depNameTemplate"], manager["datasourceTemplate"]) == (
        "github.com/pulumi/pulumi/pkg/v3",
        "go",
    )
    extracted = re.fullmatch(manager["extractVersionTemplate"].replace("(?<", "(?P<"), "v3.274.0")
    assert extracted is not None and extracted["version"] == "3.274.0"
    [pulumi_rule] = [
        r for r in CONFIG["packageRules"] if "pulumi" in r.get("matchPackageNames", [])
    ]
    assert "/^pulumi-/" in pulumi_rule["matchPackageNames"]
    assert "/^github\\.com/pulumi//" in pulumi_rule["matchPackageNames"]


def test_every_lock_is_one_renovate_updates():
    patterns = [p.strip("/") for p in CONFIG["pip-compile"]["managerFilePatterns"]]
    for lock in ("requirements.txt", "requirements-dev.txt", "policy/requirements.txt"):
        assert any(re.search(p, lock) for p in patterns), lock
    assert not any(re.search(p, "requirements.in") for p in patterns)
