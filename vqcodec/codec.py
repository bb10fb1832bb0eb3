"""The public API.

image -> quantizer -> labels + codebook -> label coding (packed or entropy) -> container
bytes, and back.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from . import _io, container
from ._atomic import write_bytes
from .coding import CODINGS, packed
from .container import LabelCoding
from .images import ImageLike, to_array
from .quantize import check_dither, dither_labels, quantize

PathLike = str | os.PathLike[str]


def encode(
    image: ImageLike,
    bits: int = 4,
    *,
    coding: str = "entropy",
    seed: int = 0,
    max_pixels: int | None = None,
    dither: float = 0.0,
) -> bytes:
    """Quantize ``image`` to at most ``2**bits`` colours and return the .vq file's bytes.

    ``image`` is a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), or a PIL image.
    ``coding="entropy"`` (the default) codes the labels with a context model, typically
    2-5x smaller than packed, and falls back to packed for an image where that would not be
    smaller; ``coding="packed"`` stores every label in exactly ``bits`` bits (a size known
    in advance, spec §7). Both decode to the same
    array. The same image and options give the same bytes. ``max_pixels`` is the pixel
    limit (None: the reader's default, ``vqcodec.container.MAX_IMAGE_PIXELS``; 0: none), so
    that the encoder never writes a file the reader would refuse. ``dither`` (0..1, 0 off)
    maps pixels to the codebook by Floyd-Steinberg error diffusion at that strength: no
    banding on smooth gradients, at the price of noise (a lower PSNR, a larger file).

    >>> data = vqcodec.encode(np.zeros((2, 3), np.uint8), bits=2)
    >>> vqcodec.decode(data).shape
    (2, 3)
    """
    bits = _check_int("bits", bits)
    if not container.MIN_BITS <= bits <= container.MAX_BITS:
        raise ValueError(f"bits must be {container.MIN_BITS}..{container.MAX_BITS}, not {bits}")
    seed = _check_int("seed", seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    if coding not in container.CODING_NAMES:
        raise ValueError(f"coding must be one of {sorted(container.CODING_NAMES)}, not {coding!r}")
    dither = check_dither(dither)
    pixels = to_array(image, max_pixels)  # refused before its pixels are decoded
    height, width, channels = pixels.shape
    codebook, labels = quantize(pixels.reshape(-1, channels), 1 << bits, seed)
    if dither:
        labels = dither_labels(pixels, codebook, dither)
    header = container.Header(
        width=width,
        height=height,
        channels=channels,
        bits=bits,
        codebook_entries=len(codebook),
        payload_bytes=0,
    )
    wanted = container.CODING_NAMES[coding]
    payload = CODINGS[wanted].encode(labels, header) if wanted != LabelCoding.PACKED else None
    if payload is None:  # packed, asked for or as the fallback
        wanted, payload = LabelCoding.PACKED, packed.encode(labels, header)
    header = replace(header, payload_bytes=len(payload), label_coding=wanted)
    return container.build(header, codebook.tobytes(), payload)


def decode(data: bytes | bytearray | memoryview, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode .vq bytes to a uint8 array: (H, W) for gray, (H, W, C) for colour.

    Raises :class:`vqcodec.FormatError` for anything that breaks the spec; its ``field``
    names the field or section at fault. ``max_pixels`` as for :func:`encode`.

    >>> image = vqcodec.decode(open("photo.vq", "rb").read())
    >>> image.shape, image.dtype
    ((512, 512, 3), dtype('uint8'))
    """
    header, codebook, payload = _checked(data, max_pixels)
    pixels = CODINGS[header.label_coding].decode(payload, header, codebook)
    if header.channels == 1:
        return pixels.reshape(header.height, header.width)
    return pixels.reshape(header.height, header.width, header.channels)


def decode_parts(
    data: bytes | bytearray | memoryview, *, max_pixels: int | None = None
) -> tuple[container.Header, np.ndarray, np.ndarray]:
    """The header, the (K, C) codebook and the (H*W,) labels of .vq bytes, all checked."""
    header, codebook, payload = _checked(data, max_pixels)
    return header, codebook, CODINGS[header.label_coding].decode(payload, header)


def _checked(
    data: bytes | bytearray | memoryview, max_pixels: int | None
) -> tuple[container.Header, np.ndarray, memoryview]:
    """Container checks (spec §6, 1-7): the header, the (K, C) codebook and the payload."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    parsed = container.parse(_io.byte_view(data), max_pixels)
    header = parsed.header
    codebook = np.frombuffer(parsed.codebook, np.uint8).reshape(-1, header.channels)
    return header, codebook, parsed.payload


def read(source: _io.Source, *, max_pixels: int | None = None) -> np.ndarray:
    """Read and decode a .vq file: a path, a binary file object (read from where it
    stands, left open) or the file's bytes. ``max_pixels`` as for :func:`encode`.

    Reads the header first, then exactly the size it announces (spec §6): a file that ends
    early or runs on is a :class:`vqcodec.FormatError`, whatever the stream's length.

    >>> image = vqcodec.read("photo.vq")
    """
    return decode(_io.read_container(source, max_pixels), max_pixels=max_pixels)


def write(destination: _io.Destination, image: ImageLike, bits: int = 4, **options: Any) -> None:
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
    return header_fields(container.parse(data, max_pixels).header)


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
