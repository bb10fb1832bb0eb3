"""The .vq container: header, codebook, payload, trailer (``spec/vq-format.md``).

This module owns every constant of the format and the order in which a reader checks a file:
length, magic, version, header CRC, each header field, limits, section sizes, data CRC. All of
that happens before any buffer the size of the image is allocated (spec §6).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .bitpack import packed_size
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
    ("reserved", "3s"),
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

# label_coding values (spec §4). Values listed here but not in IMPLEMENTED_CODINGS are
# reserved by the spec; a reader refuses them by name rather than misreading them.
LABEL_CODINGS = {0: "packed", 1: "entropy"}
IMPLEMENTED_CODINGS = {"packed": 0, "entropy": 1}
MIN_ENTROPY_PAYLOAD = 4  # the range decoder starts by reading 4 bytes (spec §4.2)

FLAG_EXTERNAL_CODEBOOK = 0x01  # spec §2: reserved for a codebook kept in another file

# This implementation's limit, not the format's (spec §6): the same default as Pillow's
# Image.MAX_IMAGE_PIXELS. Set vqcodec.container.MAX_IMAGE_PIXELS = None to lift it.
MAX_IMAGE_PIXELS: int | None = 1024 * 1024 * 1024 // 4 // 3


@dataclass(frozen=True)
class Header:
    """The header fields a writer chooses; the rest (magic, CRCs, reserved) are derived."""

    width: int
    height: int
    channels: int
    bits: int
    codebook_entries: int
    payload_bytes: int
    label_coding: int = 0
    block_width: int = 1
    block_height: int = 1
    flags: int = 0

    @property
    def coding(self) -> str:
        return LABEL_CODINGS.get(self.label_coding, f"unknown ({self.label_coding})")

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def codebook_bytes(self) -> int:
        return self.codebook_entries * self.channels

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
        b"\0\0\0",
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


def parse(data: bytes) -> Container:
    """Check ``data`` against the spec and split it into its sections (nothing decoded yet)."""
    view = memoryview(data).cast("B")
    header = parse_header(view)
    expected = header.file_bytes
    if len(view) < expected:
        raise FormatError(f"file is truncated: {len(view)} bytes, the header announces {expected}")
    if len(view) > expected:
        raise FormatError(
            f"trailing data: {len(view) - expected} bytes after the trailer "
            f"(the header announces {expected} bytes)"
        )
    codebook_end = HEADER_BYTES + header.codebook_bytes
    payload_end = codebook_end + header.payload_bytes
    (data_crc,) = _CRC.unpack_from(view, payload_end)
    if zlib.crc32(view[HEADER_BYTES:payload_end]) != data_crc:
        raise FormatError("data_crc: checksum mismatch over codebook and payload (corrupt file)")
    return Container(header, view[HEADER_BYTES:codebook_end], view[codebook_end:payload_end])


def parse_header(view: memoryview) -> Header:
    """Validate the fixed header (spec §2 and §6) and return it."""
    if len(view) < HEADER_BYTES:
        if bytes(view[:4]) != MAGIC[: len(view[:4])]:
            raise FormatError("magic: not a .vq file")
        raise FormatError(
            f"header: file is truncated ({len(view)} bytes, the header needs {HEADER_BYTES})"
        )
    values = dict(zip((name for name, _ in HEADER_FIELDS), _HEADER.unpack_from(view), strict=True))
    if values["magic"] != MAGIC:
        raise FormatError(f"magic: not a .vq file (starts with {values['magic']!r})")
    if values["version"] != VERSION:
        raise FormatError(
            f"version: {values['version']} is not supported (this reader knows version {VERSION})"
        )
    if zlib.crc32(view[: HEADER_BYTES - 4]) != values["header_crc"]:
        raise FormatError("header_crc: checksum mismatch over the header (corrupt file)")
    _check_fields(values)
    header = Header(
        width=values["width"],
        height=values["height"],
        channels=values["channels"],
        bits=values["bits"],
        codebook_entries=values["codebook_entries"],
        payload_bytes=values["payload_bytes"],
        label_coding=values["label_coding"],
        block_width=values["block_width"],
        block_height=values["block_height"],
        flags=values["flags"],
    )
    pixels = header.pixels
    if MAX_IMAGE_PIXELS is not None and pixels > MAX_IMAGE_PIXELS:
        raise FormatError(
            f"width, height: {header.width}x{header.height} = {pixels} pixels exceeds this "
            f"reader's limit of {MAX_IMAGE_PIXELS} (vqcodec.container.MAX_IMAGE_PIXELS)"
        )
    packed_payload = packed_size(pixels, header.bits)
    if header.coding == "packed" and header.payload_bytes != packed_payload:
        raise FormatError(
            f"payload_bytes: {header.payload_bytes}, but {pixels} labels of {header.bits} bits "
            f"packed take {packed_payload}"
        )
    if header.coding == "entropy" and not (
        MIN_ENTROPY_PAYLOAD <= header.payload_bytes < packed_payload
    ):
        raise FormatError(
            f"payload_bytes: {header.payload_bytes}, but entropy-coded labels take at least "
            f"{MIN_ENTROPY_PAYLOAD} bytes and fewer than the packed coding's {packed_payload}"
        )
    return header


def _check_fields(values: dict) -> None:
    flags = values["flags"]
    if flags & FLAG_EXTERNAL_CODEBOOK:
        raise FormatError("flags: external codebook (bit 0) is not supported by this reader")
    if flags:
        raise FormatError(f"flags: unknown bits set (0x{flags:02x}); they must be zero")
    if values["channels"] not in CHANNEL_COUNTS:
        raise FormatError(f"channels: {values['channels']}, must be 1, 3 or 4")
    bits = values["bits"]
    if not MIN_BITS <= bits <= MAX_BITS:
        raise FormatError(f"bits: {bits}, must be {MIN_BITS}..{MAX_BITS}")
    for name in ("width", "height"):
        if values[name] == 0:
            raise FormatError(f"{name}: 0, must be at least 1")
    entries = values["codebook_entries"]
    if not 1 <= entries <= 1 << bits:
        raise FormatError(f"codebook_entries: {entries}, must be 1..{1 << bits} for bits={bits}")
    coding = values["label_coding"]
    if coding not in LABEL_CODINGS:
        raise FormatError(f"label_coding: unknown value {coding}")
    if LABEL_CODINGS[coding] not in IMPLEMENTED_CODINGS:
        raise FormatError(
            f"label_coding: {coding} ({LABEL_CODINGS[coding]}) is not supported by this reader"
        )
    block = (values["block_width"], values["block_height"])
    if block != (1, 1):
        raise FormatError(
            f"block_width, block_height: {block[0]}x{block[1]} blocks are not supported by "
            "this reader (only 1x1)"
        )
    if values["reserved"] != b"\0\0\0":
        raise FormatError("reserved: must be zero")
