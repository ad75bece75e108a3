"""Secrets rule: no ConfigMap value, label or annotation holds a credential or a hash."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from .view import CONFIGMAP_TYPES, ResourceView, get

# Where a Kubernetes object (or an object it stamps out) carries labels and annotations.
_METADATA_PATHS: tuple[tuple[str, ...], ...] = (
    ("metadata",),
    ("spec", "template", "metadata"),
    ("spec", "jobTemplate", "metadata"),
    ("spec", "jobTemplate", "spec", "template", "metadata"),
)

# Password hashes in modular crypt format: md5/bcrypt/sha256/sha512-crypt, yescrypt, argon2,
# pbkdf2, scrypt (what Stalwart accepts as a `secret`). The `$6$` sha512-crypt hash is the one the
# runbook's init container produced.
_CRYPT_HASH = re.compile(
    r"\$(?:1|2[abxy]?|5|6|7|y|gy|argon2(?:i|d|id)|pbkdf2(?:-sha(?:1|256|512))?|scrypt)"
    r"\$[./A-Za-z0-9$=,+-]{8,}"
)
# Resend API keys (`re_` and at least 8 more characters), not inside a longer word.
_RESEND_KEY = re.compile(r"(?<![A-Za-z0-9_])re_[A-Za-z0-9_]{8,}")
# A key whose name says its value is a credential.
_SECRET_KEY_NAME = re.compile(r"password|passwd|secret|token|api[-_]?key", re.IGNORECASE)
# `key = value` (TOML, INI, env files) or `key: value` (YAML) lines inside a ConfigMap value.
_KEY_VALUE_LINE = re.compile(r"^\s*[\"']?([A-Za-z0-9_.\-]+)[\"']?\s*[=:]\s*(.*?)\s*$")
# Values that fetch the secret at run time instead of holding it: Stalwart macros (one or more),
# shell-style variable references, file paths.
_REFERENCE = re.compile(
    r"^(?:(?:%\{(?:file|env):[^}]+\}%)+|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|/[\w./-]*)$"
)
# Values that cannot be a credential: booleans, numbers, durations (e.g. a token lifetime `1h`).
_HARMLESS = re.compile(r"^(?:|true|false|\d+(?:\.\d+)?(?:ms|s|m|h|d|w)?)$", re.IGNORECASE)
# A literal in a `key = value` line: one quoted string, or one bare word (no spaces, calls,
# brackets or commas, which make it an expression of a script rather than a configured value).
_LITERAL = re.compile(r"""^(?:"([^"]*)"|'([^']*)'|([^\s"'(){}\[\],;]+))$""")
# ConfigMap entries that are programs, not configuration: their `name = expr` lines are code.
_SCRIPT_SUFFIXES = (".py", ".sh", ".bash", ".js", ".mjs", ".ts", ".rb", ".pl", ".lua")


# --- 4. no secret in ConfigMaps, labels or annotations ---


def secret_finding(value: str) -> str | None:
    """What secret-looking thing a string holds (never the value itself), or None."""
    if _CRYPT_HASH.search(value):
        return "a password hash (crypt format, e.g. $6$...)"
    if _RESEND_KEY.search(value):
        return "a Resend API key (re_...)"
    return None


def _credential_value(value: str) -> bool:
    """True when the value of a credential-named key is a literal credential: not a macro,
    variable or path, not a boolean, number or duration."""
    value = value.strip().strip("\"'").strip()
    return not (_REFERENCE.match(value) or _HARMLESS.match(value))


def _credential_lines(text: str) -> Iterator[str]:
    """Keys of `key = "literal"` / `key: literal` lines whose key names a credential and whose
    value is a literal credential (comments skipped)."""
    for line in text.splitlines():
        if line.lstrip().startswith(("#", ";", "//")):
            continue
        match = _KEY_VALUE_LINE.match(line)
        if not match or not _SECRET_KEY_NAME.search(match.group(1)):
            continue
        literal = _LITERAL.match(match.group(2).rstrip(","))
        if literal and _credential_value(next(g for g in literal.groups() if g is not None)):
            yield match.group(1)


def check_no_secrets(resource: ResourceView) -> list[str]:
    """No ConfigMap data, label or annotation of a Kubernetes object holds a secret or a hash."""
    if not resource.type.startswith("kubernetes:"):
        return []
    problems = []
    for path in _METADATA_PATHS:
        metadata = get(resource.inputs, *path)
        for field in ("labels", "annotations"):
            entries = get(metadata, field)
            if not isinstance(entries, Mapping):
                continue
            for key in entries:
                value = entries[key]
                finding = secret_finding(value) if isinstance(value, str) else None
                if finding:
                    place = ".".join((*path, field))
                    problems.append(
                        f"{resource.label}: {place} '{key}' holds {finding}. Labels and "
                        "annotations are readable by anyone who can list the object. Fix: keep it "
                        "in a Secret (or in the stack config with --secret) and reference it."
                    )
    if resource.type in CONFIGMAP_TYPES:
        data = get(resource.inputs, "data")
        if isinstance(data, Mapping):
            for key in data:
                problems.extend(_configmap_entry_problems(resource, key, data[key]))
    return problems


def _configmap_entry_problems(resource: ResourceView, key: str, value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    fix = (
        "Fix: put the value in the Secret and read it with a %{file:/run/secrets/...}% or "
        "%{env:...}% macro."
    )
    where = f"{resource.label}: data '{key}'"
    problems = []
    finding = secret_finding(value)
    if finding:
        problems.append(f"{where} holds {finding}; a ConfigMap is not secret. {fix}")
    if _SECRET_KEY_NAME.search(key) and "\n" not in value.strip() and _credential_value(value):
        problems.append(f"{where} is named like a credential and holds a literal value. {fix}")
    if key.lower().endswith(_SCRIPT_SUFFIXES):
        return problems
    for name in _credential_lines(value):
        problems.append(
            f"{where} sets '{name}' to a literal value instead of a Stalwart macro. {fix}"
        )
    return problems
