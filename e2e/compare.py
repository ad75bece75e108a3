"""Hold what the API server holds against what `make render` says the stack creates.

The render runs under the mock runtime, so what depends on a generated value differs by design:
an auto-named object's suffix, a secret's content, and the fingerprints derived from a hash
(the consumers' restart annotation). Those are compared by shape; everything else must appear in
the live object as rendered (the server may add defaults, never change a rendered field).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

AUTONAME = re.compile(r"^(?P<base>[a-z0-9.-]+)-[a-z0-9]{8}$")
# Values computed from generated secrets: their presence is checked, not their content.
DERIVED_ANNOTATIONS = ("mailstack.pulumi.com/credential-", "mailstack.pulumi.com/data-claim-uid")


def rendered_objects(rendered: Path) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted((rendered / "kubernetes").glob("*.yaml")):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects


def normalise(value: str, bases: set[str]) -> str:
    match = AUTONAME.fullmatch(value)
    if match and match["base"] in bases:
        return match["base"] + "-*"
    return value


def mismatches(expected: Any, actual: Any, bases: set[str], path: str = "") -> list[str]:
    """Where `actual` lacks or contradicts what `expected` holds (a subset comparison)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, found {actual!r}"]
        found: list[str] = []
        for key, value in expected.items():
            here = f"{path}.{key}" if path else str(key)
            if key not in actual:
                found.append(f"{here}: missing")
            elif isinstance(key, str) and key.startswith(DERIVED_ANNOTATIONS):
                continue
            else:
                found.extend(mismatches(value, actual[key], bases, here))
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, found {actual!r}"]
        return [
            m
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for m in mismatches(e, a, bases, f"{path}[{i}]")
        ]
    if isinstance(expected, str) and isinstance(actual, str):
        if normalise(expected, bases) == normalise(actual, bases):
            return []
    elif expected == actual or str(expected) == str(actual):
        return []
    return [f"{path}: expected {expected!r}, found {actual!r}"]
