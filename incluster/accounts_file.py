"""The accounts Job's input, `ACCOUNTS_FILE` (written by components/service_accounts.py), read
the same way by both generations' reconcilers (standard library only):

    {"domain": "example.com", "accounts": [{"name": "noreply", "email": "noreply@example.com",
     "description": "Authentik", "secretHash": "$6$..."}]}

Names and addresses are lowercased; an account without `email` is `<name>@<domain>`. Messages
never quote a hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from incluster.client import ClientError

# Prefixes of the hash formats Stalwart verifies (crates/directory/src/core/secret.rs). Anything
# else is compared as plaintext by Stalwart, which is exactly what must never be stored.
HASH_PREFIXES = ("$6$", "$5$", "$2a$", "$2b$", "$2y$", "$argon2", "$pbkdf2", "$scrypt")


@dataclass(frozen=True)
class Account:
    name: str
    email: str
    description: str
    secret_hash: str = field(repr=False)


@dataclass(frozen=True)
class Desired:
    domain: str
    accounts: tuple[Account, ...]


def fingerprint(secret_hash: str) -> str:
    """Tells two hashes apart without revealing anything usable about either: 16 hex digits of
    SHA-256. The v0.16 reconciler keeps it in a managed account's description; the stack puts it
    on a consumer's pod template (components/consumers.py) to roll it when the password changes."""
    return hashlib.sha256(secret_hash.encode()).hexdigest()[:16]


def _text(entry: Mapping[str, object], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if value is None or (value == "" and default is None):
        raise ClientError(f"{where}: missing {key!r}")
    if not isinstance(value, str):
        raise ClientError(f"{where}: {key!r} must be a string")
    return value.strip()


def parse_accounts(document: object) -> Desired:
    """The validated document; a ClientError names the entry and what is wrong."""
    if not isinstance(document, dict):
        raise ClientError("accounts file: top level must be a JSON object")
    domain = _text(document, "domain", "accounts file").lower()
    raw_accounts = document.get("accounts", [])
    if not isinstance(raw_accounts, list):
        raise ClientError("accounts file: 'accounts' must be a list")
    accounts: list[Account] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw_accounts):
        where = f"accounts file entry {index}"
        if not isinstance(entry, dict):
            raise ClientError(f"{where}: must be an object")
        name = _text(entry, "name", where).lower()
        where = f"accounts file account {name!r}"
        if name in seen:
            raise ClientError(f"{where}: listed twice")
        seen.add(name)
        email = (_text(entry, "email", where, default="") or f"{name}@{domain}").lower()
        if email.rpartition("@")[2] != domain:
            raise ClientError(f"{where}: email {email!r} is not in domain {domain!r}")
        secret_hash = _text(entry, "secretHash", where)
        if not secret_hash.startswith(HASH_PREFIXES):
            raise ClientError(
                f"{where}: 'secretHash' is not a password hash (expected e.g. SHA-512-crypt"
                " '$6$...'); refusing to store what Stalwart would treat as a plaintext password"
            )
        description = _text(entry, "description", where, default="")
        accounts.append(Account(name, email, description, secret_hash))
    return Desired(domain, tuple(accounts))
