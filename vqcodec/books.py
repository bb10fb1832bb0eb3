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
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
    (arrays, PIL images, paths or fsspec URLs; all gray, all RGB or all RGBA).

    Each image gives the same share of a training sample of 64 block vectors a codeword
    (all of its blocks when it has fewer), so a large image does not drown the small ones;
    LBG runs on that sample (``vqcodec.blocks``). The same images and options give the same
    bytes. ``on_image(i)`` is called before the i-th image is read (so that a caller knows
    which one an error is about).
    """
    block, bits = check_block_options(block, bits)
    sources = list(images)
    return train_with(Here(block, max_pixels), sources, bits, block, seed=seed, on_image=on_image)


def check_block_options(block: tuple[int, int], bits: int) -> tuple[tuple[int, int], int]:
    """``block`` and ``bits`` checked as ``train`` takes them (before any image is read)."""
    from .codec import _check_int, check_block  # the checks encode makes of the same options

    block = check_block(block)
    bits = _check_int("bits", bits)
    most = container.max_bits(block)
    if not container.MIN_BITS <= bits <= most:
        raise ValueError(
            f"bits must be {container.MIN_BITS}..{most} with {block[0]}x{block[1]} "
            f"blocks, not {bits}"
        )
    return block, bits


class Loader(Protocol):
    """Where ``train_with`` has each image's block vectors made and sampled: in this process
    (``Here``), or on worker processes or a Dask cluster (``vqcodec.batch``). ``load`` starts
    the work on one image and returns a handle; ``shape`` waits for it and says (vectors,
    values a vector); ``take`` keeps the rows ``chosen`` of the vectors; ``gather`` brings
    the samples here. Up to ``ahead`` images are loaded before the one being sampled."""

    ahead: int

    def load(self, source: ImageLike | PathLike) -> Any: ...

    def shape(self, handle: Any) -> tuple[int, int]: ...

    def take(self, handle: Any, chosen: np.ndarray) -> Any: ...

    def gather(self, handles: list[Any]) -> list[np.ndarray]: ...


class Here:
    """A ``Loader`` doing the work in this process, one image at a time."""

    ahead = 1

    def __init__(self, block: tuple[int, int], max_pixels: int | None) -> None:
        self.block, self.max_pixels = block, max_pixels

    def load(self, source: ImageLike | PathLike) -> np.ndarray:
        return image_vectors(source, self.block, self.max_pixels)

    def shape(self, handle: np.ndarray) -> tuple[int, int]:
        return vectors_shape(handle)

    def take(self, handle: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        return take(handle, chosen)

    def gather(self, handles: list[np.ndarray]) -> list[np.ndarray]:
        return handles


def train_with(
    loader: Loader,
    sources: list[Any],
    bits: int,
    block: tuple[int, int],
    *,
    seed: int = 0,
    on_image: Callable[[int], None] | None = None,
) -> Codebook:
    """``train``, each image's work done by ``loader``: the same sample, drawn here in the
    images' order from one generator, so the same bytes wherever the images are read."""
    block, bits = check_block_options(block, bits)
    if not sources:
        raise ValueError("train needs at least one image")
    k = min(1 << bits, container.MAX_ENTRIES)
    share = math.ceil(blocks.SAMPLE_PER_CODEWORD * k / len(sources))
    rng = np.random.default_rng(seed)
    ahead: deque[Any] = deque()
    waiting = iter(sources)
    parts, channels = [], None
    for index, source in enumerate(sources):
        if on_image is not None:
            on_image(index)
        while len(ahead) < loader.ahead and (following := next(waiting, None)) is not None:
            ahead.append(loader.load(following))
        handle = ahead.popleft()
        count, width = loader.shape(handle)
        kind = width // (block[0] * block[1])
        if channels is None:
            channels = kind
        elif kind != channels:
            name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"image {index}"
            raise ValueError(
                f"{name}: {kind} channel(s), the images before it {channels}: "
                "train a codebook on images of one kind (gray, RGB or RGBA)"
            )
        chosen = draw(rng, count, share)
        parts.append(handle if chosen is None else loader.take(handle, chosen))
    sample = np.concatenate(loader.gather(parts))
    distinct = np.unique(sample, axis=0)
    vectors = distinct if len(distinct) <= k else blocks.train(sample, k, seed)
    assert channels is not None
    return Codebook.build(vectors, channels, block, bits)


def image_vectors(
    source: ImageLike | PathLike, block: tuple[int, int], max_pixels: int | None = None
) -> np.ndarray:
    """The block vectors of one training image: an array, a PIL image, a path or a URL."""
    from . import _urls

    if _urls.is_url(source):
        image, _ = _urls.read_image(source, max_pixels)  # type: ignore[arg-type]
        pixels = to_array(image, max_pixels)
        del image
    elif isinstance(source, (str, os.PathLike)):
        image = open_image(source, max_pixels)
        pixels = to_array(image, max_pixels)
        del image
    else:
        pixels = to_array(source, max_pixels)
    return blocks.to_vectors(pixels, block)


def vectors_shape(vectors: np.ndarray) -> tuple[int, int]:
    return vectors.shape[0], vectors.shape[1]


def draw(rng: np.random.Generator, count: int, share: int) -> np.ndarray | None:
    """The rows of an image's ``count`` vectors that go into the sample, ascending; None
    for all of them (it has no more than its ``share``)."""
    if count <= share:
        return None
    return np.sort(rng.choice(count, share, replace=False))


def take(vectors: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    return vectors[chosen]


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
