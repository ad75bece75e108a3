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
MOVE_PHASES = ("copy",)
MOVE_GUIDE = "docs/how-to/move-to-postgresql.md"
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


def storage_move(value: Any, check: Check) -> str | None:
    """`{phase: copy}`: the staged move of a RocksDB store to PostgreSQL."""
    fix = f"e.g. mailstack:storageMove: {{phase: copy}} ({MOVE_GUIDE})"
    given = check.object_of(value, {"phase"}, "must be an object with phase copy", fix)
    if given is None:
        return None
    phase = given.get("phase")
    if phase not in MOVE_PHASES:
        check.bad(f"phase {phase!r} is not one of {', '.join(MOVE_PHASES)}", fix)
        return None
    return str(phase)


def chosen_storage(
    storage: StorageSettings,
    replicas: int,
    move_phase: str | None,
    nats_image: str,
    psql_image: str,
    history: History,
) -> StorageSettings:
    """The store of this update: the two keys, and where the move stands. The update right after
    a copy (the record says `movePhase: copy`, the key is gone) finishes the move when the
    engine is still postgresql (its pods start only once the copy is released to them), and
    abandons it when the engine is rocksdb again (RocksDB serves only if PostgreSQL never
    did)."""
    move = move_phase
    if move is None and _move_phase(history) == "copy":
        move = "finish" if storage.postgresql else "abandon"
    return dataclasses.replace(
        storage, replicas=replicas, nats_image=nats_image, psql_image=psql_image, move=move
    )


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
    recorded = _recorded(history)
    if chosen.clustered and not chosen.postgresql:
        problems.add(
            "replicas",
            f"{chosen.replicas} Stalwart pods need a shared store; RocksDB is one pod's own",
            f"pulumi config set mailstack:replicas 1, or move to PostgreSQL first ({MOVE_GUIDE})",
        )
    if chosen.moving:
        if not chosen.postgresql:
            problems.add(
                "storageMove",
                "moves the mail to PostgreSQL, but mailstack:storage is rocksdb",
                "pulumi config set mailstack:storage postgresql, or pulumi config rm "
                "mailstack:storageMove",
            )
            return
        if recorded != "rocksdb":
            problems.add(
                "storageMove",
                "there is nothing to move: "
                + ("a fresh stack" if recorded is None else "the mail is already in PostgreSQL"),
                "pulumi config rm mailstack:storageMove",
            )
            return
        if chosen.clustered:
            problems.add(
                "replicas",
                "the copy stops the one RocksDB pod; more pods come after the move",
                f"pulumi config set mailstack:replicas 1 until the move is done ({MOVE_GUIDE})",
            )
    if chosen.move == "finish" and chosen.clustered:
        problems.add(
            "replicas",
            "the update that finishes the move starts one pod on the copy; more pods come after",
            f"pulumi config set mailstack:replicas 1 until the move is done ({MOVE_GUIDE})",
        )
    if not chosen.postgresql:
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
    elif recorded == "rocksdb" and chosen.move is None:
        problems.add(
            "storage",
            "this stack's mail is in RocksDB on its data claim; a PostgreSQL server would start "
            "empty",
            "move the mail first: pulumi config set --path mailstack:storageMove.phase copy "
            f"({MOVE_GUIDE}), or pulumi config rm mailstack:storage",
        )


def _move_phase(history: History) -> str | None:
    """The move phase the last update ran (`copy`), or None."""
    phase = (history.record or {}).get("movePhase") if history.deployed else None
    return str(phase) if phase else None


def _recorded(history: History) -> str | None:
    """The engine the last update ran on; None for a fresh stack."""
    if not history.deployed:
        return None
    return str((history.record or {}).get("storage") or "rocksdb")
