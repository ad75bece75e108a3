"""The move of a RocksDB store to PostgreSQL (Python standard library only): the step between
Stalwart's `--export` and its `--import` (components/stalwart/v016/move.py runs them).

Stalwart v0.16.18's `--import` cannot take a whole export: it refuses any subspace the target
already holds data in (crates/common/src/manager/restore.rs, `subspace_has_data`), and the
importer itself writes its node-id lease into the registry's primary keys (subspace `g`,
SUBSPACE_REGISTRY_PK) before it reads a file, so subspace `g` is always refused (upstream #3273;
seen on the real v0.16.18, docs/explanation/verified-against-the-real-servers.md#past-one-node).
So this step takes `subspace_g` out of the export directory before the import and writes it as
SQL for psql to load after it: one INSERT per record into table `g`, leaving the importer's
lease alone, and skipping the old server's leases (keys of 6 bytes, FF FF FF FF and a 16-bit
node id: crates/store/src/write/key.rs), which name a host that no longer runs.

It also writes the checks psql runs at the end: the rows of the registry and the directory
must equal the records of the export, key for key and value for value, so a copy that lost or
changed them fails the Job; and, once they pass, the move's marker (`MARKER_TABLE`, below).

An export file (crates/common/src/manager/backup.rs): an LZ4 frame (incluster/lz4.py) holding
the marker byte 123, the subspace's letter, its schema version (32-bit little-endian), then
records of a LEB128 key length, the key, a LEB128 value length and the value.

    python3 -m incluster.store_move split EXPORT_DIR HELD_DIR SQL_FILE
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from incluster.lz4 import Lz4Error, decompress_frames

MARKER = 123
REGISTRY_PK = "g"
LEASE_PREFIX = b"\xff\xff\xff\xff"
LEASE_KEY_LENGTH = 6
# Subspaces the import writes record for record (restore.rs: the default branch), whose rows in
# PostgreSQL equalled the export's records, key for key and value for value, on the real
# v0.16.18: the registry (s), its index (b) and the directory (d). They are small; the mail's
# own subspaces (p, t, ...) are not read here (a file is decoded whole, in memory, and the
# export's exit status is what vouches for them).
COUNTED = ("b", "d", "s")
KEYS_ONLY = ("b", "i")
# Every file v0.16.18's export writes (crates/common/src/manager/backup.rs; 19 in the real run):
# one missing means the export did not finish.
EXPORTED = tuple("abdefghiklnopqrstux")


class ExportError(ValueError):
    """A file of the export directory that is not what Stalwart's `--export` writes."""


def records(path: Path) -> tuple[str, int, list[tuple[bytes, bytes]]]:
    """The subspace letter, schema version and records of one export file."""
    try:
        raw = decompress_frames(path.read_bytes())
    except Lz4Error as err:
        raise ExportError(f"{path.name}: {err}") from None
    if len(raw) < 6 or raw[0] != MARKER:
        raise ExportError(f"{path.name}: not a Stalwart export file (no marker byte)")
    subspace, version = chr(raw[1]), int.from_bytes(raw[2:6], "little")
    found: list[tuple[bytes, bytes]] = []
    pos = 6
    while pos < len(raw):
        key, pos = _field(raw, pos, path)
        value, pos = _field(raw, pos, path)
        found.append((key, value))
    return subspace, version, found


def _field(raw: bytes, pos: int, path: Path) -> tuple[bytes, int]:
    length, shift = 0, 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise ExportError(f"{path.name}: a record is cut short")
        byte = raw[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if pos + length > len(raw):
        raise ExportError(f"{path.name}: a record is cut short")
    return raw[pos : pos + length], pos + length


def is_lease(key: bytes) -> bool:
    return len(key) == LEASE_KEY_LENGTH and key.startswith(LEASE_PREFIX)


def registry_sql(rows: list[tuple[bytes, bytes]]) -> Iterator[str]:
    """INSERTs of the registry's primary keys (the old server's leases already left out). ON
    CONFLICT keeps the row the importer wrote (its own lease) if a key is the same."""
    yield "BEGIN;"
    for key, value in rows:
        yield (
            f"INSERT INTO {REGISTRY_PK} (k, v) VALUES ('\\x{key.hex()}'::bytea, "
            f"'\\x{value.hex()}'::bytea) ON CONFLICT (k) DO NOTHING;"
        )
    yield "COMMIT;"


def table_check(table: str, rows: list[tuple[bytes, bytes]], where: str = "") -> str:
    """A statement that fails psql (ON_ERROR_STOP) unless `table` (the rows `where` selects)
    holds exactly `rows`: their number, and the MD5 of every key and value in key order (bytea
    orders as the bytes do, as Python's sort). The index tables have a key only (b: the
    export writes no values for them; crates/store/src/backend/postgres/main.rs creates them
    without `v`)."""
    keys_only = table in KEYS_ONLY
    digest = hashlib.md5(
        b"".join(k if keys_only else k + v for k, v in sorted(rows)), usedforsecurity=False
    )
    expected = len(rows)
    column = "k" if keys_only else "k || v"
    return (
        f"DO $$ DECLARE n bigint; d text; BEGIN SELECT count(*), "
        f"md5(coalesce(string_agg({column}, ''::bytea ORDER BY k), ''::bytea)) INTO n, d "
        f"FROM {table}{where}; "
        f"IF n <> {expected} OR d <> '{digest.hexdigest()}' THEN RAISE EXCEPTION "
        f"'table {table} differs from the export after the import: % rows, the export has "
        f"{expected}', n; END IF; END $$;"
    )


# The rows of `g` that are not a node-id lease (the importer's own is there, and counts not).
NOT_A_LEASE = (
    f" WHERE NOT (length(k) = {LEASE_KEY_LENGTH} AND substr(k, 1, 4) = "
    f"'\\x{LEASE_PREFIX.hex()}'::bytea)"
)

# The move's own memory, in the database it fills (the stack's record is written only by an
# update that completes, so it cannot be what guards the mail): `copied` once the load and its
# checks passed; `released` once the update that finishes the move let Stalwart start on it.
MARKER_TABLE = "mailstack_move"
# The guards and the marker's write hold one transaction-level advisory lock, so that a release
# and a clear (or an abandon) never interleave between the test of the marker and the write.
MOVE_LOCK = 0x6D61696C73746B  # "mailstk"
_LOCK = f"PERFORM pg_advisory_xact_lock({MOVE_LOCK}); "
_RELEASED = f"EXISTS (SELECT 1 FROM {MARKER_TABLE} WHERE state = 'released')"
_HAS_MARKER = f"to_regclass('{MARKER_TABLE}') IS NOT NULL"
COPIED_SQL = (
    f"BEGIN; DO $$ BEGIN PERFORM pg_advisory_xact_lock({MOVE_LOCK}); END $$; "
    f"CREATE TABLE {MARKER_TABLE} (state text NOT NULL, at timestamptz NOT NULL DEFAULT now()); "
    f"INSERT INTO {MARKER_TABLE} (state) VALUES ('copied'); COMMIT;"
)
"""The marker, table and row in one transaction: never a marker without its state."""
# PL/pgSQL prepares a statement when it first runs it, and an AND does not keep the marker's
# query from being prepared: the marker's existence is tested in an IF of its own (a real run
# of the first version failed on a database without the marker).
CLEAR_SQL = (
    "DO $$ DECLARE t text; BEGIN "
    + _LOCK
    + f"IF {_HAS_MARKER} THEN IF {_RELEASED} THEN RAISE EXCEPTION 'this database was released "
    "to Stalwart and may hold mail that is nowhere else; the copy will not clear it (finish "
    "the move: mailstack:storage postgresql without mailstack:storageMove)'; END IF; END IF; "
    "FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = "
    "current_user LOOP EXECUTE format('DROP TABLE %I', t); END LOOP; END $$;"
)
"""Drops every table of the database's owner (a retried copy starts empty: the import refuses
a subspace that holds data), unless the database was released."""
RELEASE_SQL = (
    "DO $$ BEGIN " + _LOCK + ""
    f"IF NOT {_HAS_MARKER} THEN RAISE EXCEPTION 'no finished copy in this database (the copy "
    "failed, or RocksDB served again since): run the copy again, mailstack:storageMove: "
    "{phase: copy}'; END IF; "
    f"UPDATE {MARKER_TABLE} SET state = 'released', at = now() WHERE state = 'copied'; END $$;"
)
"""Lets Stalwart start on the copy: refused unless a copy finished and was not abandoned."""
ABANDON_SQL = (
    "DO $$ BEGIN " + _LOCK + ""
    f"IF {_HAS_MARKER} THEN IF {_RELEASED} THEN RAISE EXCEPTION 'this database was released "
    "to Stalwart and may hold mail that is nowhere else; going back to RocksDB would lose it "
    "(finish the move: mailstack:storage postgresql)'; END IF; END IF; "
    f"DROP TABLE IF EXISTS {MARKER_TABLE}; END $$;"
)
"""Before RocksDB serves again: refused once released; else the copy is marked stale, so that
no later update starts Stalwart on it."""


def split(export_dir: Path, held_dir: Path, sql_file: Path) -> list[str]:
    """Moves `subspace_g` out of the export, writes its SQL and the counts' checks; the summary
    lines for the Job's log (counts only, never a key or value)."""
    names = {p.name for p in export_dir.iterdir() if p.is_file()}
    if not names:
        raise ExportError(f"{export_dir} is empty: the export wrote nothing")
    missing = sorted(f"subspace_{n}" for n in EXPORTED if f"subspace_{n}" not in names)
    if missing:
        raise ExportError(f"{export_dir} has no {', '.join(missing)}: not a whole export")
    tables: dict[str, list[tuple[bytes, bytes]]] = {}
    versions = set()
    for name in (REGISTRY_PK, *COUNTED):
        path = export_dir / f"subspace_{name}"
        subspace, version, found = records(path)
        if path.name != f"subspace_{subspace}":
            raise ExportError(f"{path.name}: holds subspace {subspace!r}")
        versions.add(version)
        tables[subspace] = found
    if len(versions) != 1:
        raise ExportError(f"the export mixes schema versions {sorted(versions)}")
    registry = tables[REGISTRY_PK]
    loaded = [(key, value) for key, value in registry if not is_lease(key)]
    leases, kept = len(registry) - len(loaded), len(loaded)
    lines = [*registry_sql(loaded)]
    lines += [table_check(table, tables[table]) for table in COUNTED]
    lines.append(table_check(REGISTRY_PK, loaded, NOT_A_LEASE))
    lines.append(COPIED_SQL)
    held_dir.mkdir(parents=True, exist_ok=True)
    os.replace(export_dir / f"subspace_{REGISTRY_PK}", held_dir / f"subspace_{REGISTRY_PK}")
    sql_file.write_text("\n".join(lines) + "\n")
    summary = " ".join(f"{name}={len(tables[name])}" for name in sorted(tables))
    return [
        f"export: {len(names)} files, schema version {versions.pop()}; records of the registry "
        f"and directory: {summary}",
        f"registry keys: {kept} to load by SQL after the import, {leases} old lease(s) left out",
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "split":
        print("usage: python3 -m incluster.store_move split EXPORT_DIR HELD_DIR SQL_FILE")
        return 2
    try:
        for line in split(Path(argv[1]), Path(argv[2]), Path(argv[3])):
            print(line)
    except (ExportError, OSError) as err:
        print(f"store move: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
