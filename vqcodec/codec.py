"""The public API.

image -> quantizer -> labels + codebook -> label coding (packed or entropy) -> container
bytes, and back.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import bitpack, container, entropy
from ._atomic import write_bytes
from .errors import FormatError
from .images import ImageLike, to_array
from .quantize import quantize

PathLike = str | os.PathLike[str]


def encode(image: ImageLike, bits: int = 4, *, coding: str = "packed", seed: int = 0) -> bytes:
    """Quantize ``image`` to at most ``2**bits`` colours and return the .vq file's bytes.

    ``image`` is a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), or a PIL image.
    ``coding="packed"`` stores every label in exactly ``bits`` bits (a predictable size);
    ``coding="entropy"`` codes them with a context model, typically 2-5x smaller, and falls
    back to packed for an image where that would not be smaller. Both decode to the same
    array. The same image and options give the same bytes (for colour: on the same platform).

    >>> data = vqcodec.encode(np.zeros((2, 3), np.uint8), bits=2)
    >>> vqcodec.decode(data).shape
    (2, 3)
    """
    _check_int("bits", bits)
    if not container.MIN_BITS <= bits <= container.MAX_BITS:
        raise ValueError(f"bits must be {container.MIN_BITS}..{container.MAX_BITS}, not {bits}")
    _check_int("seed", seed)
    if coding not in container.IMPLEMENTED_CODINGS:
        raise ValueError(
            f"coding must be one of {sorted(container.IMPLEMENTED_CODINGS)}, not {coding!r}"
        )
    pixels = to_array(image)
    height, width, channels = pixels.shape
    codebook, labels = quantize(pixels.reshape(-1, channels), 1 << bits, seed)
    payload = bitpack.pack(labels, bits)
    label_coding = container.IMPLEMENTED_CODINGS["packed"]
    if coding == "entropy":
        coded = entropy.encode_labels(labels, width, height, bits, limit=len(payload) - 1)
        if coded is not None and len(coded) >= container.MIN_ENTROPY_PAYLOAD:
            payload, label_coding = coded, container.IMPLEMENTED_CODINGS["entropy"]
    header = container.Header(
        width=width,
        height=height,
        channels=channels,
        bits=bits,
        codebook_entries=len(codebook),
        payload_bytes=len(payload),
        label_coding=label_coding,
    )
    return container.build(header, codebook.tobytes(), payload)


def decode(data: bytes) -> np.ndarray:
    """Decode .vq bytes to a uint8 array: (H, W) for gray, (H, W, C) for colour.

    Raises :class:`vqcodec.FormatError` for anything that breaks the spec.

    >>> image = vqcodec.decode(open("photo.vq", "rb").read())
    >>> image.shape, image.dtype
    ((512, 512, 3), dtype('uint8'))
    """
    header, codebook, payload = _checked(data)
    if header.coding == "entropy":
        labels = _entropy_labels(header, payload)
        pixels = bitpack.lookup(labels, codebook)
    else:
        pixels, largest = bitpack.expand(payload, header.pixels, header.bits, codebook)
        _check_largest_label(largest, header)
    if header.channels == 1:
        return pixels.reshape(header.height, header.width)
    return pixels.reshape(header.height, header.width, header.channels)


def decode_parts(data: bytes) -> tuple[container.Header, np.ndarray, np.ndarray]:
    """The header, the (K, C) codebook and the (H*W,) labels of .vq bytes, all checked."""
    header, codebook, payload = _checked(data)
    if header.coding == "entropy":
        return header, codebook, _entropy_labels(header, payload)
    labels = bitpack.unpack(payload, header.pixels, header.bits)
    _check_largest_label(int(labels.max()), header)
    return header, codebook, labels


def _entropy_labels(header: container.Header, payload: memoryview) -> np.ndarray:
    labels = entropy.decode_labels(payload, header.width, header.height, header.bits)
    if header.codebook_entries < 1 << header.bits:
        _check_largest_label(int(labels.max()), header)
    return labels


def _checked(data: bytes) -> tuple[container.Header, np.ndarray, memoryview]:
    """Container checks (spec §6, 1-7) and padding (§4): header, (K, C) codebook, payload."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    parsed = container.parse(data)
    header = parsed.header
    if header.coding == "packed" and not bitpack.padding_is_zero(
        parsed.payload, header.pixels, header.bits
    ):
        raise FormatError("payload: padding bits after the last label must be zero")
    codebook = np.frombuffer(parsed.codebook, np.uint8).reshape(-1, header.channels)
    return header, codebook, parsed.payload


def _check_largest_label(largest: int, header: container.Header) -> None:
    if largest >= header.codebook_entries:
        raise FormatError(
            f"payload: label {largest} is outside the codebook ({header.codebook_entries} entries)"
        )


def read(path: PathLike) -> np.ndarray:
    """Read and decode a .vq file.

    >>> image = vqcodec.read("photo.vq")
    """
    with open(path, "rb") as handle:
        return decode(handle.read())


def write(path: PathLike, image: ImageLike, bits: int = 4, **options: Any) -> None:
    """Encode ``image`` and write it to ``path`` atomically (a temp file, then a rename).

    >>> vqcodec.write("photo.vq", np.asarray(PIL.Image.open("photo.png")), bits=6)
    """
    write_bytes(path, encode(image, bits, **options))


def info(data_or_path: bytes | PathLike) -> dict[str, Any]:
    """Header fields and section sizes of a .vq file, after checking its structure and CRCs.

    The keys are those of ``vqcodec info --json``; labels are not decoded.

    >>> vqcodec.info("photo.vq")["payload_bytes"]
    98304
    """
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        data = data_or_path
    else:
        with open(data_or_path, "rb") as handle:
            data = handle.read()
    return header_fields(container.parse(data).header)


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


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
