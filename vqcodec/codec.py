"""The public API.

image -> quantizer -> labels + codebook -> label coding (packed or entropy) -> container
bytes, and back.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from . import _core, _io, blocks, container, tiles
from ._atomic import write_bytes
from ._threads import check_threads, parallel_map
from .books import Codebook, beside
from .coding import CODINGS
from .container import LabelCoding
from .errors import FormatError, VQError
from .images import ImageLike, save_decoded, save_pixels, to_array
from .quantize import check_dither, dither_labels, quantize

PathLike = str | os.PathLike[str]
Quantized = tuple[np.ndarray, np.ndarray]  # (K, C) codebook, (N,) labels

DEFAULT_BITS = 4
BLOCK_SEARCH_BITS = 10  # the most bits a target search with blocks tries by default


class TargetError(VQError):
    """No bits allowed reach ``target_psnr`` or fit in ``max_bytes``; the message says what
    the nearest bits gave."""


def encode(
    image: ImageLike,
    bits: int | None = None,
    *,
    coding: str = "entropy2",
    seed: int = 0,
    max_pixels: int | None = None,
    target_psnr: float | None = None,
    max_bytes: int | None = None,
    dither: float = 0.0,
    block: tuple[int, int] = (1, 1),
    codebook: Codebook | None = None,
    tile: int | None = None,
    threads: int | None = None,
) -> bytes:
    """Quantize ``image`` to at most ``2**bits`` colours and return the .vq file's bytes.

    ``image`` is a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), or a PIL image.
    ``bits`` defaults to 4. ``coding="entropy2"`` (the default) codes the labels with
    context models and rANS (spec §4.3), typically 2-5x smaller than packed, and falls back to
    packed for an image where that would not be smaller; ``coding="entropy"`` is the first
    entropy coding (§4.2: about the same size, slower to decode); ``coding="packed"`` stores
    every label in exactly ``bits`` bits (a size known in advance, spec §7). All decode to
    the same array. The same image and options give the same bytes. ``max_pixels`` is the pixel
    limit (None: the reader's default, ``vqcodec.container.MAX_IMAGE_PIXELS``; 0: none), so
    that the encoder never writes a file the reader would refuse. ``dither`` (0..1, 0 off)
    maps pixels to the codebook by Floyd-Steinberg error diffusion at that strength: no
    banding on smooth gradients, at the price of noise (a lower PSNR, a larger file).

    A quality or a size instead of bits (one of the two): ``target_psnr`` (dB; ``math.inf``
    for lossless) takes the fewest bits whose decoded image reaches that PSNR against
    ``image``, over all channels (fully transparent pixels all alike: ``quantized_psnr``);
    ``max_bytes`` the most bits whose file fits in that many bytes. ``bits``, if given, is
    then the most the search may take (else 8); the file's header tells the bits chosen.
    When no bits can, :class:`vqcodec.codec.TargetError` (a ``VQError``) says what the
    nearest gave. The search bisects over bits: 3 or 4 quantizations instead of 8 (see
    ``_fewest_reaching``).

    ``block=(bw, bh)`` (each 1..8) quantizes blocks of bw x bh pixels as vectors (spec
    §4.4): at most ``2**bits`` codewords of a whole block each, one label a block, so a
    file can take less than one bit a pixel; ``bits`` is then 1..16 (the entropy codings
    take labels of at most 8 bits; wider ones are packed). No dithering with blocks. A
    target search with blocks tries at most 10 bits unless ``bits`` says more.

    ``codebook``, a shared :class:`vqcodec.Codebook` (``vqcodec.train``), labels the image's
    blocks with its codewords: the file names the codebook by its SHA-256 instead of holding
    it (spec §12), and decoding needs it. ``bits`` and ``block`` are the codebook's (give
    them only to check that); no targets or dithering then.

    ``tile`` (a power of two, 64..4096) codes the labels in tiles of that many labels square
    (spec §13), each on its own, and ``read(..., region=...)`` decodes only the tiles a
    region touches. ``threads`` (default: every core) share the colour quantizer's passes
    over the pixels and the tiles; the bytes do not depend on their number.

    >>> data = vqcodec.encode(np.zeros((2, 3), np.uint8), bits=2)
    >>> vqcodec.decode(data).shape
    (2, 3)
    >>> vqcodec.info(vqcodec.encode(photo, target_psnr=35))["bits"]
    5
    """
    tile_log2 = check_tile(tile)
    threads = check_threads(threads)
    if codebook is not None:
        return _encode_with_book(
            image, codebook, bits, block, coding, max_pixels, target_psnr, max_bytes, dither,
            tile_log2, threads,
        )  # fmt: skip
    block = check_block(block)
    most = container.max_bits(block)
    if bits is not None:
        bits = _check_int("bits", bits)
        if not container.MIN_BITS <= bits <= most:
            shape = "" if block == (1, 1) else f" with {block[0]}x{block[1]} blocks"
            raise ValueError(f"bits must be {container.MIN_BITS}..{most}{shape}, not {bits}")
    seed = _check_int("seed", seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    if coding not in container.CODING_NAMES:
        raise ValueError(f"coding must be one of {sorted(container.CODING_NAMES)}, not {coding!r}")
    target_psnr, max_bytes = _check_targets(target_psnr, max_bytes)
    dither = check_dither(dither)
    if dither and block != (1, 1):
        raise ValueError("dither works on pixels, not on blocks: give one or the other")
    pixels = to_array(image, max_pixels)  # refused before its pixels are decoded
    height, width, channels = pixels.shape
    flat = pixels.reshape(-1, channels)
    wanted = container.CODING_NAMES[coding]
    vectors = blocks.to_vectors(pixels, block) if block != (1, 1) else None

    def fit(bits: int) -> Quantized:
        if vectors is not None:
            return blocks.quantize(vectors, min(1 << bits, container.MAX_ENTRIES), seed)
        codebook, labels = quantize(flat, 1 << bits, seed, threads)
        # An exact codebook (no more distinct pixels than codewords) leaves no error to
        # diffuse, and dithering's ties would merge colours hidden under alpha 0.
        if dither and not np.array_equal(codebook[labels], flat):
            labels = dither_labels(pixels, codebook, dither)
        return codebook, labels

    def assemble(bits: int, quantized: Quantized) -> bytes:
        codebook, labels = quantized
        header = container.Header(
            width=width,
            height=height,
            channels=channels,
            bits=bits,
            codebook_entries=len(codebook),
            payload_bytes=0,
            block_width=block[0],
            block_height=block[1],
            flags=container.FLAG_TILED if tile_log2 else 0,
            tile_log2=tile_log2,
        )
        section = codebook.tobytes()
        header, payload = _coded(labels, header, wanted, section, threads)
        return container.build(header, section, payload)

    # A target search over block codebooks stops at 10 bits unless told otherwise: LBG with
    # tens of thousands of codewords takes minutes an attempt, for little a photo gains.
    highest = (most if block == (1, 1) else BLOCK_SEARCH_BITS) if bits is None else bits
    if target_psnr is not None:

        def measure(quantized: Quantized) -> float:
            if vectors is None:
                return quantized_psnr(flat, *quantized)
            return psnr(pixels, paint(width, height, block, *quantized))

        chosen, quantized = _fewest_reaching(target_psnr, measure, fit, highest)
        return assemble(chosen, quantized)
    if max_bytes is not None:
        # The packed file of `highest` bits with every codeword used: no file is larger
        # (the tile index and each tile's padding included, spec §13).
        count = len(flat if vectors is None else vectors)
        largest = container.Header(
            width=width,
            height=height,
            channels=channels,
            bits=highest,
            codebook_entries=min(1 << highest, container.MAX_ENTRIES, count),
            payload_bytes=0,
            block_width=block[0],
            block_height=block[1],
            flags=container.FLAG_TILED if tile_log2 else 0,
            tile_log2=tile_log2,
        )
        if largest.tiled and not largest.tiles_fit:
            largest = replace(largest, flags=0, tile_log2=0)
        bound = largest.file_bytes + largest.packed_bytes
        return _most_fitting(max_bytes, bound, lambda bits: assemble(bits, fit(bits)), highest)
    bits = DEFAULT_BITS if bits is None else bits
    return assemble(bits, fit(bits))


def _check_targets(
    target_psnr: float | None, max_bytes: int | None
) -> tuple[float | None, int | None]:
    if target_psnr is not None and max_bytes is not None:
        raise ValueError("give target_psnr or max_bytes, not both")
    if target_psnr is not None:
        if isinstance(target_psnr, bool) or not isinstance(
            target_psnr, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"target_psnr must be a number, not {type(target_psnr).__name__}")
        target_psnr = float(target_psnr)
        if not target_psnr > 0:  # NaN included
            raise ValueError(f"target_psnr must be a PSNR in dB above 0, not {target_psnr}")
    if max_bytes is not None:
        max_bytes = _check_int("max_bytes", max_bytes)
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, not {max_bytes}")
    return target_psnr, max_bytes


def _encode_with_book(
    image: ImageLike,
    book: Codebook,
    bits: int | None,
    block: tuple[int, int],
    coding: str,
    max_pixels: int | None,
    target_psnr: float | None,
    max_bytes: int | None,
    dither: float,
    tile_log2: int,
    threads: int | None,
) -> bytes:
    """``encode`` with a shared codebook (spec §12)."""
    if not isinstance(book, Codebook):
        raise TypeError(f"codebook must be a vqcodec.Codebook, not {type(book).__name__}")
    if target_psnr is not None or max_bytes is not None or dither:
        raise ValueError("a shared codebook fixes bits: no target_psnr, max_bytes or dither")
    if bits is not None and bits != book.bits:
        raise ValueError(f"bits {bits}, but the codebook's labels have {book.bits}")
    if check_block(block) not in ((1, 1), book.block):
        raise ValueError(f"block {block}, but the codebook's blocks are {book.block}")
    if coding not in container.CODING_NAMES:
        raise ValueError(f"coding must be one of {sorted(container.CODING_NAMES)}, not {coding!r}")
    pixels = to_array(image, max_pixels)
    height, width, channels = pixels.shape
    if channels != book.channels:
        raise ValueError(
            f"the image has {channels} channel(s), the codebook's blocks {book.channels}"
        )
    labels, _ = blocks.nearest(blocks.to_vectors(pixels, book.block), book.vectors)
    header = container.Header(
        width=width,
        height=height,
        channels=channels,
        bits=book.bits,
        codebook_entries=len(book.vectors),
        payload_bytes=0,
        block_width=book.block[0],
        block_height=book.block[1],
        flags=container.FLAG_EXTERNAL_CODEBOOK | (container.FLAG_TILED if tile_log2 else 0),
        tile_log2=tile_log2,
    )
    header, payload = _coded(labels, header, container.CODING_NAMES[coding], book.digest, threads)
    return container.build(header, book.digest, payload)


def _coded(
    labels: np.ndarray,
    header: container.Header,
    wanted: LabelCoding,
    section: bytes,
    threads: int | None,
) -> tuple[container.Header, bytes]:
    """The payload of ``labels`` by the ``wanted`` coding, tile by tile when ``header`` says
    so (``section``: the codebook section, whose CRC the tile index holds), and the header
    with its coding and size: packed where the coding would not be smaller, or where the
    labels are wider than the entropy codings take (8 bits)."""
    used = wanted if header.bits <= container.MAX_BITS else LabelCoding.PACKED
    if header.tiled and not header.tiles_fit:  # a grid thinner than a tile: no tiles (§13)
        header = replace(header, flags=header.flags & ~container.FLAG_TILED, tile_log2=0)
    while True:
        trial = replace(header, label_coding=used)
        if header.tiled:
            grid = labels.reshape(header.rows, header.columns)
            payload = tiles.encode(grid, trial, section, threads)
        else:
            payload = CODINGS[used].encode(labels, trial)
        if payload is not None:
            return replace(trial, payload_bytes=len(payload)), payload
        used = LabelCoding.PACKED  # never None: packed always fits


def check_tile(tile: object) -> int:
    """``tile`` (None, or a power of two 64..4096) as the header's tile_log2 (0: no tiles)."""
    if tile is None:
        return 0
    side = _check_int("tile", tile)
    low, high = 1 << container.MIN_TILE_LOG2, 1 << container.MAX_TILE_LOG2
    if not low <= side <= high or side & (side - 1):
        raise ValueError(f"tile must be a power of two {low}..{high}, not {side}")
    return side.bit_length() - 1


def check_block(block: object) -> tuple[int, int]:
    """``block`` as a (width, height) pair of ints 1..8 (spec §2)."""
    if not isinstance(block, (tuple, list)) or len(block) != 2:
        raise TypeError(f"block must be a (width, height) pair, not {block!r}")
    width, height = (_check_int("block", side) for side in block)
    side = container.MAX_BLOCK_SIDE
    if not (1 <= width <= side and 1 <= height <= side):
        raise ValueError(f"block sides must be 1..{side}, not {width}x{height}")
    return width, height


def _fewest_reaching(
    target: float,
    measure: Callable[[Quantized], float],
    fit: Callable[[int], Quantized],
    highest: int,
) -> tuple[int, Quantized]:
    """The fewest bits in 1..highest whose quantization reaches ``target`` dB, by bisection:
    only the chosen bits' labels get coded, and at most two quantizations are held at once.

    Bisection assumes PSNR grows with bits. Undithered gray does: the quantizer is the
    exact optimum, and 2K codewords can do whatever K can. Colour k-means (or dithering)
    could in principle break it; on the 18 corpus images (../shared/corpus) it never did
    (nor on 7 of them dithered), and bisection chose what trying all 8 chose for every
    target, in 0.27-0.40x the time. Were it broken, the file would still reach the target
    (it is measured), with a bit too many.
    """
    low, high = container.MIN_BITS, highest
    best: tuple[int, Quantized] | None = None
    reached = 0.0
    while low <= high:
        middle = (low + high) // 2
        quantized = fit(middle)
        value = measure(quantized)
        if value >= target:
            best, high = (middle, quantized), middle - 1
        else:
            reached, low = value, middle + 1
    if best is None:  # the last bits tried were ``highest``
        goal = "a lossless result" if target == math.inf else f"{target:g} dB of PSNR"
        raise TargetError(
            f"no bits reach {goal} ({highest} bits, the most allowed, give {reached:.2f} dB)"
        )
    return best


def _most_fitting(limit: int, bound: int, encode_at: Callable[[int], bytes], highest: int) -> bytes:
    """The file of the most bits in 1..highest that fits in ``limit`` bytes, by bisection.

    Sizes grow with bits on every corpus image (see ``_fewest_reaching``); were they not to,
    the file would still fit, with a bit too few. When even the packed size law's ``bound``
    (every codeword used) fits, ``highest`` is taken without trying: an entropy-coded file
    is never larger than the packed one.
    """
    if bound <= limit:
        return encode_at(highest)
    low, high = container.MIN_BITS, highest
    best: bytes | None = None
    smallest = 0
    while low <= high:
        middle = (low + high) // 2
        data = encode_at(middle)
        if len(data) <= limit:
            best, low = data, middle + 1
        else:
            smallest, high = len(data), middle - 1
    if best is None:  # the last bits tried were 1
        raise TargetError(
            f"no bits fit in {limit:,} bytes ({container.MIN_BITS} bit gives {smallest:,} bytes)"
        )
    return best


# Pixels per step of quantized_psnr: the difference array stays a few MB at any image size.
_PSNR_CHUNK = 1 << 18


def quantized_psnr(pixels: np.ndarray, codebook: np.ndarray, labels: np.ndarray) -> float:
    """PSNR in dB of ``codebook[labels]`` against ``pixels`` (N, C), over all channels;
    ``inf`` when they are equal. Exact integer sums.

    With alpha, a fully transparent pixel equals any other: the colour it hides shows
    nowhere, and the quantizer keeps none of it (every one becomes (0, 0, 0, 0)). Counted,
    it would make a sprite that hides colours never reach a lossless ``target_psnr``.
    """
    wide = codebook.astype(np.int32)
    total = 0
    for start in range(0, len(pixels), _PSNR_CHUNK):
        part = slice(start, start + _PSNR_CHUNK)
        decoded = wide[labels[part]]
        error = pixels[part].astype(np.int32) - decoded
        if pixels.shape[1] == 4:
            error[(pixels[part, 3] == 0) & (decoded[:, 3] == 0)] = 0
        total += int((error * error).sum(dtype=np.int64))
    if total == 0:
        return math.inf
    return 10 * math.log10(255.0**2 * pixels.size / total)


def psnr(image: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of one shape, over all channels; ``inf`` if equal."""
    flat = image.reshape(-1, image.shape[-1] if image.ndim == 3 else 1)
    same = decoded.reshape(flat.shape)
    total = 0
    for start in range(0, len(flat), _PSNR_CHUNK):
        part = slice(start, start + _PSNR_CHUNK)
        error = flat[part].astype(np.int32) - same[part]
        total += int((error * error).sum(dtype=np.int64))
    if total == 0:
        return math.inf
    return 10 * math.log10(255.0**2 * flat.size / total)


def paint(
    width: int, height: int, block: tuple[int, int], codebook: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """The (H, W, C) image of a block file's (K, bw*bh*C) codebook and its labels (spec
    §4.4); FormatError for a label outside the codebook."""
    channels = codebook.shape[1] // (block[0] * block[1])
    out = np.empty((height, width, channels), np.uint8)
    status = _core.paint(
        np.ascontiguousarray(labels, np.uint16),
        width,
        height,
        block[0],
        block[1],
        np.ascontiguousarray(codebook),
        channels,
        out,
    )
    if status:
        raise FormatError("payload", f"a label is outside the codebook ({len(codebook)} entries)")
    return out


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_pixels: int | None = None,
    codebook: Codebook | None = None,
    region: tuple[int, int, int, int] | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Decode .vq bytes to a uint8 array: (H, W) for gray, (H, W, C) for colour.

    Raises :class:`vqcodec.FormatError` for anything that breaks the spec; its ``field``
    names the field or section at fault. ``max_pixels`` as for :func:`encode`.
    ``codebook``: the shared codebook a file made with one names (spec §12); a missing or
    different one is a FormatError naming the SHA-256 the file wants. ``region`` (x, y,
    width, height) returns only that part of the image: in a tiled file (spec §13), from the
    tiles it touches alone. ``threads``: for tiled files, as for :func:`encode`.

    >>> image = vqcodec.decode(open("photo.vq", "rb").read())
    >>> image.shape, image.dtype
    ((512, 512, 3), dtype('uint8'))
    """
    if region is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    threads = check_threads(threads)
    box = None if region is None else check_region(region, _io.byte_view(data), max_pixels)
    header, entries, payload, section = _checked(data, max_pixels, codebook)
    if header.tiled:
        fetch = lambda offset, size: payload[offset : offset + size]  # noqa: E731
        return _shaped(header, _tiled_pixels(fetch, header, section, entries, box, threads))
    if box is not None:
        labels = CODINGS[header.label_coding].decode(payload, header)
        grid = labels.reshape(header.rows, header.columns)
        return _shaped(header, _pixels_of(header, entries, grid, (0, 0), box))
    if header.block != (1, 1):
        labels = CODINGS[header.label_coding].decode(payload, header)
        pixels = paint(header.width, header.height, header.block, entries, labels)
    else:
        pixels = CODINGS[header.label_coding].decode(payload, header, entries)
    return _shaped(header, pixels.reshape(header.height, header.width, header.channels))


def _shaped(header: container.Header, pixels: np.ndarray) -> np.ndarray:
    """(H, W) for gray, as decode returns it; (H, W, C) otherwise."""
    return pixels[..., 0] if header.channels == 1 else pixels


def check_region(
    region: object,
    data: memoryview | None = None,
    max_pixels: int | None = None,
    header: container.Header | None = None,
) -> tuple[int, int, int, int]:
    """``region`` as (x, y, width, height) inside the image: ValueError otherwise."""
    if not isinstance(region, (tuple, list)) or len(region) != 4:
        raise TypeError(f"region must be (x, y, width, height), not {region!r}")
    x, y, width, height = (_check_int("region", value) for value in region)
    if header is None and data is not None:
        header = container.parse_header(data.cast("B"), max_pixels)
    if x < 0 or y < 0 or width < 1 or height < 1:
        raise ValueError(f"region {x},{y},{width},{height}: x, y >= 0 and width, height >= 1")
    if header is not None and (x + width > header.width or y + height > header.height):
        raise ValueError(
            f"region {x},{y},{width},{height} is not inside the {header.width}x"
            f"{header.height} image"
        )
    return x, y, width, height


def _tiled_pixels(
    fetch: Callable[[int, int], bytes | memoryview],
    header: container.Header,
    section: bytes | memoryview,
    entries: np.ndarray,
    box: tuple[int, int, int, int] | None,
    threads: int | None,
) -> np.ndarray:
    """The (h, w, C) pixels of ``box`` (default: the whole image) of a tiled file, each tile
    decoded, turned into pixels and copied into place on the thread pool (spec §13)."""
    x, y, w, h = box if box is not None else (0, 0, header.width, header.height)
    index = tiles.read_index(fetch(0, header.index_bytes), header, section)
    out = np.empty((h, w, header.channels), np.uint8)
    bw, bh = header.block

    def one(number: int) -> None:
        offset, size, crc = index[number]
        labels = tiles.decode_tile(header, number, fetch(offset, size), crc)
        column, row, _, _ = header.tile_box(number)
        pixels = _pixels_of(header, entries, labels, (column, row), None)
        left, top = column * bw, row * bh  # the tile's pixels, cut to the box
        x0, y0 = max(x, left), max(y, top)
        x1, y1 = min(x + w, left + pixels.shape[1]), min(y + h, top + pixels.shape[0])
        out[y0 - y : y1 - y, x0 - x : x1 - x] = pixels[y0 - top : y1 - top, x0 - left : x1 - left]

    parallel_map(one, tiles.touched(header, (x, y, w, h)), threads)
    return out


def _packed_pixels(
    fetch: Callable[[int, int], bytes | memoryview],
    header: container.Header,
    entries: np.ndarray,
    box: tuple[int, int, int, int],
) -> np.ndarray:
    """The (h, w, C) pixels of ``box`` from an untiled packed payload (spec §4.1): labels sit
    at fixed bit offsets, so each label row the box touches is read from the first label it
    needs to the last, and nothing else."""
    x, y, w, h = box
    bw, bh = header.block
    first_column, end_column = x // bw, -(-(x + w) // bw)
    first_row, end_row = y // bh, -(-(y + h) // bh)
    count, bits = end_column - first_column, header.bits
    starts = (np.arange(first_row, end_row, dtype=np.int64) * header.columns + first_column) * bits
    offsets = starts // 8
    sizes = (starts + count * bits + 7) // 8 - offsets
    # Each row's bytes, then shifted so that its first label starts at bit 7 of byte 0.
    # Rows are unpacked as one stream of `whole` labels a row (a multiple of 8, so a row is
    # whole bytes), the labels past `count` being whatever the zero padding holds.
    whole = -(-count // 8) * 8
    spans = np.zeros((len(starts), whole * bits // 8 + 1), np.uint16)
    for row, (offset, size) in enumerate(zip(offsets.tolist(), sizes.tolist(), strict=True)):
        spans[row, :size] = np.frombuffer(fetch(offset, size), np.uint8)
    shift = (starts % 8)[:, None].astype(np.uint16)
    stream = ((spans[:, :-1] << shift) | (spans[:, 1:] >> (8 - shift))).astype(np.uint8)
    wide = bits > container.MAX_BITS  # labels of blocks, up to 16 bits
    labels = np.empty(len(starts) * whole, np.uint16 if wide else np.uint8)
    (_core.unpack_wide if wide else _core.unpack)(stream.ravel(), bits, labels)
    grid = labels.reshape(len(starts), whole)[:, :count]
    return _pixels_of(header, entries, grid, (first_column, first_row), box)  # checks labels


def _pixels_of(
    header: container.Header,
    entries: np.ndarray,
    grid: np.ndarray,
    origin: tuple[int, int],
    box: tuple[int, int, int, int] | None,
) -> np.ndarray:
    """The (h, w, C) pixels of ``box`` (default: the whole image) from a label ``grid``
    whose top-left label is at ``origin`` in the file's label grid."""
    bw, bh = header.block
    left, top = origin[0] * bw, origin[1] * bh
    width = min(grid.shape[1] * bw, header.width - left)
    height = min(grid.shape[0] * bh, header.height - top)
    if header.block == (1, 1):
        out = np.empty((height, width, header.channels), np.uint8)
        status = _core.gather(np.ascontiguousarray(grid, np.uint8), entries, header.channels, out)
        if status:
            raise FormatError(
                "payload", f"a label is outside the codebook ({header.codebook_entries} entries)"
            )
    else:
        out = paint(width, height, header.block, entries, grid)
    if box is None:
        return out
    x, y, w, h = box
    return np.ascontiguousarray(out[y - top : y - top + h, x - left : x - left + w])


def decode_parts(
    data: bytes | bytearray | memoryview,
    *,
    max_pixels: int | None = None,
    codebook: Codebook | None = None,
) -> tuple[container.Header, np.ndarray, np.ndarray]:
    """The header, the (K, bw*bh*C) codebook and the labels (one a block, row-major; uint16
    when wider than 8 bits) of .vq bytes, all checked."""
    header, entries, payload, section = _checked(data, max_pixels, codebook)
    if header.tiled:
        fetch = lambda offset, size: payload[offset : offset + size]  # noqa: E731
        grid, _ = tiles.decode(fetch, header, section)
        return header, entries, grid.reshape(-1)
    return header, entries, CODINGS[header.label_coding].decode(payload, header)


def _checked(
    data: bytes | bytearray | memoryview, max_pixels: int | None, book: Codebook | None = None
) -> tuple[container.Header, np.ndarray, memoryview, memoryview]:
    """Container checks (spec §6, 1-7): the header, the (K, entry) codebook entries, the
    payload, and the codebook section as stored (entries, or an external book's hash)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    parsed = container.parse(_io.byte_view(data), max_pixels)
    return (
        parsed.header,
        _entries(parsed.header, parsed.codebook, book),
        parsed.payload,
        parsed.codebook,
    )


def _entries(header: container.Header, section: memoryview, book: Codebook | None) -> np.ndarray:
    if book is not None and not isinstance(book, Codebook):
        raise TypeError(f"codebook must be a vqcodec.Codebook, not {type(book).__name__}")
    if header.external:
        return _shared_entries(header, bytes(section), book)
    return np.frombuffer(section, np.uint8).reshape(-1, header.entry_bytes)


def _shared_entries(header: container.Header, wanted: bytes, book: Codebook | None) -> np.ndarray:
    """The entries of the shared codebook a file names (spec §12), after checking that
    ``book`` is that codebook and fits the file."""
    name = f"sha256 {wanted.hex()}"
    if book is None:
        raise FormatError(
            "codebook",
            f"the file's codebook is kept in a codebook file ({name}): give it (codebook=, "
            "or --codebook), or put it beside the file",
        )
    if book.digest != wanted:
        raise FormatError(
            "codebook",
            f"the file names codebook {name}, and the one given is sha256 {book.digest.hex()}",
        )
    facts = (header.channels, header.block, header.bits, header.codebook_entries)
    if facts != (book.channels, book.block, book.bits, len(book.vectors)):
        raise FormatError(
            "codebook",
            f"codebook {name} holds {len(book.vectors)} entries of {book.block[0]}x"
            f"{book.block[1]} blocks of {book.channels} channel(s) at {book.bits} bits, and "
            "the file's header says otherwise",
        )
    return book.vectors


def read(
    source: _io.Source,
    *,
    max_pixels: int | None = None,
    codebook: Codebook | None = None,
    region: tuple[int, int, int, int] | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Read and decode a .vq file: a path, a binary file object (read from where it
    stands, left open) or the file's bytes. ``max_pixels`` as for :func:`encode`;
    ``codebook``, ``region`` and ``threads`` as for :func:`decode`.

    Reads the header first, then exactly the size it announces (spec §6): a file that ends
    early or runs on is a :class:`vqcodec.FormatError`, whatever the stream's length. A
    ``region`` of a tiled file at a path reads only the header, the codebook, the tile index
    and the tiles the region touches, and checks those (spec §13: their CRCs and the
    file's length), not the rest of the file; of an untiled packed file, the header, the
    codebook and the bytes of the labels it needs (checked: the header CRC, the file's
    length and those labels, not the codebook: only the whole file's CRC covers it).

    >>> image = vqcodec.read("photo.vq")
    >>> corner = vqcodec.read("big.vq", region=(0, 0, 256, 256))
    """
    threads = check_threads(threads)
    if region is not None:
        with _io.region_reader(source, max_pixels) as reader:
            if reader is not None:
                header, section, fetch = reader
                box = check_region(region, header=header)
                if header.external and codebook is None:
                    codebook = beside(source, section)  # type: ignore[arg-type]
                entries = _entries(header, memoryview(section), codebook)
                if header.tiled:
                    pixels = _tiled_pixels(fetch, header, section, entries, box, threads)
                else:
                    pixels = _packed_pixels(fetch, header, entries, box)
                return _shaped(header, pixels)
    data = _io.read_container(source, max_pixels)
    book = codebook or find_codebook(data, source)
    return decode(data, max_pixels=max_pixels, codebook=book, region=region, threads=threads)


def find_codebook(data: bytes | memoryview, source: object) -> Codebook | None:
    """For a file that names a shared codebook (spec §12) read from a path or a URL: the
    codebook file beside it with that SHA-256, or None."""
    header = container.parse_header(memoryview(data).cast("B"), max_pixels=0)
    if not header.external or not _io.is_path(source):
        return None
    from . import _urls  # imported when first needed: a shared codebook is rare

    look = _urls.beside if _urls.is_url(source) else beside
    start = container.HEADER_BYTES
    return look(source, bytes(memoryview(data)[start : start + container.DIGEST_BYTES]))  # type: ignore[arg-type]


def write(
    destination: _io.Destination, image: ImageLike, bits: int | None = None, **options: Any
) -> None:
    """Encode ``image`` (options as for :func:`encode`) and write it to ``destination``.

    A path is written atomically: a temp file, then a rename, so a reader sees the old file
    or the whole new one; a symlink's target is replaced (the link kept), and a character
    device or FIFO is written through. A binary file object is written and left open.

    >>> vqcodec.write("photo.vq", np.asarray(PIL.Image.open("photo.png")), bits=6)
    """
    _io.check_destination(destination)
    data = encode(image, bits, **options)
    if _io.is_path(destination):
        write_bytes(destination, data)  # type: ignore[arg-type]
    else:
        _io.write_file(destination, data)  # type: ignore[arg-type]


def info(source: _io.Source, *, max_pixels: int | None = None) -> dict[str, Any]:
    """Header fields and section sizes of a .vq file, after checking its structure and CRCs.

    ``source`` as for :func:`read`, read the same bounded way. The keys are those of
    ``vqcodec info --json``; labels are not decoded.

    >>> vqcodec.info("photo.vq")["payload_bytes"]
    98304
    """
    data = _io.read_container(source, max_pixels)
    parsed = container.parse(data, max_pixels)
    check_structure(parsed)
    fields = header_fields(parsed.header)
    if parsed.header.external:  # the codebook file it needs (spec §12)
        fields["codebook_sha256"] = bytes(parsed.codebook).hex()
    return fields


def check_structure(parsed: container.Container) -> None:
    """What a file's structure holds beyond the container's checks: a tiled file's index
    (its CRC, the codebook's, every tile's size) and every tile's CRC (spec §13). Labels
    are not decoded."""
    if parsed.header.tiled:
        index = tiles.read_index(
            parsed.payload[: parsed.header.index_bytes], parsed.header, parsed.codebook
        )
        for number in range(len(index)):
            offset, size, crc = index[number]
            if zlib.crc32(parsed.payload[offset : offset + size]) != crc:
                raise FormatError("payload", f"tile {number}: checksum mismatch (corrupt file)")


def header_fields(header: container.Header) -> dict[str, Any]:
    """The fields ``info`` reports, from an already checked header."""
    return {
        "format": "vq",
        "version": container.VERSION,
        "width": header.width,
        "height": header.height,
        "channels": header.channels,
        "bits": header.bits,
        "codebook_entries": header.codebook_entries,
        "coding": header.coding,
        "block_width": header.block_width,
        "block_height": header.block_height,
        "flags": header.flags,
        "codebook": "external" if header.external else "in the file",
        "tile": header.tile if header.tiled else 0,
        "header_bytes": container.HEADER_BYTES,
        "codebook_bytes": header.codebook_bytes,
        "payload_bytes": header.payload_bytes,
        "trailer_bytes": container.TRAILER_BYTES,
        "file_bytes": header.file_bytes,
        "bits_per_pixel": header.file_bytes * 8 / header.pixels,
    }


def _check_int(name: str, value: object) -> int:
    """``value`` as a Python int (numpy integers included); bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def decoded_psnr(
    pixels: np.ndarray, header: container.Header, codebook: np.ndarray, labels: np.ndarray
) -> float:
    """PSNR of a file's decoded parts (``decode_parts``) against the (H, W, C) ``pixels``."""
    if header.block == (1, 1):
        return quantized_psnr(pixels.reshape(-1, header.channels), codebook, labels)
    return psnr(pixels, paint(header.width, header.height, header.block, codebook, labels))


def save_parts(
    destination: _io.Destination,
    header: container.Header,
    codebook: np.ndarray,
    labels: np.ndarray,
    **options: Any,
) -> None:
    """Write a file's decoded parts (``decode_parts``) as an image file: a palette image
    (``save_decoded``) for pixel files, the painted pixels (``save_pixels``) for block files.
    ``options`` as for those (format, quality, overwrite)."""
    if header.block == (1, 1):
        labels = labels.reshape(header.height, header.width)
        save_decoded(destination, codebook, labels, **options)
    else:
        pixels = paint(header.width, header.height, header.block, codebook, labels)
        save_pixels(destination, pixels, **options)
