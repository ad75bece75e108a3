"""`mailstack:storage` and `mailstack:replicas`: RocksDB on the data claim (one pod), or
PostgreSQL in a CloudNativePG cluster that several Stalwart pods share."""

from __future__ import annotations

import dataclasses
from typing import Any

from settings import formats as f
from settings.history import History
from settings.model import StorageSettings
from settings.problems import Check, Problems
from settings.rules.cluster import MAX_STORAGE_BYTES, MIN_STORAGE_BYTES

ENGINES = ("rocksdb", "postgresql")
_FIELDS = {"engine", "instances", "size", "storageClass"}
MAX_INSTANCES = 5
MAX_REPLICAS = 9


def storage(value: Any, check: Check) -> StorageSettings | None:
    """`rocksdb`, `postgresql`, or `{engine: postgresql, instances, size, storageClass}` (the
    object form leaves room for a blob store of its own later)."""
    fix = (
        "e.g. mailstack:storage: postgresql, or {engine: postgresql, instances: 2, size: 10Gi, "
        "storageClass: longhorn}"
    )
    given = {"engine": value} if isinstance(value, str) else value
    given = check.object_of(given, _FIELDS, "must be rocksdb, postgresql or an object", fix)
    if given is None:
        return None
    merged = {**check.default, **given}
    engine, instances = merged["engine"], merged["instances"]
    if engine not in ENGINES:
        check.bad(f"engine {engine!r} is not one of {', '.join(ENGINES)}", fix)
        return None
    if engine == "rocksdb" and value != check.default and set(given) - {"engine"}:
        check.bad(
            f"{', '.join(sorted(set(given) - {'engine'}))} apply to postgresql only (RocksDB "
            "lives on the data claim: mailstack:storageSize, mailstack:storageClass)",
            fix,
        )
        return None
    if isinstance(instances, bool) or not isinstance(instances, int):
        check.bad(f"instances must be a whole number from 1 to {MAX_INSTANCES}", fix)
        return None
    if not 1 <= instances <= MAX_INSTANCES:
        check.bad(f"instances {instances} is not from 1 to {MAX_INSTANCES}", fix)
        return None
    size, storage_class = merged["size"], merged["storageClass"]
    before = check.count
    bytes_ = f.parse_quantity(size) if isinstance(size, str) else None
    if bytes_ is None or not MIN_STORAGE_BYTES <= bytes_ <= MAX_STORAGE_BYTES:
        check.bad(f"size {size!r} is not a Kubernetes quantity from 1Gi to 64Ti", fix)
    if not isinstance(storage_class, str) or not f.SUBDOMAIN_RE.fullmatch(storage_class):
        check.bad(f"storageClass {storage_class!r} is not a Kubernetes name", fix)
    if check.count != before:
        return None
    return StorageSettings(engine, instances, size, storage_class, replicas=1)


def with_replicas(storage: StorageSettings, replicas: int, nats_image: str) -> StorageSettings:
    return dataclasses.replace(storage, replicas=replicas, nats_image=nats_image)


def replicas(value: str, check: Check) -> int | None:
    if not f.digits(value) or not 1 <= int(value) <= MAX_REPLICAS:
        check.bad(
            f"'{value}' is not a whole number from 1 to {MAX_REPLICAS}",
            check.set_fix("2") + " (more than 1 needs mailstack:storage: postgresql)",
        )
        return None
    return int(value)


def storage_problems(
    chosen: StorageSettings,
    generation: str,
    upgrading: bool,
    history: History,
    problems: Problems,
) -> None:
    """What the two keys cannot be together, with the image, the upgrade and what the stack's
    last update recorded (settings/history.py): a store that holds the mail is never swapped for
    an empty one."""
    if chosen.clustered and not chosen.postgresql:
        problems.add(
            "replicas",
            f"{chosen.replicas} Stalwart pods need a shared store; RocksDB is one pod's own",
            "pulumi config set mailstack:replicas 1, or mailstack:storage postgresql on a fresh "
            "stack",
        )
    if not chosen.postgresql:
        recorded = _recorded(history)
        if recorded == "postgresql":
            problems.add(
                "storage",
                "this stack's mail is in PostgreSQL; RocksDB would start empty",
                "pulumi config set mailstack:storage postgresql",
            )
        return
    if generation != "0.16":
        problems.add(
            "storage",
            "PostgreSQL storage is built for Stalwart v0.16 only",
            "pulumi config rm mailstack:storage until the upgrade to v0.16",
        )
    elif upgrading:
        problems.add(
            "storage",
            "cannot change during the v0.16 upgrade",
            "finish the upgrade (docs/how-to/upgrade-to-v016.md), then decide",
        )
    elif _recorded(history) == "rocksdb":
        problems.add(
            "storage",
            "this stack's mail is in RocksDB on its data claim, and its move to PostgreSQL is "
            "not built yet: a PostgreSQL server would start empty",
            "pulumi config rm mailstack:storage (docs/explanation/design-notes.md#past-one-node)",
        )


def _recorded(history: History) -> str | None:
    """The engine the last update ran on; None for a fresh stack."""
    if not history.deployed:
        return None
    return str((history.record or {}).get("storage") or "rocksdb")
