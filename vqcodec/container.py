"""The .vq container: header, codebook, payload, trailer (``spec/vq-format.md``).

This module owns every fact of the format: the magic, the version, the header layout, the
label codings, the size law, the limits, and the order in which a reader checks a file:
length, magic, version, header CRC, each header field, limits, section sizes, data CRC. All of
that happens before any buffer the size of the image is allocated (spec §6).
"""

from __future__ import annotations

import enum
import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from .errors import FormatError

MAGIC = b"\x89VQ\n"
VERSION = 1

# Spec §2, the header table, field by field; little-endian throughout.
HEADER_FIELDS = (
    ("magic", "4s"),
    ("version", "B"),
    ("flags", "B"),
    ("channels", "B"),
    ("bits", "B"),
    ("width", "I"),
    ("height", "I"),
    ("codebook_entries", "H"),
    ("label_coding", "B"),
    ("block_width", "B"),
    ("block_height", "B"),
    ("tile_log2", "B"),
    ("reserved", "2s"),
    ("payload_bytes", "Q"),
    ("header_crc", "I"),
)
_HEADER = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS))


def _field_offsets() -> dict[str, tuple[int, str]]:
    offsets, offset = {}, 0
    for name, code in HEADER_FIELDS:
        offsets[name] = (offset, "<" + code)
        offset += struct.calcsize("<" + code)
    return offsets


# name -> (offset, struct format) of each header field, for tools that edit a single field.
FIELD_OFFSETS = _field_offsets()
HEADER_BYTES = _HEADER.size  # 36
TRAILER_BYTES = 4  # data_crc
_CRC = struct.Struct("<I")

CHANNEL_COUNTS = (1, 3, 4)
MIN_BITS, MAX_BITS = 1, 8
# Spec §2, §4.4: blocks of up to 8 x 8 pixels; their labels may be up to 16 bits wide (a
# pixel's, 1 x 1, at most 8: a palette), and a codebook holds at most 65535 entries (u16).
MAX_BLOCK_SIDE = 8
MAX_BLOCK_BITS = 16
MAX_ENTRIES = 0xFFFF


def max_bits(block: tuple[int, int]) -> int:
    """The widest labels a file of this block shape may have (spec §2)."""
    return MAX_BITS if block == (1, 1) else MAX_BLOCK_BITS


class LabelCoding(enum.IntEnum):
    """The label_coding field (spec §4): how the payload stores the labels."""

    PACKED = 0  # each label in exactly `bits` bits (§4.1)
    ENTROPY = 1  # context model + range coder (§4.2)
    ENTROPY2 = 2  # multi-symbol context model + rANS (§4.3)

    @property
    def label(self) -> str:
        """The lower-case name users type (``--coding entropy``)."""
        return self.name.lower()


CODING_NAMES = {coding.label: coding for coding in LabelCoding}

# Spec §4.2: the range decoder starts by reading 4 bytes, and every pixel costs at least
# one binary decision, which shrinks the coder's range by a factor of at least 1 - 2**-11
# (probabilities stay within 32/65536 of 0 and 1): more than 2**-14 of a byte per pixel.
MIN_ENTROPY_PAYLOAD = 4
ENTROPY_PIXELS_PER_BYTE = 1 << 14

# Spec §4.3: the rANS decoder starts with two 4-byte states and reads 2-byte words, so a
# payload is even and at least 8 bytes. Every symbol adds at least log2(1 + 1/16384) bits to
# the encoder's states, a word takes off at most 16.2, the states start at 2**16 and end
# below 2**32, and a symbol covers at most 256 labels: so a payload holds more than
# 4 + pixels / 23.5e6 bytes. The rule uses 2**25, a round margin.
MIN_ENTROPY2_PAYLOAD = 8
ENTROPY2_PIXELS_PER_BYTE = 1 << 25

FLAG_EXTERNAL_CODEBOOK = 0x01  # spec §2, §12: the codebook is kept in a codebook file
FLAG_TILED = 0x02  # spec §2, §13: the labels are coded tile by tile, with an index
KNOWN_FLAGS = FLAG_EXTERNAL_CODEBOOK | FLAG_TILED
# Spec §13: a tile is 2**tile_log2 labels square; each index entry is two u32 (the tile's
# bytes and its CRC-32), and the index ends with the codebook's CRC and its own.
MIN_TILE_LOG2, MAX_TILE_LOG2 = 6, 12
TILE_ENTRY_BYTES = 8
INDEX_TAIL_BYTES = 8
# Spec §12: a file with an external codebook holds, in the codebook section, the SHA-256 of
# the codebook file's bytes.
DIGEST_BYTES = 32

# This implementation's limit, not the format's (spec §6): the same default as Pillow's
# Image.MAX_IMAGE_PIXELS. Readers and the encoder take max_pixels= to change it per call;
# setting vqcodec.container.MAX_IMAGE_PIXELS = None lifts it for the whole process.
MAX_IMAGE_PIXELS: int | None = 1024 * 1024 * 1024 // 4 // 3


def pixel_limit(max_pixels: int | None) -> int | None:
    """The limit in force: ``max_pixels`` if given (0 means none), else the module's."""
    if max_pixels is None:
        return MAX_IMAGE_PIXELS
    return max_pixels or None


def packed_size(count: int, bits: int) -> int:
    """Bytes the packed coding takes for ``count`` labels of ``bits`` bits (the size law)."""
    return (count * bits + 7) // 8


def min_entropy_payload(pixels: int) -> int:
    """The fewest bytes an entropy payload of ``pixels`` labels can take (spec §4.2)."""
    return max(MIN_ENTROPY_PAYLOAD, 3 + pixels // ENTROPY_PIXELS_PER_BYTE)


def min_entropy2_payload(pixels: int) -> int:
    """The fewest bytes an entropy2 payload of ``pixels`` labels can take (spec §4.3)."""
    return max(MIN_ENTROPY2_PAYLOAD, 4 + pixels // ENTROPY2_PIXELS_PER_BYTE)


@dataclass(frozen=True)
class Header:
    """The header fields a writer chooses; the rest (magic, CRCs, reserved) are derived."""

    width: int
    height: int
    channels: int
    bits: int
    codebook_entries: int
    payload_bytes: int
    label_coding: LabelCoding = LabelCoding.PACKED
    block_width: int = 1
    block_height: int = 1
    flags: int = 0
    tile_log2: int = 0

    @property
    def coding(self) -> str:
        return LabelCoding(self.label_coding).label

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def block(self) -> tuple[int, int]:
        return self.block_width, self.block_height

    @property
    def columns(self) -> int:
        """Blocks a row: the label grid's width (spec §4.4; ``width`` for 1 x 1 blocks)."""
        return -(-self.width // self.block_width)

    @property
    def rows(self) -> int:
        """Rows of blocks: the label grid's height."""
        return -(-self.height // self.block_height)

    @property
    def labels(self) -> int:
        """One label a block."""
        return self.columns * self.rows

    @property
    def entry_bytes(self) -> int:
        """Bytes of one code vector: a block's pixels (spec §3)."""
        return self.block_width * self.block_height * self.channels

    @property
    def tiled(self) -> bool:
        """Whether the labels are coded tile by tile (spec §13)."""
        return bool(self.flags & FLAG_TILED)

    @property
    def tile(self) -> int:
        """A tile's side in labels (spec §13)."""
        return 1 << self.tile_log2

    @property
    def tile_grid(self) -> tuple[int, int]:
        """(tiles a row, rows of tiles) over the label grid."""
        return -(-self.columns // self.tile), -(-self.rows // self.tile)

    @property
    def tile_count(self) -> int:
        across, down = self.tile_grid
        return across * down

    @property
    def index_bytes(self) -> int:
        """The tile index at the payload's start (spec §13): 0 for a file without tiles."""
        return self.tile_count * TILE_ENTRY_BYTES + INDEX_TAIL_BYTES if self.tiled else 0

    def tile_box(self, number: int) -> tuple[int, int, int, int]:
        """(column, row, columns, rows) of tile ``number`` in the label grid (row-major)."""
        across = self.tile_grid[0]
        column, row = number % across * self.tile, number // across * self.tile
        return column, row, min(self.tile, self.columns - column), min(self.tile, self.rows - row)

    def tile_packed_bytes(self, number: int) -> int:
        _, _, columns, rows = self.tile_box(number)
        return packed_size(columns * rows, self.bits)

    @property
    def tiles_fit(self) -> bool:
        """Spec §13: at most 1 + 4 labels / T^2 tiles, so that no tile is a sliver (a grid
        one label tall cut in tiles of T would make tiles of T labels, each with its index
        entry and its own coder: work out of proportion to the file)."""
        return self.tile_count <= 1 + 4 * self.labels // (self.tile * self.tile)

    def sum_over_tiles(self, size: Callable[[int], int]) -> int:
        """``size(labels)`` summed over every tile, in closed form (at most four kinds of
        tile: whole, cut at the right, cut at the bottom, the corner), so that a header
        announcing billions of tiles costs nothing to check."""
        tile = self.tile
        whole_across, cut_across = divmod(self.columns, tile)
        whole_down, cut_down = divmod(self.rows, tile)
        total = whole_across * whole_down * size(tile * tile)
        if cut_across:
            total += whole_down * size(cut_across * tile)
        if cut_down:
            total += whole_across * size(tile * cut_down)
        if cut_across and cut_down:
            total += size(cut_across * cut_down)
        return total

    @property
    def external(self) -> bool:
        """Whether the codebook is kept in a codebook file (spec §12)."""
        return bool(self.flags & FLAG_EXTERNAL_CODEBOOK)

    @property
    def codebook_bytes(self) -> int:
        """The codebook section: the entries, or an external codebook's SHA-256."""
        return DIGEST_BYTES if self.external else self.codebook_entries * self.entry_bytes

    @property
    def packed_bytes(self) -> int:
        """The payload's size in the packed coding (spec §4.1; §13 with tiles: the index and
        every tile packed on its own, from a whole byte)."""
        if not self.tiled:
            return packed_size(self.labels, self.bits)
        return self.index_bytes + self.sum_over_tiles(lambda count: packed_size(count, self.bits))

    @property
    def file_bytes(self) -> int:
        return HEADER_BYTES + self.codebook_bytes + self.payload_bytes + TRAILER_BYTES


@dataclass(frozen=True)
class Container:
    """A checked file's header and its sections, as views into the caller's bytes (no copy)."""

    header: Header
    codebook: memoryview
    payload: memoryview


def build(header: Header, codebook: bytes, payload: bytes) -> bytes:
    """Serialise a container; the caller guarantees the sections match the header."""
    fields = _HEADER.pack(
        MAGIC,
        VERSION,
        header.flags,
        header.channels,
        header.bits,
        header.width,
        header.height,
        header.codebook_entries,
        header.label_coding,
        header.block_width,
        header.block_height,
        header.tile_log2,
        b"\0\0",
        header.payload_bytes,
        0,
    )[: HEADER_BYTES - 4]
    header_crc = _CRC.pack(zlib.crc32(fields))
    data_crc = _CRC.pack(zlib.crc32(payload, zlib.crc32(codebook)))
    return b"".join((fields, header_crc, codebook, payload, data_crc))


def seal(data: bytes | bytearray) -> bytes:
    """``data`` with both CRCs (spec §5) recomputed over the bytes they cover.

    For tools that edit a file on purpose (the spec's invalid examples, fuzzing), so that the
    edit reaches the checks behind the CRCs. A buffer too short to hold a CRC field keeps
    those bytes as they are.
    """
    out = bytearray(data)
    if len(out) >= HEADER_BYTES:
        _CRC.pack_into(out, HEADER_BYTES - 4, zlib.crc32(out[: HEADER_BYTES - 4]))
    if len(out) >= HEADER_BYTES + TRAILER_BYTES:
        body = out[HEADER_BYTES:-TRAILER_BYTES]
        _CRC.pack_into(out, len(out) - TRAILER_BYTES, zlib.crc32(body))
    return bytes(out)


def parse(data: bytes | bytearray | memoryview, max_pixels: int | None = None) -> Container:
    """Check ``data`` against the spec and split it into its sections (nothing decoded yet)."""
    view = memoryview(data).cast("B")
    header = parse_header(view, max_pixels)
    expected = header.file_bytes
    if len(view) < expected:
        raise FormatError("file", f"truncated: {len(view)} bytes, the header announces {expected}")
    if len(view) > expected:
        raise FormatError(
            "file",
            f"trailing data: {len(view) - expected} bytes after the trailer "
            f"(the header announces {expected} bytes)",
        )
    codebook_end = HEADER_BYTES + header.codebook_bytes
    payload_end = codebook_end + header.payload_bytes
    (data_crc,) = _CRC.unpack_from(view, payload_end)
    if zlib.crc32(view[HEADER_BYTES:payload_end]) != data_crc:
        raise FormatError("data_crc", "checksum mismatch over codebook and payload (corrupt file)")
    return Container(header, view[HEADER_BYTES:codebook_end], view[codebook_end:payload_end])


def parse_header(view: memoryview, max_pixels: int | None = None) -> Header:
    """Validate the fixed header (spec §2 and §6) and return it.

    ``max_pixels``: this reader's pixel limit (None: ``MAX_IMAGE_PIXELS``; 0: no limit).
    """
    if len(view) < HEADER_BYTES:
        if bytes(view[:4]) != MAGIC[: len(view[:4])]:
            raise FormatError("magic", "not a .vq file")
        raise FormatError(
            "header", f"file is truncated ({len(view)} bytes, the header needs {HEADER_BYTES})"
        )
    values = dict(zip((name for name, _ in HEADER_FIELDS), _HEADER.unpack_from(view), strict=True))
    if values["magic"] != MAGIC:
        raise FormatError("magic", f"not a .vq file (starts with {values['magic']!r})")
    if values["version"] != VERSION:
        raise FormatError(
            "version",
            f"{values['version']} is not supported (this reader knows version {VERSION})",
        )
    if zlib.crc32(view[: HEADER_BYTES - 4]) != values["header_crc"]:
        raise FormatError("header_crc", "checksum mismatch over the header (corrupt file)")
    _check_fields(values)
    header = Header(
        width=values["width"],
        height=values["height"],
        channels=values["channels"],
        bits=values["bits"],
        codebook_entries=values["codebook_entries"],
        payload_bytes=values["payload_bytes"],
        label_coding=LabelCoding(values["label_coding"]),
        block_width=values["block_width"],
        block_height=values["block_height"],
        flags=values["flags"],
        tile_log2=values["tile_log2"],
    )
    check_pixels(header.width, header.height, max_pixels, field="width, height")
    if header.tiled:
        _check_tiled_payload(header)
        return header
    packed = header.packed_bytes
    if header.label_coding == LabelCoding.PACKED and header.payload_bytes != packed:
        raise FormatError(
            "payload_bytes",
            f"{header.payload_bytes}, but {header.labels} labels of {header.bits} bits packed "
            f"take {packed}",
        )
    least = min_entropy_payload(header.labels)
    if header.label_coding == LabelCoding.ENTROPY and not least <= header.payload_bytes < packed:
        raise FormatError(
            "payload_bytes",
            f"{header.payload_bytes}, but {header.labels} entropy-coded labels take at least "
            f"{least} bytes and fewer than the packed coding's {packed}",
        )
    least = min_entropy2_payload(header.labels)
    if header.label_coding == LabelCoding.ENTROPY2 and not (
        least <= header.payload_bytes < packed and header.payload_bytes % 2 == 0
    ):
        raise FormatError(
            "payload_bytes",
            f"{header.payload_bytes}, but {header.labels} entropy2-coded labels take an even "
            f"number of bytes, at least {least} and fewer than the packed coding's {packed}",
        )
    return header


def _check_tiled_payload(header: Header) -> None:
    """Spec §13: no more tiles than 1 + 4 labels / T^2, and the payload holds the index and
    every tile: for packed, exactly every tile packed; for the entropy codings, each tile
    between its least payload (or its packed size, if that is less) and its packed size."""
    if not header.tiles_fit:
        raise FormatError(
            "tile_log2",
            f"{header.tile_log2}: {header.tile_count} tiles of {header.tile} labels for a "
            f"{header.columns}x{header.rows} label grid, more than 1 + 4 labels / tile^2",
        )
    most = header.packed_bytes
    if header.label_coding == LabelCoding.PACKED:
        least = most
    else:
        entropy = header.label_coding == LabelCoding.ENTROPY
        smallest = min_entropy_payload if entropy else min_entropy2_payload
        least = header.index_bytes + header.sum_over_tiles(
            lambda count: min(smallest(count), packed_size(count, header.bits))
        )
    if not least <= header.payload_bytes <= most:
        rule = f"exactly {least}" if least == most else f"{least} to {most}"
        raise FormatError(
            "payload_bytes",
            f"{header.payload_bytes}, but {header.tile_count} tiles of {header.coding} labels "
            f"with their index take {rule}",
        )


def check_pixels(width: int, height: int, max_pixels: int | None, field: str) -> None:
    """Refuse an image over the pixel limit in force (spec §6), before anything is allocated."""
    limit = pixel_limit(max_pixels)
    if limit is not None and width * height > limit:
        raise FormatError(
            field,
            f"{width}x{height} = {width * height} pixels exceeds the limit of {limit} "
            "(max_pixels=, or --max-pixels on the command line, changes it)",
        )


def _check_vectors(values: dict) -> int:
    """The fields that say what a code vector is, shared by .vq and .vqb headers: channels,
    block shape, and bits (as the shape allows, spec §2). Returns bits."""
    if values["channels"] not in CHANNEL_COUNTS:
        raise FormatError("channels", f"{values['channels']}, must be 1, 3 or 4")
    block = (values["block_width"], values["block_height"])
    if not (1 <= block[0] <= MAX_BLOCK_SIDE and 1 <= block[1] <= MAX_BLOCK_SIDE):
        raise FormatError(
            "block_width, block_height", f"{block[0]}x{block[1]}, each must be 1..{MAX_BLOCK_SIDE}"
        )
    bits, most = values["bits"], max_bits(block)
    if not MIN_BITS <= bits <= most:
        shape = "1x1 blocks (pixels)" if most == MAX_BITS else "blocks larger than 1x1"
        raise FormatError("bits", f"{bits}, must be {MIN_BITS}..{most} for {shape}")
    return bits


def _check_entries(entries: int, bits: int) -> None:
    allowed = min(1 << bits, MAX_ENTRIES)
    if not 1 <= entries <= allowed:
        raise FormatError("codebook_entries", f"{entries}, must be 1..{allowed} for bits={bits}")


def _check_fields(values: dict) -> None:
    flags = values["flags"]
    if flags & ~KNOWN_FLAGS:
        raise FormatError("flags", f"unknown bits set (0x{flags:02x}); they must be zero")
    tile_log2 = values["tile_log2"]
    if flags & FLAG_TILED and not MIN_TILE_LOG2 <= tile_log2 <= MAX_TILE_LOG2:
        raise FormatError(
            "tile_log2", f"{tile_log2}, must be {MIN_TILE_LOG2}..{MAX_TILE_LOG2} with tiles"
        )
    if not flags & FLAG_TILED and tile_log2:
        raise FormatError("tile_log2", f"{tile_log2}, must be 0 without tiles (flags bit 1)")
    bits = _check_vectors(values)
    for name in ("width", "height"):
        if values[name] == 0:
            raise FormatError(name, "0, must be at least 1")
    _check_entries(values["codebook_entries"], bits)
    coding = values["label_coding"]
    if coding not in LabelCoding.__members__.values():
        raise FormatError("label_coding", f"unknown value {coding}")
    if coding != LabelCoding.PACKED and bits > MAX_BITS:
        raise FormatError(
            "label_coding",
            f"{LabelCoding(coding).label} codes labels of at most {MAX_BITS} bits, not {bits}",
        )
    if values["reserved"] != b"\0\0":
        raise FormatError("reserved", "must be zero")


# --- codebook files (.vqb, spec §12) --------------------------------------------------------

BOOK_MAGIC = b"\x89VQB"
BOOK_VERSION = 1
BOOK_FIELDS = (
    ("magic", "4s"),
    ("version", "B"),
    ("channels", "B"),
    ("block_width", "B"),
    ("block_height", "B"),
    ("bits", "B"),
    ("reserved", "B"),
    ("codebook_entries", "H"),
    ("header_crc", "I"),
)
_BOOK_HEADER = struct.Struct("<" + "".join(code for _, code in BOOK_FIELDS))
BOOK_HEADER_BYTES = _BOOK_HEADER.size  # 16


@dataclass(frozen=True)
class BookHeader:
    """A codebook file's fields: what its entries are, and the labels that index them."""

    channels: int
    block_width: int
    block_height: int
    bits: int
    codebook_entries: int

    @property
    def block(self) -> tuple[int, int]:
        return self.block_width, self.block_height

    @property
    def entry_bytes(self) -> int:
        return self.block_width * self.block_height * self.channels

    @property
    def file_bytes(self) -> int:
        return BOOK_HEADER_BYTES + self.codebook_entries * self.entry_bytes + TRAILER_BYTES


def digest(book: bytes | memoryview) -> bytes:
    """What a .vq file stores to name its codebook file: the SHA-256 of the file's bytes."""
    return hashlib.sha256(book).digest()


def build_book(header: BookHeader, codebook: bytes) -> bytes:
    """A codebook file's bytes (spec §12); the caller guarantees codebook matches header."""
    fields = _BOOK_HEADER.pack(
        BOOK_MAGIC,
        BOOK_VERSION,
        header.channels,
        header.block_width,
        header.block_height,
        header.bits,
        0,
        header.codebook_entries,
        0,
    )[: BOOK_HEADER_BYTES - 4]
    crc = _CRC.pack(zlib.crc32(fields))
    return b"".join((fields, crc, codebook, _CRC.pack(zlib.crc32(codebook))))


def parse_book(data: bytes | bytearray | memoryview) -> tuple[BookHeader, memoryview]:
    """Check a codebook file against spec §12: its header and its (K x entry) entries."""
    view = memoryview(data).cast("B")
    if bytes(view[:4]) != BOOK_MAGIC[: len(view[:4])] or len(view) < 4:
        raise FormatError("magic", "not a .vqb codebook file")
    if len(view) < BOOK_HEADER_BYTES:
        raise FormatError(
            "header", f"truncated ({len(view)} bytes, the header needs {BOOK_HEADER_BYTES})"
        )
    values = dict(
        zip((name for name, _ in BOOK_FIELDS), _BOOK_HEADER.unpack_from(view), strict=True)
    )
    if values["version"] != BOOK_VERSION:
        raise FormatError("version", f"{values['version']} is not supported (this reader knows 1)")
    if zlib.crc32(view[: BOOK_HEADER_BYTES - 4]) != values["header_crc"]:
        raise FormatError("header_crc", "checksum mismatch over the header (corrupt file)")
    bits = _check_vectors(values)
    if values["reserved"]:
        raise FormatError("reserved", "must be zero")
    entries = values["codebook_entries"]
    _check_entries(entries, bits)
    header = BookHeader(
        values["channels"], values["block_width"], values["block_height"], bits, entries
    )
    expected = header.file_bytes
    if len(view) != expected:
        what = "truncated" if len(view) < expected else "trailing data"
        raise FormatError("file", f"{what}: {len(view)} bytes, the header announces {expected}")
    end = expected - TRAILER_BYTES
    (crc,) = _CRC.unpack_from(view, end)
    if zlib.crc32(view[BOOK_HEADER_BYTES:end]) != crc:
        raise FormatError("data_crc", "checksum mismatch over the codebook (corrupt file)")
    return header, view[BOOK_HEADER_BYTES:end]
