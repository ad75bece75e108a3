"""Password hashes for Stalwart: SHA-512-crypt, salted by a pulumi-random string kept in state,
so the same password gives the same hash on every run (no perpetual diff)."""

from __future__ import annotations

import pulumi
import pulumi_random as random
from passlib.hash import sha512_crypt

# Stalwart verifies a hash inline on every SMTP AUTH and webadmin login
# (crates/directory/src/core/secret.rs), so its cost is paid per login: 5,000 rounds (the
# sha512-crypt default, and what `openssl passwd -6` uses) is ~5 ms; passlib's default 656,000
# is ~0.5 s. The passwords are long and random, so brute force is not what the rounds defend.
HASH_ROUNDS = 5000
SALT_LENGTH = 16  # sha512-crypt uses at most 16 salt characters


def hash_password(password: str, salt: str, rounds: int = HASH_ROUNDS) -> str:
    """SHA-512-crypt (`$6$`), the format of `openssl passwd -6`; deterministic for a given salt."""
    if not 1 <= len(salt) <= SALT_LENGTH:
        raise ValueError(f"sha512-crypt salt must be 1..{SALT_LENGTH} characters")
    hasher = sha512_crypt.using(salt=salt, rounds=rounds)  # type: ignore[no-untyped-call]
    return str(hasher.hash(password))


def salted_hash(
    name: str, password: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    """The secret hash of `password`, salted by the `random.RandomString` `<name>-salt`."""
    salt = random.RandomString(f"{name}-salt", length=SALT_LENGTH, special=False, opts=opts)
    return pulumi.Output.secret(
        pulumi.Output.all(password, salt.result).apply(
            lambda pair: hash_password(str(pair[0]), str(pair[1]))
        )
    )
