"""How the engine marks a secret on the wire, and the helpers that reveal, redact and find them
(the render, the leak tests and the harness's mocks share them)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc

SECRET_SIG_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def secret(value: Any) -> dict[str, Any]:
    """Wraps a value the way the engine marks a secret on the wire."""
    return {SECRET_SIG_KEY: SECRET_SIG, "value": value}


def reveal(value: Any) -> Any:
    """The value with every secret wrapper removed (tests compare plaintext with this)."""
    if is_secret_value(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def redact(value: Any, marker: str = "[secret]", keep_shape: bool = False) -> Any:
    """The value with every secret replaced by `marker`.

    With `keep_shape`, a secret map or list keeps its keys and items and only its leaves become
    `marker` (a Kubernetes Secret's `stringData` stays a map, as the manifest needs).
    """
    if is_secret_value(value):
        return _mark_leaves(reveal(value), marker) if keep_shape else marker
    if isinstance(value, dict):
        return {k: redact(v, marker, keep_shape) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, marker, keep_shape) for v in value]
    return value


def _mark_leaves(value: Any, marker: str) -> Any:
    if isinstance(value, dict):
        return {k: _mark_leaves(v, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_leaves(v, marker) for v in value]
    return marker


def secret_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every secret inside `value`."""
    if is_secret_value(value):
        return [prefix or "."]
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += secret_paths(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += secret_paths(item, f"{prefix}[{index}]")
    return found
