"""LZ4 frame decoding (Python standard library only), for Stalwart's export files.

The format is LZ4's own specification (lz4/doc/lz4_Frame_format.md and lz4_Block_format.md):
a frame is the magic number, a descriptor (FLG, BD, optional content size and dictionary id, a
header checksum), then blocks, each a 32-bit little-endian size (high bit set: stored
uncompressed) and its data, ended by a zero size and an optional content checksum. A block is
sequences of a token, literals, a 16-bit offset back into the output and a match length.

Stalwart writes its export through lz4_flex's `FrameEncoder` and only flushes it, never
finishes it (crates/common/src/manager/backup.rs at v0.16.18), so its files end after the last
block without the end mark: the `lz4` command line says "Unfinished stream" and exits 68 after
writing every byte. Such a stream is accepted here; a stream cut inside a block is not.
Checksums are skipped, not verified: the reference codec (python-lz4) is what the tests hold this
decoder to, and the importer reads the result as Stalwart's own records.
"""

from __future__ import annotations

MAGIC = 0x184D2204
_SKIPPABLE_MASK = 0xFFFFFFF0
_SKIPPABLE = 0x184D2A50
_UNCOMPRESSED = 0x80000000
MIN_MATCH = 4


class Lz4Error(ValueError):
    """The input is not a (possibly unfinished) LZ4 frame."""


def decompress_frames(data: bytes) -> bytes:
    """Every frame of `data`, decoded and concatenated."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        magic = _u32(data, pos)
        if magic & _SKIPPABLE_MASK == _SKIPPABLE:
            pos += 8 + _u32(data, pos + 4)
            continue
        if magic != MAGIC:
            raise Lz4Error(f"no LZ4 frame at byte {pos}")
        pos = _frame(data, pos + 4, out)
    return bytes(out)


def _frame(data: bytes, pos: int, out: bytearray) -> int:
    """Decodes one frame's blocks after its magic number into `out`; the position after it."""
    if pos + 3 > len(data):
        raise Lz4Error("truncated frame descriptor")
    flags = data[pos]
    if flags >> 6 != 1:
        raise Lz4Error(f"frame version {flags >> 6} is not 1")
    block_checksum, content_size, content_checksum, dictionary = (
        flags & 0x10,
        flags & 0x08,
        flags & 0x04,
        flags & 0x01,
    )
    if dictionary:
        raise Lz4Error("frames with a dictionary are not supported")
    pos += 2 + (8 if content_size else 0) + 1  # FLG, BD, content size, header checksum
    frame_start = len(out)
    while True:
        if pos == len(data):
            return pos  # flushed, never finished: Stalwart's export (see above)
        if pos + 4 > len(data):
            raise Lz4Error("truncated block size")
        size = _u32(data, pos)
        pos += 4
        if size == 0:
            return pos + (4 if content_checksum else 0)
        length = size & ~_UNCOMPRESSED
        if pos + length > len(data):
            raise Lz4Error("truncated block")
        block = data[pos : pos + length]
        if size & _UNCOMPRESSED:
            out += block
        else:
            _block(block, out, frame_start)
        pos += length + (4 if block_checksum else 0)


def _block(src: bytes, out: bytearray, floor: int) -> None:
    """Appends the decoded block to `out`; a match may reach back into earlier blocks of the
    same frame (linked blocks), never before `floor`."""
    pos, end = 0, len(src)
    while pos < end:
        token = src[pos]
        pos += 1
        literals, pos = _length(src, pos, token >> 4)
        if pos + literals > end:
            raise Lz4Error("literals run past the block")
        out += src[pos : pos + literals]
        pos += literals
        if pos == end:
            return  # the last sequence has literals only
        if pos + 2 > end:
            raise Lz4Error("truncated match offset")
        offset = src[pos] | src[pos + 1] << 8
        pos += 2
        if offset == 0 or offset > len(out) - floor:
            raise Lz4Error(f"match offset {offset} reaches before the frame")
        length, pos = _length(src, pos, token & 0x0F)
        length += MIN_MATCH
        start = len(out) - offset
        if offset >= length:
            out += out[start : start + length]
        else:  # overlapping: the match repeats what it is writing
            for index in range(length):
                out.append(out[start + index])


def _length(src: bytes, pos: int, nibble: int) -> tuple[int, int]:
    """A token's length nibble, extended by bytes of 255 when it is 15."""
    length = nibble
    if nibble == 15:
        while True:
            if pos >= len(src):
                raise Lz4Error("truncated length")
            extra = src[pos]
            pos += 1
            length += extra
            if extra != 255:
                break
    return length, pos


def _u32(data: bytes, pos: int) -> int:
    if pos + 4 > len(data):
        raise Lz4Error("truncated 32-bit field")
    return int.from_bytes(data[pos : pos + 4], "little")
