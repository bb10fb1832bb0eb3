"""Shared codebooks: one codebook of block vectors trained on many images, kept in a .vqb
file (spec §12) that .vq files name by its SHA-256 instead of carrying it.

A per-image codebook of 4096 codewords of 4x4 colour blocks is 196 KB, more than the labels
of a photo; shared, it is paid once for a whole collection.

>>> book = vqcodec.train(["a.png", "b.png"], bits=12, block=(4, 4))
>>> book.save("photos.vqb")
>>> data = vqcodec.encode(image, codebook=book)          # names the book, does not hold it
>>> vqcodec.decode(data, codebook=vqcodec.Codebook.load("photos.vqb"))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import blocks, container
from ._atomic import write_bytes
from .errors import FormatError
from .images import ImageLike, open_image, to_array

PathLike = str | os.PathLike[str]

# Codebook files larger than this are not opened while looking beside a .vq file: the
# largest valid one (65535 entries of 8x8 RGBA blocks) is 16.8 MB.
_LARGEST_BOOK = container.BOOK_HEADER_BYTES + 65535 * 256 + container.TRAILER_BYTES


@dataclass(frozen=True, eq=False)
class Codebook:
    """A checked codebook file: its bytes, its fields and its (K, bw*bh*C) uint8 entries."""

    data: bytes
    header: container.BookHeader = field(init=False)
    vectors: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        header, entries = container.parse_book(self.data)
        vectors = np.frombuffer(entries, np.uint8).reshape(-1, header.entry_bytes)
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "vectors", vectors)

    @classmethod
    def build(
        cls, vectors: np.ndarray, channels: int, block: tuple[int, int], bits: int
    ) -> Codebook:
        header = container.BookHeader(channels, block[0], block[1], bits, len(vectors))
        return cls(container.build_book(header, np.ascontiguousarray(vectors).tobytes()))

    @classmethod
    def load(cls, path: PathLike) -> Codebook:
        """Read and check a .vqb file."""
        with open(path, "rb") as stream:
            # Bounded: a device or a FIFO reports no size, and /dev/zero never ends.
            data = stream.read(_LARGEST_BOOK + 1)
        if len(data) > _LARGEST_BOOK:
            raise FormatError("file", "more bytes than any codebook file holds")
        return cls(data)

    def save(self, path: PathLike, *, overwrite: bool = True) -> None:
        """Write the .vqb file atomically (as ``vqcodec.write`` writes)."""
        options = {} if overwrite else {"overwrite": False}
        write_bytes(path, self.data, **options)

    @property
    def digest(self) -> bytes:
        """The SHA-256 of the file's bytes: how .vq files name this codebook."""
        return container.digest(self.data)

    @property
    def block(self) -> tuple[int, int]:
        return self.header.block

    @property
    def bits(self) -> int:
        return self.header.bits

    @property
    def channels(self) -> int:
        return self.header.channels


def train(
    images: Iterable[ImageLike | PathLike],
    bits: int,
    block: tuple[int, int],
    *,
    seed: int = 0,
    max_pixels: int | None = None,
    on_image: Callable[[int], None] | None = None,
) -> Codebook:
    """Train one codebook of at most ``2**bits`` codewords of ``block`` pixels on ``images``
    (arrays, PIL images or paths; all gray, all RGB or all RGBA).

    Each image gives the same share of a training sample of 64 block vectors a codeword
    (all of its blocks when it has fewer), so a large image does not drown the small ones;
    LBG runs on that sample (``vqcodec.blocks``). The same images and options give the same
    bytes. ``on_image(i)`` is called before the i-th image is read (so that a caller knows
    which one an error is about).
    """
    from .codec import _check_int, check_block  # the checks encode makes of the same options

    block = check_block(block)
    bits = _check_int("bits", bits)
    most = container.max_bits(block)
    if not container.MIN_BITS <= bits <= most:
        raise ValueError(
            f"bits must be {container.MIN_BITS}..{most} with {block[0]}x{block[1]} "
            f"blocks, not {bits}"
        )
    sources = list(images)
    if not sources:
        raise ValueError("train needs at least one image")
    k = min(1 << bits, container.MAX_ENTRIES)
    share = math.ceil(blocks.SAMPLE_PER_CODEWORD * k / len(sources))
    rng = np.random.default_rng(seed)
    parts, channels = [], None
    for index, source in enumerate(sources):
        if on_image is not None:
            on_image(index)
        if isinstance(source, (str, os.PathLike)):
            image = open_image(source, max_pixels)
            pixels = to_array(image, max_pixels)
            del image
        else:
            pixels = to_array(source, max_pixels)
        if channels is None:
            channels = pixels.shape[2]
        elif pixels.shape[2] != channels:
            name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"image {index}"
            raise ValueError(
                f"{name}: {pixels.shape[2]} channel(s), the images before it {channels}: "
                "train a codebook on images of one kind (gray, RGB or RGBA)"
            )
        vectors = blocks.to_vectors(pixels, block)
        if len(vectors) > share:
            vectors = vectors[np.sort(rng.choice(len(vectors), share, replace=False))]
        parts.append(vectors)
    sample = np.concatenate(parts)
    distinct = np.unique(sample, axis=0)
    vectors = distinct if len(distinct) <= k else blocks.train(sample, k, seed)
    assert channels is not None
    return Codebook.build(vectors, channels, block, bits)


def beside(path: PathLike, digest: bytes) -> Codebook | None:
    """The codebook file in ``path``'s folder whose SHA-256 is ``digest``, if there is one
    (files ending in .vqb, in name order)."""
    folder = Path(path).parent
    for candidate in sorted(folder.glob("*.vqb")):
        try:
            if candidate.stat().st_size > _LARGEST_BOOK or not candidate.is_file():
                continue
            data = candidate.read_bytes()
        except OSError:
            continue
        if container.digest(data) == digest:
            return Codebook(data)
    return None
