"""Tiles (spec §13): the label grid cut into squares of 2**tile_log2 labels, each coded on its
own by the file's label coding, with its own CRC-32, after an index of the tiles' sizes.

Independent tiles are what let one large image use every core (the C kernels release the
GIL, so tiles run on threads, and the bytes do not depend on how many) and what let a reader
decode a region from the tiles it touches alone, checking only those (plus the header, the
codebook and the index, each under its own CRC).

Index layout, at the start of the payload: for each tile in row-major order, u32 bytes and
u32 CRC-32 of its coded labels; then u32 CRC-32 of the codebook section and u32 CRC-32 of
everything before it in the index. The tiles' coded labels follow, in order, with no gaps.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from . import container
from ._threads import parallel_map
from .coding import CODINGS
from .container import INDEX_TAIL_BYTES, Header, LabelCoding
from .errors import FormatError

_ENTRY = struct.Struct("<II")
_CRC = struct.Struct("<I")


def tile_header(header: Header, number: int, payload_bytes: int = 0) -> Header:
    """The header a tile's labels are coded under: an image of the tile's labels, the file's
    block, bits, channels and coding (so each coding's choices are the file's)."""
    _, _, columns, rows = header.tile_box(number)
    return replace(
        header,
        width=columns * header.block_width,
        height=rows * header.block_height,
        payload_bytes=payload_bytes,
        flags=0,
        tile_log2=0,
    )


def encode(grid: np.ndarray, header: Header, codebook: bytes, threads: int | None = None) -> bytes:
    """The tiled payload of the (rows, columns) label ``grid``: the index, then every tile
    coded by ``header.label_coding``, or packed where that would not be smaller."""
    coding = CODINGS[header.label_coding]

    def one(number: int) -> bytes:
        column, row, columns, rows = header.tile_box(number)
        labels = np.ascontiguousarray(grid[row : row + rows, column : column + columns])
        labels, inner = labels.reshape(-1), tile_header(header, number)
        return coding.encode(labels, inner) or CODINGS[LabelCoding.PACKED].encode(labels, inner)

    payloads = parallel_map(one, range(header.tile_count), threads)
    index = b"".join(_ENTRY.pack(len(p), zlib.crc32(p)) for p in payloads)
    index += _CRC.pack(zlib.crc32(codebook))
    index += _CRC.pack(zlib.crc32(index))
    return b"".join([index, *payloads])


class Index(NamedTuple):
    """Every tile's offset in the payload, bytes and CRC-32, as arrays (row-major)."""

    starts: np.ndarray
    sizes: np.ndarray
    crcs: np.ndarray

    def __getitem__(self, number: int) -> tuple[int, int, int]:  # type: ignore[override]
        """(offset, bytes, CRC) of tile ``number``."""
        return int(self.starts[number]), int(self.sizes[number]), int(self.crcs[number])

    def __len__(self) -> int:
        return len(self.sizes)


def read_index(index: bytes | memoryview, header: Header, codebook: bytes | memoryview) -> Index:
    """The offset in the payload, bytes and CRC of every tile, after checking the index's CRC,
    the codebook's, and every tile's size against the coding (spec §13). Whole-array numpy:
    a 24 MP image in tiles of 64 labels has 5,900 of them."""
    if len(index) != header.index_bytes:
        raise FormatError("payload", f"the tile index is cut short ({len(index)} bytes)")
    body = len(index) - INDEX_TAIL_BYTES
    (book_crc, index_crc) = struct.unpack_from("<II", index, body)
    if zlib.crc32(index[: len(index) - 4]) != index_crc:
        raise FormatError("payload", "checksum mismatch over the tile index (corrupt file)")
    if zlib.crc32(codebook) != book_crc:
        raise FormatError("codebook", "checksum mismatch over the codebook (corrupt file)")
    entries = np.frombuffer(index, "<u4", body // 4).reshape(-1, 2).astype(np.int64)
    sizes = entries[:, 0]
    counts = _label_counts(header)
    packed = (counts * header.bits + 7) // 8
    if header.label_coding == LabelCoding.PACKED:
        wrong = sizes != packed
    else:
        if header.label_coding == LabelCoding.ENTROPY:  # container's rules, on arrays
            least = np.maximum(
                container.MIN_ENTROPY_PAYLOAD, 3 + counts // container.ENTROPY_PIXELS_PER_BYTE
            )
        else:
            least = np.maximum(
                container.MIN_ENTROPY2_PAYLOAD, 4 + counts // container.ENTROPY2_PIXELS_PER_BYTE
            )
        wrong = (sizes != packed) & ((sizes < least) | (sizes >= packed))
        if header.label_coding == LabelCoding.ENTROPY2:  # 2-byte words (spec §4.3)
            wrong |= (sizes != packed) & (sizes % 2 == 1)
    if wrong.any():
        number = int(np.flatnonzero(wrong)[0])
        raise FormatError(
            "payload",
            f"tile {number}: {sizes[number]} bytes, but its {counts[number]} {header.coding} "
            f"labels take {packed[number]} packed"
            + ("" if header.label_coding == LabelCoding.PACKED else " or fewer, and at least "
               f"{least[number]} coded"),
        )  # fmt: skip
    ends = header.index_bytes + np.cumsum(sizes)
    if int(ends[-1]) != header.payload_bytes:
        raise FormatError(
            "payload",
            f"the tile index adds up to {int(ends[-1])} bytes, the payload holds "
            f"{header.payload_bytes}",
        )
    return Index(ends - sizes, sizes, entries[:, 1])


def _label_counts(header: Header) -> np.ndarray:
    """Labels in each tile, row-major."""
    across, down = header.tile_grid
    tile = header.tile
    widths = np.full(across, tile, np.int64)
    widths[-1] = header.columns - (across - 1) * tile
    heights = np.full(down, tile, np.int64)
    heights[-1] = header.rows - (down - 1) * tile
    return np.outer(heights, widths).reshape(-1)


def decode_tile(header: Header, number: int, data: bytes | memoryview, crc: int) -> np.ndarray:
    """One tile's labels, (rows, columns), after checking its CRC."""
    if zlib.crc32(data) != crc:
        raise FormatError("payload", f"tile {number}: checksum mismatch (corrupt file)")
    _, _, columns, rows = header.tile_box(number)
    # A tile as long as its labels packed is packed (a writer stores it so when its coding
    # would not be smaller); a shorter one is coded by the file's coding.
    packed = len(data) == header.tile_packed_bytes(number)
    coding = LabelCoding.PACKED if packed else header.label_coding
    inner = replace(tile_header(header, number, len(data)), label_coding=coding)
    return CODINGS[coding].decode(data, inner).reshape(rows, columns)


def decode(
    fetch: Callable[[int, int], bytes | memoryview],
    header: Header,
    codebook: bytes | memoryview,
    tiles: Iterable[int] | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, tuple[int, int]]:
    """The labels of ``tiles`` (default: all) as one grid covering their bounding box, and
    that box's (column, row) in the file's label grid. ``fetch(offset, size)`` returns
    bytes of the payload (a slice in memory, or a read of a file): only the index's and the
    wanted tiles' are fetched, and only theirs are checked (with the codebook's CRC)."""
    entries = read_index(fetch(0, header.index_bytes), header, codebook)
    numbers = sorted(set(range(header.tile_count) if tiles is None else tiles))
    boxes = [header.tile_box(number) for number in numbers]
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    wide = header.bits > 8
    grid = np.zeros((bottom - top, right - left), np.uint16 if wide else np.uint8)

    def one(number: int) -> None:
        offset, size, crc = entries[number]
        column, row, columns, rows = header.tile_box(number)
        labels = decode_tile(header, number, fetch(offset, size), crc)
        grid[row - top : row - top + rows, column - left : column - left + columns] = labels

    parallel_map(one, numbers, threads)
    return grid, (left, top)


def touched(header: Header, region: tuple[int, int, int, int]) -> list[int]:
    """The tiles a pixel region (x, y, width, height) touches."""
    x, y, width, height = region
    bw, bh, tile = header.block_width, header.block_height, header.tile
    first_column, last_column = x // bw // tile, (x + width - 1) // bw // tile
    first_row, last_row = y // bh // tile, (y + height - 1) // bh // tile
    across = header.tile_grid[0]
    return [
        row * across + column
        for row in range(first_row, last_row + 1)
        for column in range(first_column, last_column + 1)
    ]
