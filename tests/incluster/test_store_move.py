"""The storage move's step between Stalwart's export and import (incluster/store_move.py) and
the LZ4 frame decoder under it (incluster/lz4.py), held to the reference codec (python-lz4) and
to an export file the real Stalwart v0.16.18 wrote in this project's rehearsal."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import lz4.frame
import pytest

from incluster import store_move
from incluster.lz4 import Lz4Error, decompress_frames

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stalwart-export"
# `subspace_g` of the loopback rehearsal's RocksDB store (docs/explanation/
# verified-against-the-real-servers.md#past-one-node), and what the `lz4` command line decoded
# from it (exit 68, "Unfinished stream": Stalwart never finishes the frame).
REAL_G = FIXTURES / "subspace_g"
REAL_G_DECODED_SHA256 = "35881c33dcb12a5f995904e62a7bc7720a5842ca69d9513f9d4f63a9a991b550"


def export_file(subspace: str, records: list[tuple[bytes, bytes]], version: int = 6) -> bytes:
    """An export file as backup.rs writes it, unfinished like Stalwart's (no end mark)."""
    body = bytes([store_move.MARKER, ord(subspace)]) + version.to_bytes(4, "little")
    for key, value in records:
        body += _leb(len(key)) + key + _leb(len(value)) + value
    framed = lz4.frame.compress(body)
    assert framed[-4:] == b"\0\0\0\0"  # the end mark python-lz4 writes, taken off
    return framed[:-4]


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@pytest.mark.parametrize("linked", [True, False])
@pytest.mark.parametrize("checksums", [True, False])
def test_the_decoder_reads_what_the_reference_codec_writes(linked, checksums):
    rng = random.Random(f"{linked}{checksums}")
    for size in (0, 1, 15, 19, 300, 65_536, 200_003):
        repetitive = bytes(rng.choice(b"ab\x00\xff") for _ in range(size))
        for data in (repetitive, os.urandom(size)):
            framed = lz4.frame.compress(
                data,
                block_linked=linked,
                block_checksum=checksums,
                content_checksum=checksums,
                store_size=checksums,
                block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            )
            assert decompress_frames(framed) == data
            assert decompress_frames(framed + framed) == data + data


def test_the_real_export_file_decodes_as_the_lz4_command_line_did():
    raw = decompress_frames(REAL_G.read_bytes())
    assert hashlib.sha256(raw).hexdigest() == REAL_G_DECODED_SHA256
    subspace, version, records = store_move.records(REAL_G)
    assert (subspace, version, len(records)) == ("g", 6, 27)
    (lease,) = [(k, v) for k, v in records if store_move.is_lease(k)]
    assert lease[1].endswith(b"node-r")  # the rehearsal's importer host


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-3],  # cut inside a block
        lambda data: b"\x00" + data,  # not a frame
        lambda data: data[:4] + bytes([data[4] & 0x3F]) + data[5:],  # frame version 0
    ],
)
def test_a_damaged_file_is_refused_not_guessed(damage):
    with pytest.raises(Lz4Error):
        decompress_frames(damage(REAL_G.read_bytes()))


@pytest.fixture
def export(tmp_path):
    directory = tmp_path / "export"
    directory.mkdir()
    (directory / "subspace_g").write_bytes(REAL_G.read_bytes())
    (directory / "subspace_b").write_bytes(export_file("b", [(b"b%d" % i, b"") for i in range(44)]))
    (directory / "subspace_d").write_bytes(export_file("d", [(b"d", b"x" * 300)] * 6))
    (directory / "subspace_s").write_bytes(
        export_file("s", [(b"s%d" % i, b"v") for i in range(29)])
    )
    (directory / "subspace_t").write_bytes(export_file("t", [(b"blob", os.urandom(70_000))]))
    for name in store_move.EXPORTED:
        if not (directory / f"subspace_{name}").exists():
            (directory / f"subspace_{name}").write_bytes(export_file(name, []))
    return directory


def test_split_takes_the_registry_keys_out_and_writes_them_as_sql(export, tmp_path):
    held, sql = tmp_path / "held", tmp_path / "registry.sql"
    lines = store_move.split(export, held, sql)
    assert not (export / "subspace_g").exists() and (held / "subspace_g").exists()
    assert sorted(p.name for p in export.iterdir()) == sorted(
        f"subspace_{n}" for n in store_move.EXPORTED if n != "g"
    )
    text = sql.read_text().splitlines()
    inserts = [line for line in text if line.startswith("INSERT INTO g (k, v) VALUES")]
    assert len(inserts) == 26 and text[0] == "BEGIN;" and "COMMIT;" in text
    assert not [line for line in inserts if "'\\xffffffff" in line]  # the old lease stays out
    checks = [line for line in text if line.startswith("DO $$")]
    assert [c.split(" FROM ")[1].split(" ")[0].rstrip(";") for c in checks] == ["b", "d", "s", "g"]
    b_keys = hashlib.md5(b"".join(b"b%d" % i for i in sorted(range(44), key=lambda i: b"b%d" % i)))
    assert f"IF n <> 44 OR d <> '{b_keys.hexdigest()}' THEN" in checks[0]
    assert "string_agg(k, ''::bytea ORDER BY k)" in checks[0]  # b has no values
    real = [(k, v) for k, v in store_move.records(REAL_G)[2] if not store_move.is_lease(k)]
    g_rows = hashlib.md5(b"".join(k + v for k, v in sorted(real)))
    assert f"IF n <> 26 OR d <> '{g_rows.hexdigest()}' THEN" in checks[3]
    assert "string_agg(k || v, ''::bytea ORDER BY k)" in checks[3]
    assert (
        " FROM g WHERE NOT (length(k) = 6 AND substr(k, 1, 4) = '\\xffffffff'::bytea);" in checks[3]
    )
    assert text[-1] == store_move.COPIED_SQL  # the marker, only after every check passed
    assert lines == [
        "export: 19 files, schema version 6; records of the registry and directory: "
        "b=44 d=6 g=27 s=29",
        "registry keys: 26 to load by SQL after the import, 1 old lease(s) left out",
    ]


def test_an_export_missing_a_subspace_fails_with_its_name(export, tmp_path, capsys):
    (export / "subspace_p").unlink()
    assert (
        store_move.main(["split", str(export), str(tmp_path / "h"), str(tmp_path / "r.sql")]) == 1
    )
    assert (export / "subspace_g").exists()  # nothing moved
    assert "has no subspace_p: not a whole export" in capsys.readouterr().err


def test_a_file_holding_another_subspace_is_refused(export, tmp_path, capsys):
    (export / "subspace_b").write_bytes(export_file("s", []))
    assert (
        store_move.main(["split", str(export), str(tmp_path / "h"), str(tmp_path / "r.sql")]) == 1
    )
    assert capsys.readouterr().err == "store move: subspace_b: holds subspace 's'\n"


def test_a_record_cut_short_is_refused(export, tmp_path, capsys):
    body = bytes([store_move.MARKER, ord("d")]) + (6).to_bytes(4, "little") + b"\x05ab"
    (export / "subspace_d").write_bytes(lz4.frame.compress(body))
    assert (
        store_move.main(["split", str(export), str(tmp_path / "h"), str(tmp_path / "r.sql")]) == 1
    )
    assert "subspace_d: a record is cut short" in capsys.readouterr().err


def test_the_sql_carries_keys_and_values_as_bytea_hex_only():
    (line,) = [
        line
        for line in store_move.registry_sql([(b"k'; DROP TABLE g; --", b"\x00\xff")])
        if line.startswith("INSERT")
    ]
    assert line == (
        "INSERT INTO g (k, v) VALUES ('\\x6b273b2044524f50205441424c4520673b202d2d'::bytea, "
        "'\\x00ff'::bytea) ON CONFLICT (k) DO NOTHING;"
    )


def test_the_guards_test_the_marker_before_they_read_it():
    """PL/pgSQL prepares the marker's query when it reaches it: behind an AND it is prepared on
    a database without the marker and fails (seen on PostgreSQL 15, before this shape)."""
    for sql in (store_move.CLEAR_SQL, store_move.ABANDON_SQL):
        has, released = "to_regclass('mailstack_move') IS NOT NULL", "EXISTS (SELECT 1 FROM"
        assert f"IF {has} THEN IF {released}" in sql
    assert store_move.RELEASE_SQL.index("IF NOT to_regclass") < store_move.RELEASE_SQL.index(
        "UPDATE mailstack_move"
    )
